"""Delivery with slow targets and several workers, against real webhook and SMTP servers and a
real store: a slow target holds up no other, a webhook slower than apprise's own default
timeout is sent once, and two workers never send one alert twice, break a rate limit together
or send a digest twice."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import make_url
from sqlalchemy.exc import OperationalError

from monitor.app import App
from monitor.config import DeliverySettings, NotificationConfig, load_settings
from monitor.notify import Deliverer, Notifier, Renderer, deliver_pending
from monitor.notify.deliver import lease_name
from monitor.store import Store, TargetRoute, create_engine_for, upgrade_schema
from tests.factories import digest_config, queue_hits
from tests.faults import Admin, drop_connection_at
from tests.servers import HTTPServer, SMTPServer, wait_for

SETTINGS = DeliverySettings(retry_base=timedelta(seconds=10))


def _store(url: str) -> Store:
    engine = create_engine_for(url)
    upgrade_schema(engine)
    store = Store(engine)
    store.sync_feeds([("Herald", "https://herald.example/rss")], datetime.now(UTC))
    return store


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    s = _store(db_url)
    yield s
    s.engine.dispose()


def _notifier(http_server: HTTPServer, *names: str, **extra: object) -> Notifier:
    configs = [
        NotificationConfig.model_validate(
            {"name": name, "url": f"json://127.0.0.1:{http_server.port}/{name}", **extra}
        )
        for name in names
    ]
    return Notifier(configs, Renderer())


def _answered(http_server: HTTPServer, path: str) -> int:
    return sum(1 for p, _, _ in http_server.post_times if p == path)


def _marking_sent(statement: str, _parameters: object) -> bool:
    return statement.startswith("UPDATE outbox SET status")


def _taking_a_lease(statement: str, _parameters: object) -> bool:
    return statement.startswith("INSERT INTO leases")



def test_a_slow_target_holds_up_no_other(store: Store, http_server: HTTPServer) -> None:
    """The daemon's pass does not wait for a target still sending: the fast target gets its
    alert at once, and a later alert too, while the slow one is still on its first."""
    http_server.post_delay["/slow"] = 4.0
    notifier = _notifier(http_server, "slow", "fast")
    deliverer = Deliverer(store, notifier, SETTINGS, clock=lambda: datetime.now(UTC))
    queue_hits(store, 1, TargetRoute("slow"), TargetRoute("fast"))
    try:
        deliverer.run(wait=False)
        assert wait_for(lambda: _answered(http_server, "/fast") == 1, 10)
        assert _answered(http_server, "/slow") == 0, "the slow target is still on its first send"
        queue_hits(store, 1, TargetRoute("fast"), TargetRoute("slow"), start=1)
        deliverer.run(wait=False)  # the slow target is busy: skipped; the fast one goes on
        assert wait_for(lambda: _answered(http_server, "/fast") == 2, 10)
        assert _answered(http_server, "/slow") == 0
    finally:
        deliverer.close()  # waits for the slow send
    assert len(http_server.posts("/slow")) == 1
    deliver_pending(store, notifier, SETTINGS, now=datetime.now(UTC))
    assert [p["title"] for p in http_server.posts("/slow")] == [
        "[monitor] relos: RELOS story 0",
        "[monitor] relos: RELOS story 1",
    ]
    assert store.outbox_counts() == {"sent": 4}


def test_a_webhook_slower_than_apprise_default_timeout_is_sent_once(
    tmp_path: Path, http_server: HTTPServer
) -> None:
    """apprise gives up on a webhook after 4 s by default and reports a failure the server may
    well have acted on; retried, it would arrive twice. The send timeout (15 s) is apprise's."""
    store = _store(f"sqlite:///{tmp_path / 'm.db'}")
    http_server.post_delay["/chat"] = 5.0
    notifier = _notifier(http_server, "chat")
    queue_hits(store, 1, TargetRoute("chat"))
    now = datetime.now(UTC)
    assert deliver_pending(store, notifier, SETTINGS, now=now).sent == 1
    again = deliver_pending(store, notifier, SETTINGS, now=now + timedelta(minutes=5), due_only=False)
    assert again.sent == 0
    assert len(http_server.posts("/chat")) == 1
    assert store.outbox_counts() == {"sent": 1}


