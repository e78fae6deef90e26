"""Delivery policies against real servers and a real store: rate limits with one summary,
digests, quiet hours, retries, dead rows told to the admin once, cluster follow-ups, feed health."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import pytest

from monitor.config import DeliverySettings, NotificationConfig, RateLimit
from monitor.notify import Deliverer, DeliveryReport, Notifier, Renderer, deliver_pending
from monitor.notify.quiet import in_quiet_hours, last_quiet_window, quiet_until
from monitor.store import Delivery, Store, TargetRoute, create_engine_for, upgrade_schema
from tests.factories import digest_config, queue_hits
from tests.servers import HTTPServer, SMTPServer, body_text
from tests.test_cli import monitor

T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
SETTINGS = DeliverySettings(retry_base=timedelta(seconds=10))


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    engine = create_engine_for(db_url)
    upgrade_schema(engine)
    s = Store(engine)
    s.sync_feeds([("Herald", "https://herald.example/rss")], T0)
    yield s
    engine.dispose()


def _hook(http_server: HTTPServer, **extra: object) -> Notifier:
    config = NotificationConfig.model_validate(
        {"name": "chat", "url": f"json://127.0.0.1:{http_server.port}/hook", **extra}
    )
    return Notifier([config], Renderer())


def test_burst_over_rate_limit_gives_limit_alerts_and_one_summary(
    store: Store, http_server: HTTPServer
) -> None:
    """50 hits to a target limited to 5 a minute → 5 single alerts and one summary of the other 45."""
    notifier = _hook(http_server, rate_limit="5/1m")
    queue_hits(store, 50, TargetRoute("chat"), at=T0)
    report = deliver_pending(store, notifier, SETTINGS, now=T0)
    assert report.sent == 50
    posts = http_server.posts("/hook")
    assert len(posts) == 6
    assert sum("45 more alert(s)" in p["title"] for p in posts) == 1
    summary = next(p for p in posts if "45 more" in p["title"])
    assert "RELOS story 49" in summary["message"]
    queue_hits(store, 3, TargetRoute("chat"), start=100, at=T0 + timedelta(seconds=20))
    assert deliver_pending(store, notifier, SETTINGS, now=T0 + timedelta(seconds=20)).sent == 0
    assert len(http_server.posts("/hook")) == 6, "over the limit, with this period's summary already sent"
    later = deliver_pending(store, notifier, SETTINGS, now=T0 + timedelta(seconds=81))
    assert later.sent == 3 and len(http_server.posts("/hook")) == 9
    assert store.outbox_counts() == {"sent": 53}


def test_digest_holds_alerts_until_its_time_and_contains_exactly_the_period(
    store: Store, smtp_server: SMTPServer
) -> None:
    """Digest rows wait; at the scheduled time one email holds exactly that period's hits, grouped."""
    config = NotificationConfig(
        name="daily", url=smtp_server.url(), mode="digest", schedule="0 8 * * *", timezone="Asia/Kolkata"
    )
    notifier = Notifier([config], Renderer())
    route = TargetRoute("daily", held=True)
    queue_hits(store, 2, route, cluster="c-1", outlet="Outlet A", at=T0)
    queue_hits(store, 1, route, start=2, cluster="c-1", outlet="Outlet B", at=T0)
    queue_hits(store, 1, route, start=3, cluster="c-2", outlet="Outlet C", at=T0, also="duma")
    assert deliver_pending(store, notifier, SETTINGS, now=T0, due_only=False).sent == 0
    assert smtp_server.messages == []
    assert store.release_held("daily", T0 + timedelta(minutes=1)) == 4, "4 stories (5 hits)"
    queue_hits(store, 1, route, start=9, at=T0 + timedelta(minutes=2))  # after the digest time: next period
    report = deliver_pending(store, notifier, SETTINGS, now=T0 + timedelta(minutes=3))
    assert report.sent == 4
    (mail,) = smtp_server.messages
    text = body_text(mail)
    assert "digest: 2 event(s), 4 stories" in mail["Subject"]
    assert "Also reported by: Outlet" in text
    assert "RELOS story 9" not in text
    assert store.outbox_counts() == {"sent": 5, "pending": 1}  # rows: one per hit


