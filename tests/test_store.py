"""store: migrations and every repository operation, on SQLite and on PostgreSQL."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, inspect, text

import monitor.store.engine as engine_module
from monitor.errors import StoreError
from monitor.models import Match, Span, Story
from monitor.store import Store, TargetRoute, create_engine_for, require_schema, upgrade_schema
from monitor.store.schema import metadata

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def _story(n: int, **changes: object) -> Story:
    fields: dict[str, object] = dict(
        feed="Herald",
        guid=f"g{n}",
        url=f"https://herald.example/{n}",
        title=f"Title {n}",
        summary="RELOS ratified",
        published=NOW - timedelta(minutes=n),
        fetched=NOW,
    )
    fields.update(changes)
    return Story(**fields)  # type: ignore[arg-type]


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    engine = create_engine_for(db_url)
    upgrade_schema(engine)
    s = Store(engine)
    s.sync_feeds([("Herald", "https://herald.example/rss"), ("Other", "https://other.example/rss")], NOW)
    yield s
    engine.dispose()


def _feed_id(store: Store, name: str = "Herald") -> int:
    return next(f.id for f in store.list_feeds() if f.name == name)


def test_migrations_create_the_schema_the_models_describe(db_url: str) -> None:
    """Upgrading an empty database gives exactly the tables and constraints of the models."""
    engine = create_engine_for(db_url)
    upgrade_schema(engine)
    upgrade_schema(engine)  # idempotent
    tables = set(inspect(engine).get_table_names())
    assert {"feeds", "stories", "hits", "outbox", "alembic_version"} <= tables
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    engine.dispose()
    assert diff == []


def _revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def test_workers_starting_together_on_a_new_postgresql_database_all_start(pg_url: str) -> None:
    """Several workers migrating one new database at once: each waits for the one migrating,
    then finds the schema made (without the lock, all but one failed creating the tables)."""
    engines = [create_engine_for(pg_url) for _ in range(4)]
    errors: list[BaseException] = []
    start = threading.Barrier(len(engines))

    def migrate(engine: Engine) -> None:
        start.wait()
        try:
            upgrade_schema(engine)
        except BaseException as exc:  # reported below, with the others'
            errors.append(exc)

    threads = [threading.Thread(target=migrate, args=(e,), daemon=True) for e in engines]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    try:
        assert not any(t.is_alive() for t in threads), "a worker is stuck migrating"
        assert errors == []
        require_schema(engines[0])  # at the newest revision
    finally:
        for e in engines:
            e.dispose()


def test_inspecting_a_new_database_creates_its_schema(db_url: str) -> None:
    """`monitor hits` before the daemon ever ran: the empty database gets its schema."""
    engine = create_engine_for(db_url)
    require_schema(engine)
    assert _revision(engine) == "0004"
    engine.dispose()


def test_downgrading_the_newest_migration_keeps_the_data(store: Store) -> None:
    """Going back one revision drops its columns, not the stories (on SQLite a table rebuild
    with foreign keys on would cascade the old feeds table's drop to every story)."""
    from alembic import command
    from monitor.store.engine import _alembic_config

    story = Story(feed="Herald", guid="g1", url="https://herald.example/1", title="RELOS", summary="s",
                  published=NOW, fetched=NOW)
    store.save_story(_feed_id(store), story, [], {}, alert=False)
    config = _alembic_config()
    with store.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0003")
    assert _revision(store.engine) == "0003"
    with store.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM stories")).scalar_one() == 1
        assert conn.execute(text("SELECT count(*) FROM feeds")).scalar_one() == 2


def test_inspecting_never_upgrades_a_schema_in_use(db_url: str) -> None:
    """A database at an older schema is not upgraded behind the back of the workers running on
    it: the error says what to run. A schema from a newer monitor is refused by everything."""
    engine = create_engine_for(db_url)
    upgrade_schema(engine, "0001")
    behind = r"revision 0001, this version of monitor needs 0004: run `monitor db upgrade`"
    with pytest.raises(StoreError, match=behind):
        require_schema(engine)
    assert _revision(engine) == "0001"
    upgrade_schema(engine)
    require_schema(engine)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0099'"))
    for check in (require_schema, upgrade_schema):
        with pytest.raises(StoreError, match="revision 0099, which this version of monitor does not know"):
            check(engine)
    engine.dispose()


def test_saving_returns_only_new_stories_and_enforces_uniqueness(store: Store) -> None:
    """The same GUID in a feed, or the same canonical URL anywhere, is stored once."""
    herald, other = _feed_id(store), _feed_id(store, "Other")
    assert store.save_story(herald, _story(1), [], {}, alert=True) is not None
    assert store.save_story(herald, _story(1), [], {}, alert=True) is None
    assert store.save_story(herald, _story(1, url="https://herald.example/moved"), [], {}, alert=True) is None
    assert store.save_story(other, _story(1, feed="Other", guid="x"), [], {}, alert=True) is None
    assert store.save_story(other, _story(2, feed="Other"), [], {}, alert=True) is not None
    assert [s.guid for s in store.unseen(herald, [_story(1), _story(3)]).fresh] == ["g3"]


def test_hits_and_outbox_are_written_with_the_story(store: Store) -> None:
    """A matching story gets its hit and one outbox row per routed target in one go."""
    match = Match("relos", ("RELOS",), (Span("summary", 0, 5, "RELOS"),))
    store.save_story(
        _feed_id(store),
        _story(1),
        [match],
        {"relos": (TargetRoute("email"), TargetRoute("slack"))},
        alert=True,
    )
    (record,) = store.list_hits()
    assert record.rules == ("relos",) and record.terms == ("RELOS",)
    assert record.story.published == NOW - timedelta(minutes=1)
    assert record.story.published.tzinfo is not None
    assert store.outbox_counts() == {"pending": 2}
    deliveries = store.claim_deliveries(NOW, timedelta(minutes=5))
    assert sorted(d.target for d in deliveries) == ["email", "slack"]
    assert deliveries[0].spans == (Span("summary", 0, 5, "RELOS"),)


def test_held_back_hits_are_stored_but_not_queued(store: Store) -> None:
    """alert=False (old story on a feed's first poll) keeps the hit and queues nothing."""
    store.save_story(
        _feed_id(store),
        _story(1),
        [Match("relos", ("RELOS",))],
        {"relos": (TargetRoute("email"),)},
        alert=False,
    )
    assert len(store.list_hits()) == 1
    assert store.outbox_counts() == {}


def test_claimed_deliveries_are_not_claimed_twice_and_sent_ones_never_again(store: Store) -> None:
    """A claim hides rows until the lease ends; sent rows never come back; failed ones retry."""
    feed = _feed_id(store)
    for n in (1, 2):
        store.save_story(
            feed, _story(n), [Match("relos", ("RELOS",))], {"relos": (TargetRoute("email"),)}, alert=True
        )
    first = store.claim_deliveries(NOW, timedelta(minutes=5))
    assert len(first) == 2
    assert store.claim_deliveries(NOW, timedelta(minutes=5)) == []
    store.mark_sent(first[:1], NOW)
    store.mark_failed(first[1:], NOW, "SMTP down", NOW + timedelta(minutes=1))
    assert store.claim_deliveries(NOW + timedelta(seconds=30), timedelta(minutes=5)) == []
    retry = store.claim_deliveries(NOW + timedelta(minutes=2), timedelta(minutes=5))
    assert [d.id for d in retry] == [first[1].id] and retry[0].attempts == 1
    store.mark_sent(first[:1], NOW)  # marking twice changes nothing
    assert store.outbox_counts() == {"sent": 1, "pending": 1}
    assert store.claim_deliveries(NOW + timedelta(minutes=3), timedelta(minutes=5), due_only=False) == [], (
        "an explicit run skips backoff but never takes a row under another process's live claim"
    )
    store.mark_failed(retry, NOW + timedelta(minutes=3), "SMTP down", NOW + timedelta(hours=1))
    forced = store.claim_deliveries(NOW + timedelta(minutes=4), timedelta(minutes=5), due_only=False)
    assert [d.id for d in forced] == [first[1].id], "an explicit run ignores the backoff"
    store.mark_sent(retry, NOW)  # a stale claim's outcome is not recorded over the new claim
    assert store.outbox_counts() == {"sent": 1, "pending": 1}


def test_due_feeds_are_claimed_once(store: Store) -> None:
    """A due feed is handed to one claimer; its due time moves by the lease."""
    claimed = store.claim_due_feeds(["Herald", "Other"], NOW, timedelta(minutes=10))
    assert sorted(f.name for f in claimed) == ["Herald", "Other"]
    assert store.claim_due_feeds(["Herald", "Other"], NOW, timedelta(minutes=10)) == []
    assert len(store.claim_due_feeds(["Herald"], NOW + timedelta(minutes=11), timedelta(minutes=10))) == 1


def test_a_feed_claimed_by_a_dead_worker_is_due_when_its_heartbeat_lapses(store: Store) -> None:
    """A worker killed mid-poll leaves its claim: the feed is free again once the worker's
    heartbeat lapses, not only when the ten-minute claim runs out; a live worker keeps it."""
    lease = timedelta(minutes=10)
    store.beat("a", NOW + timedelta(minutes=2), NOW)
    assert len(store.claim_due_feeds(["Herald"], NOW, lease, worker="a")) == 1
    store.beat("b", NOW + timedelta(minutes=5), NOW)
    store.beat("a", NOW + timedelta(minutes=3), NOW + timedelta(minutes=1))  # a is alive
    assert store.claim_due_feeds(["Herald"], NOW + timedelta(minutes=2), lease, worker="b") == []
    # a stops beating (SIGKILL): after its last heartbeat runs out, b takes the feed.
    reclaimed = store.claim_due_feeds(["Herald"], NOW + timedelta(minutes=4), lease, worker="b")
    assert [f.name for f in reclaimed] == ["Herald"]
    assert store.claim_due_feeds(["Herald"], NOW + timedelta(minutes=4), lease, worker="a") == [], (
        "b's claim holds while b beats"
    )
    store.record_poll(reclaimed[0].id, now=NOW, next_poll=NOW + timedelta(minutes=20), status="200")
    store.sign_off("b")  # a finished poll is no claim: b stopping frees nothing early
    assert store.claim_due_feeds(["Herald"], NOW + timedelta(minutes=5), lease, worker="a") == []
    with store.engine.connect() as conn:
        workers = conn.execute(text("SELECT name FROM leases WHERE name LIKE 'worker:%'")).scalars().all()
    assert workers == ["worker:a"], "a worker that signed off leaves no row behind"
    assert store.forget_workers(NOW + timedelta(minutes=4)) == 1, "a's heartbeat lapsed at +3 min"
    assert store.forget_workers(NOW + timedelta(days=2)) == 0


def test_a_poll_the_database_did_not_record_is_due_at_its_workers_next_tick(store: Store) -> None:
    """A poll failed and so did recording it (the database was away): the feed stays claimed
    by its live worker, which polls it again at its next tick, not ten minutes later; another
    live worker still leaves it alone."""
    lease = timedelta(minutes=10)
    store.beat("a", NOW + timedelta(minutes=2), NOW)
    store.beat("b", NOW + timedelta(minutes=2), NOW)
    assert len(store.claim_due_feeds(["Herald"], NOW, lease, worker="a")) == 1
    # ...the poll and its record_poll fail: nothing is written...
    later = NOW + timedelta(seconds=5)
    assert store.claim_due_feeds(["Herald"], later, lease, worker="b") == []
    assert [f.name for f in store.claim_due_feeds(["Herald"], later, lease, worker="a")] == ["Herald"]


def test_a_due_time_set_by_a_wrong_clock_does_not_park_a_feed(store: Store) -> None:
    """A machine that resumed a day ahead and was then put right: the next polls it set are
    a day away, further than any interval or backoff could put them. They are due now."""
    lease, horizon = timedelta(minutes=10), timedelta(hours=8)
    ahead = NOW + timedelta(days=1)
    assert len(store.claim_due_feeds(["Herald", "Other"], ahead, lease, horizon)) == 2
    assert store.claim_due_feeds(["Herald", "Other"], NOW, lease, horizon) != []  # clock put right
    assert store.claim_due_feeds(["Herald", "Other"], NOW, lease, horizon) == []  # now 10 min ahead: not due


def test_poll_outcomes_are_recorded(store: Store) -> None:
    """Failures count up with their message; a success resets them and keeps validators."""
    feed = _feed_id(store)
    store.record_poll(feed, now=NOW, next_poll=NOW, status="500", error="fetch: x: HTTP 500")
    store.record_poll(feed, now=NOW, next_poll=NOW, status="500", error="fetch: x: HTTP 500")
    state = next(f for f in store.list_feeds() if f.id == feed)
    assert (state.consecutive_errors, state.last_error, state.polls_ok) == (2, "fetch: x: HTTP 500", 0)
    store.record_poll(feed, now=NOW, next_poll=NOW, status="200", etag='"e"', last_modified="lm")
    state = next(f for f in store.list_feeds() if f.id == feed)
    assert (state.consecutive_errors, state.last_error, state.etag, state.polls_ok) == (0, None, '"e"', 1)


def test_changed_feed_url_resets_validators(store: Store) -> None:
    """Pointing a feed at a new URL forgets the old ETag so the new feed is fetched in full."""
    feed = _feed_id(store)
    store.record_poll(feed, now=NOW, next_poll=NOW + timedelta(hours=1), status="200", etag='"e"')
    store.sync_feeds([("Herald", "https://herald.example/new-rss")], NOW)
    state = next(f for f in store.list_feeds() if f.id == feed)
    assert (state.url, state.etag, state.next_poll_at) == ("https://herald.example/new-rss", None, NOW)


def test_an_edited_entry_updates_the_stored_story_and_is_not_new(store: Store) -> None:
    """A headline edited an hour later is the same story, not a new one. It is reported as
    edited until the edit is stored with what it newly matches, in one transaction: an edit
    whose storing failed is seen again at the next poll, never lost."""
    feed = _feed_id(store)
    story_id = store.save_story(feed, _story(1), [], {}, alert=True)
    assert story_id is not None
    edited = _story(1, title="Title 1 (updated: Duma vote confirmed)", fetched=NOW + timedelta(hours=1))
    seen = store.unseen(feed, [edited])
    assert seen.fresh == [] and [i for i, _ in seen.edited] == [story_id.id]
    assert store.unseen(feed, [edited]).edited, "not stored yet: still an edit"
    match = Match("relos", ("Duma",), (Span("title", 25, 29, "Duma"),))
    saved = store.apply_edit(story_id.id, edited, [match], {"relos": (TargetRoute("email"),)}, alert=True)
    assert saved.rules == ("relos",) and saved.queued == 1
    (record,) = [r for r in store.iter_stories()]
    assert record.title == "Title 1 (updated: Duma vote confirmed)"
    assert store.unseen(feed, [edited]).edited == []
    again = store.apply_edit(story_id.id, edited, [match], {"relos": (TargetRoute("email"),)}, alert=True)
    assert again.rules == () and store.outbox_counts() == {"pending": 1}


def test_two_concurrent_claimers_never_get_the_same_row(store: Store) -> None:
    """Threads claiming at once (as daemon and `run --once` would) split the rows, never share them."""
    import threading

    feed = _feed_id(store)
    for n in range(40):
        store.save_story(
            feed, _story(n), [Match("relos", ("RELOS",))], {"relos": (TargetRoute("email"),)}, alert=True
        )
    barrier = threading.Barrier(4)
    claimed: list[list[int]] = []

    def claim() -> None:
        barrier.wait()
        claimed.append(
            [d.id for d in store.claim_deliveries(NOW, timedelta(minutes=5), limit=25, due_only=False)]
        )

    threads = [threading.Thread(target=claim) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ids = [i for batch in claimed for i in batch]
    assert len(ids) == len(set(ids)), "a row was handed to two claimers"
    # Losers of a race come back empty-handed rather than sharing; the rest is claimable later.
    while more := store.claim_deliveries(NOW, timedelta(minutes=5), due_only=False):
        ids += [d.id for d in more]
    assert sorted(ids) == sorted(set(ids)) and len(ids) == 40


def test_prune_keeps_stories_their_feed_gave_no_date(store: Store) -> None:
    """An undated item's publication time is when it was first seen; a feed may carry it for
    years. Forgotten, it would be new again at the next poll and alerted twice: it is kept."""
    feed = _feed_id(store)
    year_ago = NOW - timedelta(days=400)
    dated = _story(1, published=year_ago - timedelta(hours=1), fetched=year_ago)
    store.save_story(feed, dated, [], {}, alert=True)
    store.save_story(feed, _story(2, published=year_ago, fetched=year_ago), [], {}, alert=True)  # undated
    assert store.prune(NOW - timedelta(days=365)) == 1
    assert [s.guid for s in store.iter_stories()] == ["g2"]


def test_a_postgresql_server_that_does_not_answer_is_given_up_on(monkeypatch: pytest.MonkeyPatch) -> None:
    """A server that takes the connection but never answers (a failover under way) must not
    hang the daemon: connecting gives up after the connect timeout, unless the URL sets one."""
    silent = socket.create_server(("127.0.0.1", 0))
    port = silent.getsockname()[1]
    monkeypatch.setattr(engine_module, "_CONNECT_TIMEOUT", 1)
    try:
        for url in (
            f"postgresql://postgres@127.0.0.1:{port}/test",
            f"postgresql://postgres@127.0.0.1:{port}/test?connect_timeout=2",
        ):
            errors: list[Exception] = []

            def ping(url: str = url, errors: list[Exception] = errors) -> None:
                try:
                    Store(create_engine_for(url)).ping()
                except Exception as exc:
                    errors.append(exc)

            attempt = threading.Thread(target=ping, daemon=True)  # a hang must not hang the tests
            attempt.start()
            attempt.join(6)
            assert not attempt.is_alive(), f"{url}: still connecting after 6 s"
            assert len(errors) == 1 and isinstance(errors[0], StoreError)
            assert "cannot connect" in str(errors[0])
    finally:
        silent.close()


def test_a_lost_cluster_lock_connection_does_not_fail_the_story_stored_under_it(pg_url: str) -> None:
    """PostgreSQL drops the connection holding the cluster lock while a worker stores its
    story on another: the story is stored and no error reaches the poll (the lock went with
    the connection); the lock can be taken again at once."""
    engine = create_engine_for(pg_url)
    upgrade_schema(engine)
    store = Store(engine)
    try:
        with store.cluster_lock():
            with psycopg.connect(pg_url, autocommit=True) as admin:
                dropped = admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND query LIKE '%pg_advisory_xact_lock%'"
                    " AND pid <> pg_backend_pid()"
                ).fetchall()
            assert dropped, "the lock's connection was not found"
            store.sync_feeds([("Herald", "https://herald.example/rss")], NOW)  # the work under the lock
        assert [f.name for f in store.list_feeds()] == ["Herald"]
        with store.cluster_lock():
            pass
    finally:
        engine.dispose()
