"""pipeline: one feed's poll end to end against a local server and a real store; its error
boundary, backoff and conditional GET."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy.exc import OperationalError

from monitor.fetch import FetchLimits, make_client
from monitor.match import compile_query
from monitor.pipeline import FeedPlan, PollContext, poll_feed, poll_feeds
from monitor.store import Store, TargetRoute, create_engine_for, upgrade_schema
from tests.faults import drop_connection_at
from tests.feeds import NOISE_ITEM, RELOS_ITEM, Item, rss
from tests.servers import HTTPServer, Route

LIMITS = FetchLimits(read_timeout=1, max_bytes=100_000)
PLAN = FeedPlan(interval=timedelta(minutes=15), max_age=timedelta(days=2))


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    engine = create_engine_for(db_url)
    upgrade_schema(engine)
    yield Store(engine)
    engine.dispose()


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with make_client(LIMITS) as c:
        yield c


def _ctx(store: Store, client: httpx.Client, feeds: dict[str, str]) -> PollContext:
    store.sync_feeds(feeds.items(), datetime.now(UTC))
    return PollContext(
        store,
        client,
        LIMITS,
        compile_query("RELOS", name="relos"),
        {"relos": (TargetRoute("email"),)},
        {name: PLAN for name in feeds},
        timedelta(hours=6),
    )


def _state(store: Store, name: str):  # type: ignore[no-untyped-def]
    return next(f for f in store.list_feeds() if f.name == name)


def test_new_matching_story_is_stored_with_hit_and_queued_once(
    store: Store, client: httpx.Client, http_server: HTTPServer
) -> None:
    """New stories are stored, the matching one gets a hit and an outbox row, and a re-poll adds nothing."""
    http_server.routes["/rss"] = Route(rss([RELOS_ITEM, NOISE_ITEM]))
    ctx = _ctx(store, client, {"Herald": http_server.url("/rss")})
    result = poll_feed(_state(store, "Herald"), ctx)
    assert (result.ok, result.new_stories, result.hits) == (True, 2, 1)
    assert store.outbox_counts() == {"pending": 1}
    again = poll_feed(_state(store, "Herald"), ctx)
    assert (again.new_stories, again.hits) == (0, 0)
    assert store.outbox_counts() == {"pending": 1}
    state = _state(store, "Herald")
    assert state.polls_ok == 2 and state.stories == 2 and state.last_status == "200"


_UNDATED = (
    b'<?xml version="1.0"?><rss version="2.0"><channel><title>Undated</title>'
    b"<item><title>RELOS: what the pact means</title><link>https://herald.example/explainer</link>"
    b"<guid>u-1</guid><description>An explainer of unknown age.</description></item>"
    b"</channel></rss>"
)


def test_undated_stories_are_not_alerted_on_a_feeds_first_poll(
    store: Store, client: httpx.Client, http_server: HTTPServer
) -> None:
    """A first poll alerts only what is dated within max_age: an undated entry may be years old
    (it used to be alerted). It is stored and matched; a later undated story is alerted."""
    http_server.routes["/rss"] = Route(_UNDATED)
    ctx = _ctx(store, client, {"Herald": http_server.url("/rss")})
    first = poll_feed(_state(store, "Herald"), ctx)
    assert (first.new_stories, first.hits) == (1, 1)
    assert store.outbox_counts() == {}
    later = _UNDATED.replace(b"<item>", b"<item><title>RELOS talks resume</title><guid>u-2</guid>"
                             b"<link>https://herald.example/talks</link></item><item>", 1)
    http_server.routes["/rss"] = Route(later)
    second = poll_feed(_state(store, "Herald"), ctx)
    assert (second.new_stories, second.hits) == (1, 1)
    assert store.outbox_counts() == {"pending": 1}


def test_a_story_the_feed_edits_into_a_match_alerts_once(
    store: Store, client: httpx.Client, http_server: HTTPServer
) -> None:
    """A developing story that first matched no rule alerts when the feed rewrites it to match,
    once: further edits repeat nothing, and a story that matched already is not alerted again."""
    breaking = Item(
        "d-1", "Breaking: Duma votes on defence agreement", "More soon.", "https://herald.example/duma"
    )
    http_server.routes["/rss"] = Route(rss([breaking, RELOS_ITEM]))
    ctx = _ctx(store, client, {"Herald": http_server.url("/rss")})
    first = poll_feed(_state(store, "Herald"), ctx)
    assert (first.new_stories, first.matching) == (2, 1)
    assert store.outbox_counts() == {"pending": 1}

    rewritten = replace(breaking, title="Duma ratifies RELOS military logistics pact with India")
    relos_edited = replace(RELOS_ITEM, title=RELOS_ITEM.title + " (updated)")
    http_server.routes["/rss"] = Route(rss([rewritten, relos_edited]))
    second = poll_feed(_state(store, "Herald"), ctx)
    assert (second.new_stories, second.matching, second.hits) == (0, 1, 1)
    assert store.outbox_counts() == {"pending": 2}
    (hit,) = [h for h in store.list_hits() if h.story.url == "https://herald.example/duma"]
    assert hit.story.title == rewritten.title and hit.rules == ("relos",)

    again = replace(rewritten, title=rewritten.title + " on Tuesday")
    http_server.routes["/rss"] = Route(rss([again, RELOS_ITEM]))
    third = poll_feed(_state(store, "Herald"), ctx)
    assert (third.new_stories, third.matching) == (0, 0)
    assert store.outbox_counts() == {"pending": 2}


def test_an_edit_whose_storing_fails_is_matched_again_at_the_next_poll(
    store: Store, client: httpx.Client, http_server: HTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The database fails while an edit is stored: the poll fails, and the next one still sees
    the edit and alerts it (the edited text was once saved first, and the alert lost)."""
    breaking = Item("d-1", "Breaking: Duma votes", "More soon.", "https://herald.example/duma")
    http_server.routes["/rss"] = Route(rss([breaking]))
    ctx = _ctx(store, client, {"Herald": http_server.url("/rss")})
    poll_feed(_state(store, "Herald"), ctx)
    http_server.routes["/rss"] = Route(rss([replace(breaking, title="Duma ratifies RELOS pact with India")]))
    real = store.apply_edit

    def fail_once(*args: object, **kwargs: object) -> object:
        monkeypatch.setattr(store, "apply_edit", real)
        raise OperationalError("UPDATE stories", {}, Exception("server closed the connection"))

    monkeypatch.setattr(store, "apply_edit", fail_once)
    assert not poll_feed(_state(store, "Herald"), ctx).ok
    assert store.outbox_counts() == {}
    retried = poll_feed(_state(store, "Herald"), ctx)
    assert (retried.ok, retried.matching) == (True, 1)
    assert store.outbox_counts() == {"pending": 1}