def test_quiet_hours_hold_alerts_and_release_them_as_one_message(
    store: Store, http_server: HTTPServer
) -> None:
    """Instant alerts queued in quiet hours wait and then go out together in one message."""
    notifier = _hook(http_server, quiet_hours="22:00-07:00", timezone="Asia/Kolkata")
    night = datetime(2026, 11, 20, 18, 0, tzinfo=UTC)  # 23:30 in Kolkata
    queue_hits(store, 3, TargetRoute("chat"), at=night)
    assert deliver_pending(store, notifier, SETTINGS, now=night).sent == 0
    morning = datetime(2026, 11, 21, 1, 45, tzinfo=UTC)  # 07:15 in Kolkata
    assert deliver_pending(store, notifier, SETTINGS, now=morning).sent == 3
    (post,) = http_server.posts("/hook")
    assert "3 alert(s) held during quiet hours" in post["title"]


def test_quiet_window_arithmetic() -> None:
    """Windows spanning midnight, in the target's zone."""
    window = (time(22, 0), time(7, 0))
    assert in_quiet_hours(window, "Asia/Kolkata", datetime(2026, 11, 20, 17, 0, tzinfo=UTC))  # 22:30
    assert not in_quiet_hours(window, "Asia/Kolkata", datetime(2026, 11, 20, 6, 0, tzinfo=UTC))  # 11:30
    start, end = last_quiet_window(window, "Asia/Kolkata", datetime(2026, 11, 21, 3, 0, tzinfo=UTC))
    assert (start, end) == (
        datetime(2026, 11, 20, 16, 30, tzinfo=UTC),
        datetime(2026, 11, 21, 1, 30, tzinfo=UTC),
    )
    # In the window, before and after local midnight: it ends at 07:00 IST, 01:30 UTC.
    assert quiet_until(window, "Asia/Kolkata", datetime(2026, 11, 20, 17, 0, tzinfo=UTC)) == datetime(
        2026, 11, 21, 1, 30, tzinfo=UTC
    )
    assert quiet_until(window, "Asia/Kolkata", datetime(2026, 11, 20, 20, 0, tzinfo=UTC)) == datetime(
        2026, 11, 21, 1, 30, tzinfo=UTC
    )
    assert quiet_until(window, "Asia/Kolkata", datetime(2026, 11, 20, 6, 0, tzinfo=UTC)) is None


def test_webhook_500_then_429_is_retried_and_delivered_once(store: Store, http_server: HTTPServer) -> None:
    """A failing webhook keeps the alert pending with backoff; it is delivered once when it recovers."""
    notifier = _hook(http_server)
    http_server.post_status = [(500, {}), (429, {"Retry-After": "30"})]
    queue_hits(store, 1, TargetRoute("chat"), at=T0)
    assert deliver_pending(store, notifier, SETTINGS, now=T0).failed == 1
    assert deliver_pending(store, notifier, SETTINGS, now=T0 + timedelta(seconds=1)).sent == 0, "backoff"
    assert deliver_pending(store, notifier, SETTINGS, now=T0 + timedelta(seconds=30)).failed == 1
    assert deliver_pending(store, notifier, SETTINGS, now=T0 + timedelta(minutes=5)).sent == 1
    assert deliver_pending(store, notifier, SETTINGS, now=T0 + timedelta(hours=1)).sent == 0
    assert len(http_server.requests) == 3
    (entry,) = store.list_outbox()
    assert (entry.status, entry.attempts) == ("sent", 3)