def test_two_workers_send_to_a_target_one_at_a_time(pg_url: str, http_server: HTTPServer) -> None:
    """Two workers on one PostgreSQL database, a target limited to 2 alerts a minute. While
    worker A sends, new alerts arrive and worker B runs a pass: B leaves the target to A, so
    the limit holds (2 alerts and one summary), sends never overlap and nothing goes twice."""
    store_a, store_b = _store(pg_url), _store(pg_url)
    try:
        _two_workers(store_a, store_b, http_server)
    finally:
        store_a.engine.dispose()
        store_b.engine.dispose()


def _two_workers(store_a: Store, store_b: Store, http_server: HTTPServer) -> None:
    http_server.post_delay["/chat"] = 1.0
    notifier = _notifier(http_server, "chat", rate_limit="2/1m")
    now = datetime.now(UTC)
    queue_hits(store_a, 3, TargetRoute("chat"), at=now)
    worker_a = threading.Thread(
        target=deliver_pending, args=(store_a, notifier, SETTINGS), kwargs={"now": now}
    )
    worker_a.start()
    try:
        assert wait_for(lambda: len(http_server.posts("/chat")) >= 1, 10)
        queue_hits(store_b, 3, TargetRoute("chat"), start=3, at=now)
        report_b = deliver_pending(store_b, notifier, SETTINGS, now=now + timedelta(seconds=1))
    finally:
        worker_a.join()
    assert report_b.sent == 0, "B left the target to A"
    titles = [p["title"] for p in http_server.posts("/chat")]
    assert titles == [
        "[monitor] relos: RELOS story 0",
        "[monitor] relos: RELOS story 1",
        "[monitor] 1 more alert(s) (rate limit 2 per period) (relos)",
    ]
    spans = sorted((arrived, answered) for _, arrived, answered in http_server.post_times)
    assert all(answered <= arrived_next for (_, answered), (arrived_next, _) in pairwise(spans))
    # Over the limit with this minute's summary sent: the three new alerts wait for the next.
    assert deliver_pending(store_b, notifier, SETTINGS, now=now + timedelta(seconds=2)).sent == 0
    later = deliver_pending(store_b, notifier, SETTINGS, now=now + timedelta(seconds=63))
    assert later.sent == 3
    assert len(http_server.posts("/chat")) == 6
    assert store_a.outbox_counts() == {"sent": 6}


def test_a_lease_held_elsewhere_is_respected_until_it_runs_out(
    store: Store, http_server: HTTPServer, caplog: pytest.LogCaptureFixture
) -> None:
    """A worker that died while sending to a target holds its lease until it runs out: the
    target waits that long (its rows may be mid-send), other targets do not. The log says
    until when, as a restarted daemon waits for its own killed predecessor's lease."""
    notifier = _notifier(http_server, "chat", "mail")
    now = datetime.now(UTC)
    assert store.take_lease("deliver:chat", "dead-worker", now + timedelta(seconds=40), now)
    queue_hits(store, 1, TargetRoute("chat"), TargetRoute("mail"), at=now)
    with caplog.at_level(logging.INFO, logger="monitor.notify"):
        assert deliver_pending(store, notifier, SETTINGS, now=now).sent == 1
    until = f"until {now + timedelta(seconds=40):%H:%M:%S} UTC"
    assert any(until in r.getMessage() and "chat" in r.getMessage() for r in caplog.records), caplog.text
    assert (len(http_server.posts("/chat")), len(http_server.posts("/mail"))) == (0, 1)
    assert deliver_pending(store, notifier, SETTINGS, now=now + timedelta(seconds=41)).sent == 1
    assert len(http_server.posts("/chat")) == 1