def test_not_modified_feed_costs_no_parse(
    store: Store, client: httpx.Client, http_server: HTTPServer
) -> None:
    """A feed that answers 304 to our ETag is recorded as such and stores nothing."""
    http_server.routes["/rss"] = Route(rss([RELOS_ITEM]), etag='"v1"')
    ctx = _ctx(store, client, {"Herald": http_server.url("/rss")})
    poll_feed(_state(store, "Herald"), ctx)
    result = poll_feed(_state(store, "Herald"), ctx)
    assert result.ok and result.new_stories == 0
    assert _state(store, "Herald").last_status == "304"
    assert http_server.requests[-1].headers.get("If-None-Match") == '"v1"'


def test_failures_are_recorded_with_growing_backoff_and_honour_retry_after(
    store: Store, client: httpx.Client, http_server: HTTPServer
) -> None:
    """Consecutive failures count up and push the next poll out; Retry-After is a floor."""
    http_server.routes["/rss"] = Route(b"busy", status=503, headers={"Retry-After": "7200"})
    ctx = _ctx(store, client, {"Herald": http_server.url("/rss")})
    before = datetime.now(UTC)
    result = poll_feed(_state(store, "Herald"), ctx)
    assert not result.ok and result.error is not None and "HTTP 503" in result.error
    state = _state(store, "Herald")
    assert state.consecutive_errors == 1 and state.last_status == "503"
    assert state.next_poll_at >= before + timedelta(hours=2)
    http_server.routes["/rss"] = Route(b"oops", status=500)
    poll_feed(state, ctx)
    state = _state(store, "Herald")
    assert state.consecutive_errors == 2 and "HTTP 500" in (state.last_error or "")
    assert state.next_poll_at >= before + timedelta(minutes=15 * 2 * 0.75)
    http_server.routes["/rss"] = Route(rss([NOISE_ITEM]))
    assert poll_feed(state, ctx).ok
    state = _state(store, "Herald")
    assert (state.consecutive_errors, state.last_error) == (0, None)