def test_a_webhook_slower_than_the_send_timeout_gets_the_alert_once_more_not_on_every_retry(
    store: Store, http_server: HTTPServer
) -> None:
    """A webhook that takes 2.5 s to answer, against a send timeout of 1 s: the first send times
    out although the server has the message. The retry waits longer and gets the answer, so the
    alert arrives twice, not once per retry until it dies."""
    config = NotificationConfig(name="chat", url=f"json://127.0.0.1:{http_server.port}/hook")
    notifier = Notifier([config], Renderer(), send_timeout=timedelta(seconds=1))
    http_server.post_delay["/hook"] = 2.5
    queue_hits(store, 1, TargetRoute("chat"), at=T0)
    assert deliver_pending(store, notifier, SETTINGS, now=T0).failed == 1
    (entry,) = store.list_outbox()
    assert "no answer within 1 s" in (entry.last_error or ""), entry.last_error
    assert notifier.longest_send("chat") == timedelta(seconds=10), "1 s to connect, 4 s per read, + 5"
    assert deliver_pending(store, notifier, SETTINGS, now=T0 + timedelta(minutes=5)).sent == 1
    assert deliver_pending(store, notifier, SETTINGS, now=T0 + timedelta(hours=1)).sent == 0
    assert len(http_server.posts("/hook")) == 2
    (entry,) = store.list_outbox()
    assert (entry.status, entry.attempts) == ("sent", 2)
    reloaded = Notifier([config], Renderer(), send_timeout=timedelta(seconds=1))
    assert reloaded.longest_send("chat") == timedelta(seconds=10), "a reload does not learn it again"


def test_a_mail_server_slower_than_the_send_timeout_gets_the_alert_once_more_not_on_every_retry(
    store: Store, smtp_server: SMTPServer
) -> None:
    """Over SMTP apprise bounds every step of the session with its connect timeout: a server
    that takes the message and answers 2.5 s later, against a send timeout of 1 s, must get
    the longer wait there too, so the alert arrives twice, not once per retry."""
    config = NotificationConfig(name="mail", url=smtp_server.url())
    notifier = Notifier([config], Renderer(), send_timeout=timedelta(seconds=1))
    smtp_server.accept_delay = 2.5
    queue_hits(store, 1, TargetRoute("mail"), at=T0)
    assert deliver_pending(store, notifier, SETTINGS, now=T0).failed == 1
    assert deliver_pending(store, notifier, SETTINGS, now=T0 + timedelta(minutes=5)).sent == 1
    assert deliver_pending(store, notifier, SETTINGS, now=T0 + timedelta(hours=1)).sent == 0
    assert len(smtp_server.messages) == 2
    assert notifier.longest_send("mail") == timedelta(seconds=13), "4 s per step and to connect, + 5"


def test_a_token_the_url_percent_encodes_is_masked_as_an_error_quotes_it() -> None:
    """apprise's URL writes a Telegram bot token's colon as %3A; an HTTP error quotes the request
    as sent, colon and all: both forms are secrets (no message is sent here)."""
    token = "123456789:ABCdefGhIJKlmNoPQRsTUVwxyZ"
    notifier = Notifier([NotificationConfig(name="tg", url=f"tgram://{token}/12345")], Renderer())
    entry = notifier.targets["tg"]
    error = f"Max retries exceeded with url: /bot{token}/sendMessage"
    assert token not in entry.redact(error)
    assert "123456789%3AABCdefGhIJKlmNoPQRsTUVwxyZ" not in entry.redact(error.replace(":", "%3A"))


def test_alerts_that_piled_up_during_an_outage_go_out_together_when_it_ends(
    store: Store, http_server: HTTPServer
) -> None:
    """Alerts that fail at different times would each wait out their own backoff; a retry
    tests the target, so the first one due brings the others with it, and once the target is
    back they go in one combined message (4 alerts, over the batch threshold of 3), not one
    message per alert as each backoff ends."""
    notifier = _hook(http_server)
    http_server.post_status = [(500, {})] * 4
    for n in range(4):  # one new alert, and a failed try, every 5 s of the outage
        at = T0 + timedelta(seconds=5 * n)
        queue_hits(store, 1, TargetRoute("chat"), start=n, at=at)
        assert deliver_pending(store, notifier, SETTINGS, now=at).failed >= 1
    first_retry = min(e.next_attempt_at for e in store.list_outbox() if e.next_attempt_at is not None)
    report = deliver_pending(store, notifier, SETTINGS, now=first_retry)
    assert report.sent == 4
    (combined,) = http_server.posts("/hook")[-1:]
    assert len(http_server.posts("/hook")) == 5, "four failed tries, then one message"
    assert all(f"RELOS story {n}" in combined["message"] for n in range(4))
    assert store.outbox_counts() == {"sent": 4}