def test_leases(store: Store) -> None:
    """Free, held by another, run out, extended by its holder, given back."""
    t = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
    assert store.take_lease("deliver:x", "a", t + timedelta(seconds=30), t)
    assert not store.take_lease("deliver:x", "b", t + timedelta(seconds=30), t + timedelta(seconds=10))
    assert store.take_lease("deliver:y", "b", t + timedelta(seconds=30), t), "another name is free"
    assert store.take_lease("deliver:x", "a", t + timedelta(seconds=60), t + timedelta(seconds=20))
    assert not store.take_lease("deliver:x", "b", t + timedelta(seconds=90), t + timedelta(seconds=45))
    assert store.take_lease("deliver:x", "b", t + timedelta(seconds=90), t + timedelta(seconds=60))
    store.drop_lease("deliver:x", "a")  # no longer a's: changes nothing
    assert not store.take_lease("deliver:x", "a", t + timedelta(seconds=90), t + timedelta(seconds=61))
    store.drop_lease("deliver:x", "b")
    assert store.take_lease("deliver:x", "a", t + timedelta(seconds=90), t + timedelta(seconds=61))
    # Taken while the clock was a day ahead: further off than anyone holds a lease, so stale.
    assert store.take_lease("deliver:z", "c", t + timedelta(days=1, seconds=40), t + timedelta(days=1))
    assert store.take_lease("deliver:z", "d", t + timedelta(seconds=40), t)
    # Extended for a slow target's long send (5 send timeouts): not stale for a process that
    # knows a holder may extend that far, so it cannot take the target over mid-send.
    longest = timedelta(minutes=5, seconds=10)
    assert store.take_lease("deliver:s", "e", t + longest, t)
    assert not store.take_lease("deliver:s", "f", t + timedelta(seconds=130), t, longest=longest)
    assert store.take_lease("deliver:s", "f", t + timedelta(seconds=130), t), "a taker without it: stale"


def test_a_digest_fires_once_however_many_workers(
    pg_url: str, tmp_path: Path, smtp_server: SMTPServer
) -> None:
    """Every worker schedules every digest. The first to fire sends the period's alerts; the
    second does nothing, so no "nothing new" message follows the digest."""
    config = digest_config(tmp_path, pg_url, smtp_server, "    send_empty: true\n")
    first, second = App(load_settings(config)), App(load_settings(config))
    try:
        first.prepare()
        queue_hits(first.store, 2, TargetRoute("daily", held=True))
        assert first.fire_digest("daily") == 2
        assert second.fire_digest("daily") == 0
        first.deliver()
        second.deliver()
        (mail,) = smtp_server.messages
        assert "digest: 2 event(s), 2 stories" in mail["Subject"]
        assert first.store.outbox_counts() == {"sent": 2}
    finally:
        first.close()
        second.close()


def test_an_empty_digest_is_queued_and_retried_like_any_message(
    tmp_path: Path, smtp_server: SMTPServer
) -> None:
    """``send_empty``: a period without alerts says so once, through the outbox, so a mail
    server that is down at that moment gets it later rather than never."""
    config = digest_config(tmp_path, f"sqlite:///{tmp_path / 'm.db'}", smtp_server, "    send_empty: true\n")
    app = App(load_settings(config))
    try:
        app.prepare()
        smtp_server.stop()
        assert app.fire_digest("daily") == 0
        assert app.deliver().failed == 1
        smtp_server.start()
        assert app.deliver(due_only=False).sent == 1
        (mail,) = smtp_server.messages
        assert "nothing new" in mail["Subject"]
    finally:
        app.close()