def test_one_bad_feed_does_not_stop_the_others(
    store: Store, client: httpx.Client, http_server: HTTPServer
) -> None:
    """Feeds are polled concurrently; a broken one fails alone."""
    http_server.routes["/good"] = Route(rss([RELOS_ITEM]))
    http_server.routes["/bad"] = Route(b"<html>nope</html>")
    ctx = _ctx(
        store,
        client,
        {"Good": http_server.url("/good"), "Bad": http_server.url("/bad"), "Gone": http_server.url("/gone")},
    )
    results = {r.feed: r for r in poll_feeds(store.list_feeds(), ctx, concurrency=3)}
    assert results["Good"].ok and results["Good"].hits == 1
    assert not results["Bad"].ok and "parse: Bad" in (results["Bad"].error or "")
    assert not results["Gone"].ok and "HTTP 404" in (results["Gone"].error or "")


def test_retention_forgets_old_stories_and_does_not_alert_them_again(
    store: Store, client: httpx.Client, http_server: HTTPServer
) -> None:
    """After a year, a sent alert's story is forgotten (hits, keys and outbox rows with it). A
    feed that still carries it would make it new again: published before the retention, it is
    stored without an alert. A story whose alert is still pending is never forgotten."""
    old = Item("h-9", "RELOS deliveries", "RELOS in use", "https://herald.example/9", timedelta(days=400))
    http_server.routes["/rss"] = Route(rss([RELOS_ITEM]))
    ctx = replace(_ctx(store, client, {"Herald": http_server.url("/rss")}), retention=timedelta(days=365))
    poll_feed(_state(store, "Herald"), ctx)  # a first poll: RELOS_ITEM is alerted
    http_server.routes["/rss"] = Route(rss([RELOS_ITEM, old]))
    result = poll_feed(_state(store, "Herald"), ctx)
    assert (result.new_stories, result.hits) == (1, 1)
    assert store.outbox_counts() == {"pending": 1}, "the 400-day-old story is stored, not alerted"
    # A year on, nothing has been sent yet: the pending alert keeps its story.
    assert store.prune(datetime.now(UTC) + timedelta(days=366)) == 1  # only the unalerted one
    rows = store.claim_deliveries(datetime.now(UTC), timedelta(seconds=30))
    store.mark_sent(rows, datetime.now(UTC))
    assert store.prune(datetime.now(UTC) + timedelta(days=366)) == 1
    assert store.outbox_counts() == {}
    assert store.list_hits() == []
    assert _state(store, "Herald").stories == 0


def test_a_poll_cut_by_a_dropped_database_connection_says_so_and_loses_no_story(
    pg_url: str, client: httpx.Client, http_server: HTTPServer, caplog: pytest.LogCaptureFixture
) -> None:
    """PostgreSQL drops the connection as a story is saved: the poll fails with the
    database's words in one line (no traceback, not "internal error"), the feed is not blamed
    (no failure counted, no backoff), and the next poll stores and queues the story."""
    engine = create_engine_for(pg_url)
    upgrade_schema(engine)
    store = Store(engine)
    killed = drop_connection_at(
        engine, pg_url, lambda statement, _parameters: statement.startswith("INSERT INTO stories")
    )
    try:
        http_server.routes["/rss"] = Route(rss([RELOS_ITEM, NOISE_ITEM]))
        ctx = _ctx(store, client, {"Herald": http_server.url("/rss")})
        with caplog.at_level(logging.INFO, logger="monitor.pipeline"):
            failed = poll_feed(_state(store, "Herald"), ctx)
        assert killed, "the connection was not dropped"
        assert (failed.ok, failed.error) == (
            False,
            "store: database: terminating connection due to administrator command",
        )
        assert not any(r.exc_info for r in caplog.records), "a traceback for a dropped connection"
        state = _state(store, "Herald")
        assert (state.consecutive_errors, state.last_error) == (0, None)
        retried = poll_feed(_state(store, "Herald"), ctx)
        assert (retried.ok, retried.matching) == (True, 1)
        assert store.outbox_counts() == {"pending": 1}
    finally:
        engine.dispose()