def test_undeliverable_alerts_die_after_the_limit_and_the_admin_is_told_once(
    store: Store, http_server: HTTPServer
) -> None:
    """After dead_after of failures a row is dead; the admin target hears about it once; retry requeues."""
    from tests.servers import free_port

    notifier = Notifier(
        [
            NotificationConfig(
                name="email", url=f"mailto://127.0.0.1:{free_port()}?from=a@example.org&to=b@example.org"
            ),
            NotificationConfig(name="admin", url=f"json://127.0.0.1:{http_server.port}/admin"),
        ],
        Renderer(),
    )
    queue_hits(store, 2, TargetRoute("email"), at=T0)
    # The first send fails; the second is not tried in the same pass (the server is down).
    assert deliver_pending(store, notifier, SETTINGS, now=T0, admin="admin") == DeliveryReport(0, 1, 1)
    day = T0 + timedelta(hours=25)
    deliver_pending(store, notifier, SETTINGS, now=day, admin="admin")
    deliver_pending(store, notifier, SETTINGS, now=day + timedelta(hours=1), admin="admin")
    (notice,) = http_server.posts("/admin")
    assert "2 alert(s) to email could not be delivered" in notice["title"]
    assert store.outbox_counts() == {"dead": 2, "sent": 1}
    assert store.retry(all_dead=True, now=day) == 2
    assert store.outbox_counts() == {"pending": 2, "sent": 1}


def test_only_the_first_story_of_a_cluster_alerts_and_updates_are_throttled(store: Store) -> None:
    """Later stories of an alerted cluster are suppressed; an update target gets at most one
    "now also reported by" per hour: outlets that join sooner wait for it, outlets that join
    while it waits are added to it, and a second story from an outlet already counted adds
    nothing."""
    queue_hits(store, 1, TargetRoute("quiet"), cluster="c-9", outlet="PTI", at=T0)
    queue_hits(store, 1, TargetRoute("quiet"), start=1, cluster="c-9", outlet="ANI", at=T0)
    assert store.outbox_counts() == {"pending": 1}
    route = TargetRoute("loud", on_cluster="update")

    def minutes(m: int) -> datetime:
        return T0 + timedelta(minutes=m)

    def due(at: datetime) -> list[Delivery]:
        rows = [r for r in store.claim_deliveries(at, timedelta(minutes=1)) if r.target == "loud"]
        store.mark_sent(rows, at)
        return rows

    queue_hits(store, 1, route, start=10, cluster="c-7", outlet="TASS", at=minutes(0))
    queue_hits(store, 1, route, start=11, cluster="c-7", outlet="RIA", at=minutes(10))
    assert [r.kind for r in due(minutes(30))] == ["alert"], "the update waits for the hour"
    queue_hits(store, 1, route, start=12, cluster="c-7", outlet="Hindu", at=minutes(40))
    (update,) = due(minutes(61))
    assert update.title == "[monitor] relos: now also reported by RIA, Hindu"
    assert "now reported by 3 outlets: Hindu, RIA, TASS." in (update.body or "")
    queue_hits(store, 1, route, start=13, cluster="c-7", outlet="NDTV", at=minutes(70))
    queue_hits(store, 1, route, start=14, cluster="c-7", outlet="TASS", at=minutes(80))
    assert due(minutes(100)) == [], "at most one an hour"
    (later,) = due(minutes(121))
    assert later.title == "[monitor] relos: now also reported by NDTV"
    assert due(minutes(300)) == [], "TASS's second story is no news"