def test_a_retry_time_set_by_a_wrong_clock_does_not_park_an_alert(
    store: Store, http_server: HTTPServer
) -> None:
    """A send failed while the clock was a day ahead; its retry was set for a day later still.
    No backoff (at most retry_max, 1 h) or rate limit puts a retry that far away, so once the
    clock is right the alert is due, not parked for two days."""
    notifier = _notifier(http_server, "chat")
    now = datetime.now(UTC)
    queue_hits(store, 1, TargetRoute("chat"), at=now)
    (row,) = store.claim_deliveries(now, timedelta(seconds=30))
    store.mark_failed([row], now + timedelta(days=1), "down", now + timedelta(days=2))
    assert deliver_pending(store, notifier, SETTINGS, now=now).sent == 1
    assert len(http_server.posts("/chat")) == 1


def test_a_changed_digest_schedule_fires_at_its_new_time(tmp_path: Path, smtp_server: SMTPServer) -> None:
    """The period a digest fired for is named by its schedule's next time: a digest moved to
    another time is a new period, not one "already fired" for hours."""
    config = digest_config(tmp_path, f"sqlite:///{tmp_path / 'm.db'}", smtp_server)
    app = App(load_settings(config))
    app.prepare()
    queue_hits(app.store, 1, TargetRoute("daily", held=True))
    assert app.fire_digest("daily") == 1
    app.close()
    config.write_text(config.read_text().replace("0 8 * * *", "30 9 * * *"), encoding="utf-8")
    moved = App(load_settings(config))
    try:
        queue_hits(moved.store, 1, TargetRoute("daily", held=True), start=1)
        assert moved.fire_digest("daily") == 1
        queue_hits(moved.store, 1, TargetRoute("daily", held=True), start=2)
        assert moved.fire_digest("daily") == 0, "this period has fired: the new alert waits for the next"
    finally:
        moved.close()


def test_a_sent_mark_cut_by_a_dropped_connection_is_recorded_and_not_sent_again(
    pg_url: str, http_server: HTTPServer, caplog: pytest.LogCaptureFixture
) -> None:
    """PostgreSQL drops the connection (a restart, a failover) just as the deliverer records a
    webhook's answer: the mark is made again on a new connection, so the alert is sent once
    and not again when its claim would have run out."""
    store = _store(pg_url)
    killed = drop_connection_at(store.engine, pg_url, _marking_sent)
    try:
        queue_hits(store, 1, TargetRoute("chat"))
        notifier = _notifier(http_server, "chat")
        now = datetime.now(UTC)
        with caplog.at_level(logging.WARNING, logger="monitor.notify.deliver"):
            assert deliver_pending(store, notifier, SETTINGS, now=now).sent == 1
        assert killed, "the connection was not dropped"
        assert "sent, but the database did not record it" in caplog.text
        assert store.outbox_counts() == {"sent": 1}
        assert store.count_messages("chat", now - timedelta(minutes=1), ["alert"]) == 1
        later = deliver_pending(store, notifier, SETTINGS, now=now + timedelta(hours=1), due_only=False)
        assert later.sent == 0
        assert len(http_server.posts("/chat")) == 1
    finally:
        store.engine.dispose()


def test_a_sent_mark_made_again_records_one_message(store: Store) -> None:
    """A mark whose commit went through but whose answer was lost is made again: the rows are
    sent once and one message is counted (rate limits count messages)."""
    queue_hits(store, 2, TargetRoute("chat"))
    now = datetime.now(UTC)
    rows = store.claim_deliveries(now, timedelta(minutes=1))
    store.mark_sent(rows, now)
    store.mark_sent(rows, now, again=True)
    assert store.outbox_counts() == {"sent": 2}
    assert store.count_messages("chat", now - timedelta(minutes=1), ["alert"]) == 1


def test_a_lease_not_given_back_does_not_hold_up_the_next_pass(
    pg_url: str, http_server: HTTPServer, caplog: pytest.LogCaptureFixture
) -> None:
    """The connection drops as a pass gives back its target's lease: the lease stays in the
    database, but it is the daemon's own, so the next alert goes at the next pass, not once
    the lease has run out."""
    store = _store(pg_url)
    killed = drop_connection_at(
        store.engine,
        pg_url,
        lambda statement, parameters: statement.startswith("UPDATE leases")
        and parameters.get("holder", "") is None,  # giving the lease back
    )
    deliverer = Deliverer(store, _notifier(http_server, "chat"), SETTINGS, clock=lambda: datetime.now(UTC))
    try:
        queue_hits(store, 1, TargetRoute("chat"))
        with caplog.at_level(logging.WARNING, logger="monitor.notify.deliver"):
            assert deliverer.run().sent == 1
        assert killed, "the connection was not dropped"
        assert "cannot give back the lease to send to it" in caplog.text
        assert store.lease_until(lease_name("chat")) is not None, "the lease was given back after all"
        queue_hits(store, 1, TargetRoute("chat"), start=1)
        assert deliverer.run().sent == 1
        assert [p["title"] for p in http_server.posts("/chat")] == [
            "[monitor] relos: RELOS story 0",
            "[monitor] relos: RELOS story 1",
        ]
    finally:
        deliverer.close()
        store.engine.dispose()


def test_a_pass_cut_by_a_dropped_connection_says_so_in_a_line_and_the_next_pass_sends(
    pg_url: str, http_server: HTTPServer, caplog: pytest.LogCaptureFixture
) -> None:
    """The connection drops as a pass starts: the log says which target and the database's
    own words, in one line, not a traceback; the alert goes at the next pass."""
    store = _store(pg_url)
    killed = drop_connection_at(store.engine, pg_url, _taking_a_lease)
    deliverer = Deliverer(store, _notifier(http_server, "chat"), SETTINGS, clock=lambda: datetime.now(UTC))
    try:
        queue_hits(store, 1, TargetRoute("chat"))
        with caplog.at_level(logging.INFO, logger="monitor.notify.deliver"):
            assert deliverer.run().sent == 0
        assert killed, "the connection was not dropped"
        (failure,) = [r for r in caplog.records if "delivery pass failed" in r.getMessage()]
        assert failure.getMessage() == (
            "notify: chat: delivery pass failed: database:"
            " terminating connection due to administrator command"
        )
        assert failure.exc_info is None
        assert deliverer.run().sent == 1
        assert len(http_server.posts("/chat")) == 1
    finally:
        deliverer.close()
        store.engine.dispose()


def test_a_sent_mark_cut_by_a_failover_to_a_server_not_yet_writable_is_recorded(
    pg_url: str, http_server: HTTPServer
) -> None:
    """The connection drops as the mark is made and the next one reaches a server that only
    takes reads (a standby not yet promoted); a second later the new primary answers: the
    mark is made there."""
    store = _store(pg_url)
    database = store.engine.url.database

    def writable_again() -> None:
        time.sleep(1.0)
        with psycopg.connect(pg_url, autocommit=True) as admin:  # the new primary takes over
            admin.execute("SET default_transaction_read_only = off")
            admin.execute(f'ALTER DATABASE "{database}" RESET default_transaction_read_only')
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )

    def read_only_for_a_second(admin: Admin) -> None:
        admin.execute(f'ALTER DATABASE "{database}" SET default_transaction_read_only = on')
        threading.Thread(target=writable_again).start()

    killed = drop_connection_at(store.engine, pg_url, _marking_sent, also=read_only_for_a_second)
    try:
        queue_hits(store, 1, TargetRoute("chat"))
        now = datetime.now(UTC)
        assert deliver_pending(store, _notifier(http_server, "chat"), SETTINGS, now=now).sent == 1
        assert killed, "the connection was not dropped"
        assert store.outbox_counts() == {"sent": 1}
        assert store.count_messages("chat", now - timedelta(minutes=1), ["alert"]) == 1
    finally:
        store.engine.dispose()