@pytest.mark.parametrize("due_only", [True, False], ids=["daemon", "run-once"])
def test_a_follow_up_waits_its_time_however_long_the_period(
    store: Store, http_server: HTTPServer, due_only: bool
) -> None:
    """A follow-up due in six hours (update_every: 6h) is neither taken for a retry time set
    by a wrong clock nor sent early by an explicit `run --once`: it waits, then goes once."""
    notifier = _hook(http_server)
    route = TargetRoute("chat", on_cluster="update")
    every = timedelta(hours=6)

    def run(at: datetime) -> int:
        return deliver_pending(store, notifier, SETTINGS, now=at, due_only=due_only, update_every=every).sent

    queue_hits(store, 1, route, start=20, cluster="c-5", outlet="TASS", at=T0, update_every=every)
    assert run(T0) == 1
    for n, outlet in ((21, "RIA"), (22, "PTI")):
        at = T0 + timedelta(minutes=10 * (n - 20))
        queue_hits(store, 1, route, start=n, cluster="c-5", outlet=outlet, at=at, update_every=every)
    assert run(T0 + timedelta(minutes=30)) == 0
    assert len(http_server.posts("/hook")) == 1
    run(T0 + timedelta(hours=6, minutes=1))
    (_alert, update) = http_server.posts("/hook")
    assert "now also reported by RIA, PTI" in update["title"]


def test_feed_health_is_told_once_when_failing_and_once_on_recovery(store: Store) -> None:
    """Failing for longer than the threshold → one change; still failing → none; success → recovered."""
    feed = store.list_feeds()[0].id
    for minutes in (0, 30, 400):
        store.record_poll(
            feed, now=T0 + timedelta(minutes=minutes), next_poll=T0, status="500", error="fetch: x: HTTP 500"
        )
    now = T0 + timedelta(hours=7)
    changes = store.health_changes(now, timedelta(hours=6), timedelta(days=3), ["Herald"])
    assert [(c.feed, c.state) for c in changes] == [("Herald", "failing")]
    assert "HTTP 500" in changes[0].detail
    assert "no successful poll yet (added " in changes[0].detail, "it never succeeded"
    assert store.health_changes(now, timedelta(hours=6), timedelta(days=3), ["Herald"]) == []
    store.record_poll(feed, now=now, next_poll=now, status="200", new_stories=2)
    (recovered,) = store.health_changes(now, timedelta(hours=6), timedelta(days=3), ["Herald"])
    assert recovered.state == "ok"
    silent_at = now + timedelta(days=4)
    store.record_poll(feed, now=silent_at, next_poll=silent_at, status="200")
    (silent,) = store.health_changes(silent_at, timedelta(hours=6), timedelta(days=3), ["Herald"])
    assert silent.state == "silent"


def test_rate_limit_config_parses() -> None:
    """`rate_limit: 5/1m` means five per minute."""
    config = NotificationConfig.model_validate({"name": "x", "rate_limit": "5/1m"})
    assert config.rate_limit == RateLimit(count=5, period=timedelta(minutes=1))


def test_a_digest_due_while_monitor_was_not_running_goes_out_on_the_next_run(
    tmp_path: Path, smtp_server: SMTPServer
) -> None:
    """Alerts held for a digest whose time passed while nothing ran (a daemon down over 08:00,
    or ``run --once`` from cron) go out on the next run instead of waiting another day; alerts
    whose digest time has not come yet keep waiting."""
    database = f"sqlite:///{tmp_path / 'm.db'}"
    config = digest_config(tmp_path, database, smtp_server)
    assert monitor(config, "run", "--once").returncode == 0  # creates the schema and the feed
    engine = create_engine_for(database)
    store = Store(engine)
    route = TargetRoute("daily", held=True)
    now = datetime.now(UTC)
    queue_hits(store, 2, route, at=now - timedelta(days=2))  # yesterday's 08:00 digest was missed
    result = monitor(config, "run", "--once")
    assert result.returncode == 0, result.stderr
    assert "was due at" in result.stderr
    (mail,) = smtp_server.messages
    assert "digest: 2 event(s), 2 stories" in mail["Subject"]
    queue_hits(store, 1, route, start=5, at=now)  # today's: its digest time is still ahead
    assert monitor(config, "run", "--once").returncode == 0
    assert len(smtp_server.messages) == 1
    assert store.outbox_counts() == {"sent": 2, "pending": 1}
    engine.dispose()