def test_a_sent_mark_whose_commit_answer_was_lost_is_made_again_and_counted_once(
    store: Store, http_server: HTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The mark commits but the connection drops before the answer (so the deliverer cannot
    know it committed): it is made again, and the message is counted once, as rate limits
    count messages. (The lost answer is simulated: no real server loses it on cue.)"""
    real, calls = store.mark_sent, []

    def answer_lost(*args: Any, **kwargs: Any) -> None:
        real(*args, **kwargs)
        calls.append(kwargs.get("again", False))
        if len(calls) == 1:
            raise OperationalError("COMMIT", {}, psycopg.OperationalError("server closed the connection"))

    monkeypatch.setattr(store, "mark_sent", answer_lost)
    queue_hits(store, 1, TargetRoute("chat"))
    now = datetime.now(UTC)
    assert deliver_pending(store, _notifier(http_server, "chat"), SETTINGS, now=now).sent == 1
    assert calls == [False, True]
    assert store.outbox_counts() == {"sent": 1}
    assert store.count_messages("chat", now - timedelta(minutes=1), ["alert"]) == 1
    assert len(http_server.posts("/chat")) == 1


def test_a_sent_mark_waits_out_a_database_away_longer_than_the_claim(
    pg_url: str, http_server: HTTPServer, caplog: pytest.LogCaptureFixture
) -> None:
    """The connection drops as the mark is made and the database refuses connections for
    longer than the rows' claim (14 s; the claim is 12 s with a 1 s send timeout): the mark is
    made when it is back, and the alert is not sent again."""
    store = _store(pg_url)
    url = make_url(pg_url)
    database = url.database
    admin_url = url.set(database="postgres").render_as_string(hide_password=False)
    settings = DeliverySettings(send_timeout=timedelta(seconds=1))
    chat = NotificationConfig.model_validate({"name": "chat", "url": f"json://127.0.0.1:{http_server.port}/chat"})
    notifier = Notifier([chat], Renderer(), send_timeout=settings.send_timeout)

    def back() -> None:
        time.sleep(14)
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS true')

    returning = threading.Thread(target=back)

    def away_for_14_s(admin: Admin) -> None:
        admin.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS false')
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (database,)
        )
        returning.start()

    killed = drop_connection_at(store.engine, pg_url, _marking_sent, also=away_for_14_s, admin_url=admin_url)
    try:
        queue_hits(store, 1, TargetRoute("chat"))
        now = datetime.now(UTC)
        with caplog.at_level(logging.INFO, logger="monitor.notify.deliver"):
            assert deliver_pending(store, notifier, settings, now=now).sent == 1
        assert killed, "the connection was not dropped"
        assert "the database recorded the alert sent" in caplog.text
        assert store.outbox_counts() == {"sent": 1}
        later = deliver_pending(store, notifier, settings, now=now + timedelta(hours=1))
        assert later.sent == 0
        assert len(http_server.posts("/chat")) == 1
    finally:
        if returning.is_alive():
            returning.join()  # the database must take connections again before it is dropped
        store.engine.dispose()


def test_a_worker_waiting_for_another_says_so_once_not_at_every_tick(
    store: Store, http_server: HTTPServer, caplog: pytest.LogCaptureFixture
) -> None:
    """Another worker holds a target's lease through several passes of this one: this one
    says so once (at INFO), and again only after it has sent to the target in between."""
    deliverer = Deliverer(store, _notifier(http_server, "chat"), SETTINGS, clock=lambda: datetime.now(UTC))
    queue_hits(store, 1, TargetRoute("chat"))

    def held_by_another() -> None:
        now = datetime.now(UTC)
        assert store.take_lease(lease_name("chat"), "other", now + timedelta(minutes=1), now)

    def told() -> int:
        return sum(
            1 for r in caplog.records if r.levelno == logging.INFO and "holds the lease" in r.getMessage()
        )

    try:
        with caplog.at_level(logging.INFO, logger="monitor.notify.deliver"):
            held_by_another()
            for _ in range(3):
                assert deliverer.run().sent == 0
            assert told() == 1
            store.drop_lease(lease_name("chat"), "other")
            assert deliverer.run().sent == 1
            held_by_another()
            queue_hits(store, 1, TargetRoute("chat"), start=1)
            assert deliverer.run().sent == 0
            assert told() == 2
    finally:
        deliverer.close()