def test_a_story_matching_two_rules_is_one_alert(store: Store, http_server: HTTPServer) -> None:
    """The shipped rules make every RELOS story a defence story too: one message per story per
    target naming both rules, not two with the same headline. In a burst it is one entry."""
    notifier = _hook(http_server)
    queue_hits(store, 1, TargetRoute("chat"), at=T0, also="india-russia-defence")
    assert deliver_pending(store, notifier, SETTINGS, now=T0).sent == 1  # two rows, one alert
    (post,) = http_server.posts("/hook")
    assert post["title"] == "[monitor] relos, india-russia-defence: RELOS story 0"
    assert "RELOS" in post["message"] and "Duma" in post["message"]
    queue_hits(store, 5, TargetRoute("chat"), start=1, at=T0, also="india-russia-defence")
    assert deliver_pending(store, notifier, SETTINGS, now=T0).sent == 5
    burst = http_server.posts("/hook")[1]
    assert burst["title"] == "[monitor] 5 new alerts (india-russia-defence, relos)"
    assert burst["message"].count("RELOS story") == 5
    assert store.outbox_counts() == {"sent": 12}


def test_a_digest_counts_each_event_and_story_once(store: Store, smtp_server: SMTPServer) -> None:
    """A story under two rules is listed under each rule, and counted once in the subject."""
    notifier = Notifier(
        [NotificationConfig(name="daily", url=smtp_server.url(), mode="digest", schedule="0 8 * * *")],
        Renderer(),
    )
    route = TargetRoute("daily", held=True)
    queue_hits(store, 2, route, at=T0, also="india-russia-defence")
    store.release_held("daily", T0)
    assert deliver_pending(store, notifier, SETTINGS, now=T0).sent == 2
    (mail,) = smtp_server.messages
    assert "digest: 2 event(s), 2 stories" in mail["Subject"]


def test_the_outbox_shows_rows_as_a_person_reads_them(store: Store, http_server: HTTPServer) -> None:
    """Held for a digest, waiting for a retry after a failure, due, sent: four different
    things, shown and counted as such (all four are "pending" or "sent" in the table)."""
    from tests.servers import free_port

    notifier = Notifier(
        [NotificationConfig(name="down", url=f"json://127.0.0.1:{free_port()}/x")], Renderer()
    )
    queue_hits(store, 1, TargetRoute("daily", held=True), at=T0)
    queue_hits(store, 1, TargetRoute("down"), start=1, at=T0)
    queue_hits(store, 1, TargetRoute("chat"), start=2, at=T0)
    deliver_pending(store, notifier, SETTINGS, now=T0)  # "down" fails; "chat" is not configured here
    assert store.outbox_summary() == {"held": 1, "failed": 2}
    assert [e.status for e in store.list_outbox(status="held")] == ["held"]
    assert {e.target for e in store.list_outbox(status="failed")} == {"down", "chat"}
    queue_hits(store, 1, TargetRoute("down"), start=3, at=T0)
    assert store.outbox_summary() == {"held": 1, "failed": 2, "pending": 1}


def test_alerts_for_a_target_gone_from_the_config_are_told_once_and_die_in_time(
    store: Store, http_server: HTTPServer, caplog: pytest.LogCaptureFixture
) -> None:
    """A target removed from the config with alerts still queued: one warning saying so, not
    one per retry for a day; the rows fail with backoff and die after dead_after."""
    queue_hits(store, 2, TargetRoute("old-hook"), at=T0)
    notifier = _hook(http_server)  # the config now has only "chat"
    deliverer = Deliverer(store, notifier, SETTINGS, clock=lambda: moment)
    try:
        with caplog.at_level(logging.DEBUG, logger="monitor.notify"):
            for minutes in (0, 5, 60, 180):
                moment = T0 + timedelta(minutes=minutes)
                deliverer.run(due_only=False)
    finally:
        deliverer.close()
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1, warnings
    assert "old-hook: 2 alert(s) wait for this target, which the config no longer has" in warnings[0]
    assert "die after 1d" in warnings[0]
    assert {e.status for e in store.list_outbox()} == {"failed"}
    moment = T0 + timedelta(days=1, hours=1)
    later = Deliverer(store, notifier, SETTINGS, clock=lambda: moment)
    try:
        later.run()
    finally:
        later.close()
    assert {e.status for e in store.list_outbox()} == {"dead"}
