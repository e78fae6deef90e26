"""The daemon as users run it (a subprocess): crash safety, digests on schedule, and the
delivery commands, against a local feed server, a real SMTP server and a webhook receiver."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

from tests.feeds import NOISE_ITEM, RELOS_ITEM, Item, rss
from tests.servers import HTTPServer, Route, SMTPServer, body_text, free_port, wait_for
from tests.test_cli import RULES, monitor, write_config


class Daemon:
    """`monitor run` in a subprocess, stopped at the end of the test whatever happens."""

    def __init__(self, config: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "monitor", "--config", str(config), "run"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ},
        )

    def stop(self, sig: int = signal.SIGTERM) -> tuple[int, str]:
        self.proc.send_signal(sig)
        _out, err = self.proc.communicate(timeout=30)
        return self.proc.returncode, err


@pytest.fixture
def daemons() -> Iterator[list[Daemon]]:
    started: list[Daemon] = []
    yield started
    for d in started:
        if d.proc.poll() is None:
            d.proc.kill()
            d.proc.communicate()


def test_sigkill_then_restart_loses_nothing_and_repeats_nothing(
    tmp_path: Path, db_url: str, http_server: HTTPServer, smtp_server: SMTPServer, daemons: list[Daemon]
) -> None:
    """SMTP down for several ticks, daemon SIGKILLed, SMTP up, daemon restarted: each alert
    reaches each target exactly once."""
    http_server.routes["/rss"] = Route(rss([RELOS_ITEM, NOISE_ITEM]))
    config = write_config(tmp_path, db_url, http_server.url("/rss"), smtp_server, http_server.port)
    smtp_server.stop()
    first = Daemon(config)
    daemons.append(first)
    assert wait_for(lambda: len(http_server.posts("/hook")) == 1, 30), "webhook alert not sent"
    time.sleep(4)  # several delivery ticks with SMTP down
    first.proc.kill()
    first.proc.communicate()
    assert smtp_server.messages == []
    pending = monitor(config, "outbox", "--status", "failed")
    assert "email" in pending.stdout and "alert" in pending.stdout
    smtp_server.start()
    second = Daemon(config)
    daemons.append(second)
    assert wait_for(lambda: len(smtp_server.messages) == 1, 60), "email not delivered after restart"
    time.sleep(3)  # more ticks: nothing may be repeated
    code, err = second.stop()
    assert code == 0, err
    assert len(smtp_server.messages) == 1
    assert len(http_server.posts("/hook")) == 1
    assert "totals: sent 2" in monitor(config, "outbox").stdout


def test_a_feed_whose_poll_was_cut_off_by_sigkill_is_polled_again_soon_after_a_restart(
    tmp_path: Path, db_url: str, http_server: HTTPServer, smtp_server: SMTPServer, daemons: list[Daemon]
) -> None:
    """A daemon killed while it polls a feed leaves the feed claimed for ten minutes; the
    claim lapses with the dead process's heartbeat, so the restarted daemon polls the feed
    within seconds and alerts its new story (once)."""
    http_server.routes["/rss"] = Route(rss([NOISE_ITEM]), delay=60)  # the poll hangs
    config = write_config(tmp_path, db_url, http_server.url("/rss"), smtp_server, http_server.port)
    first = Daemon(config)
    daemons.append(first)
    assert wait_for(lambda: any(r.path == "/rss" for r in http_server.requests), 30), "feed never fetched"
    first.proc.kill()
    first.proc.communicate()
    http_server.routes["/rss"] = Route(rss([RELOS_ITEM, NOISE_ITEM]))
    second = Daemon(config)
    daemons.append(second)
    assert wait_for(lambda: len(http_server.posts("/hook")) == 1, 30), "the cut-off feed was not polled again"
    code, err = second.stop()
    assert code == 0, err
    assert len(http_server.posts("/hook")) == 1


def test_digest_goes_out_at_its_scheduled_time_with_exactly_that_periods_hits(
    tmp_path: Path, http_server: HTTPServer, smtp_server: SMTPServer, daemons: list[Daemon]
) -> None:
    """A digest target receives nothing instantly, then one email per period holding its hits."""
    http_server.routes["/rss"] = Route(rss([RELOS_ITEM, NOISE_ITEM]))
    config = tmp_path / "digest.yaml"
    config.write_text(
        f"""
database: sqlite:///{tmp_path}/d.db
interval: 1s
tick: 1s
full_text: never
delivery: {{tick: 1s}}
feeds:
  - name: Test Herald
    url: {http_server.url("/rss")}
{RULES}
notifications:
  - name: morning
    url: {smtp_server.url()}
    mode: digest
    schedule: "*/6 * * * * *"
    timezone: Asia/Kolkata
""",
        encoding="utf-8",
    )
    assert "notifications: 0 sent" in monitor(config, "run", "--once").stdout
    assert smtp_server.messages == []
    daemon = Daemon(config)
    daemons.append(daemon)
    assert wait_for(lambda: len(smtp_server.messages) == 1, 30), "no digest"
    first = smtp_server.messages[0]
    assert "digest: 1 event(s), 1 story" in first["Subject"]
    assert "Duma ratifies RELOS" in body_text(first) and "IST" in body_text(first)
    second_item = Item(
        "h-3",
        "RELOS implementation talks begin in Moscow",
        "Officials met on Monday.",
        "https://herald.example/news/relos-talks",
    )
    http_server.routes["/rss"] = Route(rss([second_item, RELOS_ITEM, NOISE_ITEM]))
    assert wait_for(lambda: len(smtp_server.messages) == 2, 30), "no second digest"
    second = body_text(smtp_server.messages[1])
    assert "RELOS implementation talks" in second and "Duma ratifies" not in second
    time.sleep(7)  # an empty period sends nothing (send_empty is off)
    code, err = daemon.stop()
    assert code == 0, err
    assert len(smtp_server.messages) == 2


def test_notify_test_sends_a_sample_and_says_what_failed(
    tmp_path: Path, http_server: HTTPServer, smtp_server: SMTPServer
) -> None:
    """`monitor notify test` delivers a sample to a working target and names the failure of a dead one."""
    config = write_config(
        tmp_path, f"sqlite:///{tmp_path}/m.db", http_server.url("/rss"), smtp_server, http_server.port
    )
    ok = monitor(config, "notify", "test", "--target", "email")
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.startswith("email: sent")
    (mail,) = smtp_server.messages
    assert "Test alert from monitor" in mail["Subject"]
    config.write_text(config.read_text().replace(f"127.0.0.1:{smtp_server.port}", f"127.0.0.1:{free_port()}"))
    bad = monitor(config, "notify", "test")
    assert bad.returncode == 1
    assert "email: FAILED" in bad.stdout and "chat: sent" in bad.stdout


def test_outbox_lists_and_retries_dead_rows(
    tmp_path: Path, http_server: HTTPServer, smtp_server: SMTPServer
) -> None:
    """Dead rows are listed with their error and `outbox retry --all-dead` sends them again once."""
    http_server.routes["/rss"] = Route(rss([RELOS_ITEM]))
    config = write_config(
        tmp_path,
        f"sqlite:///{tmp_path}/m.db",
        http_server.url("/rss"),
        smtp_server,
        http_server.port,
    )
    config.write_text(
        config.read_text().replace("  retry_base: 1s\n", "  retry_base: 1s\n  dead_after: 1s\n", 1)
    )
    smtp_server.stop()
    monitor(config, "run", "--once")
    time.sleep(1.5)
    monitor(config, "run", "--once")
    dead = monitor(config, "outbox", "--status", "dead")
    assert "email" in dead.stdout and "Duma ratifies RELOS" in dead.stdout
    smtp_server.start()
    retried = monitor(config, "outbox", "retry", "--all-dead")
    assert "requeued 1 row(s)" in retried.stdout
    assert "notifications: 1 sent" in monitor(config, "run", "--once").stdout
    assert len(smtp_server.messages) == 1


def _drop_connections(pg_url: str) -> int:
    """Terminate every other connection to the test database, as a PostgreSQL restart, a
    failover or an idle-connection killer in between would; returns how many there were."""
    url = make_url(pg_url)
    with psycopg.connect(host=url.host, port=url.port or 5432, user=url.username,
                         dbname=url.database, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchall()
    return len(rows)


def _recorded_sends(pg_url: str) -> int:
    """Outbox rows the daemon has marked sent."""
    url = make_url(pg_url)
    with psycopg.connect(host=url.host, port=url.port or 5432, user=url.username,
                         dbname=url.database, autocommit=True) as conn:
        row = conn.execute("SELECT count(*) FROM outbox WHERE status = 'sent'").fetchone()
    return int(row[0]) if row else 0


def test_the_daemon_outlives_dropped_database_connections(
    tmp_path: Path, pg_url: str, http_server: HTTPServer, smtp_server: SMTPServer, daemons: list[Daemon]
) -> None:
    """PostgreSQL drops the daemon's connections again and again: it reconnects, goes on
    polling and alerts each new story once per target."""
    http_server.routes["/rss"] = Route(rss([RELOS_ITEM, NOISE_ITEM]))
    config = write_config(tmp_path, pg_url, http_server.url("/rss"), smtp_server, http_server.port)
    daemon = Daemon(config)
    daemons.append(daemon)
    assert wait_for(lambda: len(http_server.posts("/hook")) == 1, 30), "first alert not sent"
    # Three separate events (stories that share their words would be one event, alerted once).
    news = [
        ("RELOS talks resume in Moscow", "Negotiators met on Monday to discuss implementation."),
        ("Navy chiefs sign RELOS protocol", "Admirals initialled the fuel accounting annex at Kochi."),
        ("Federation Council backs RELOS", "Senators voted unanimously without debate on Wednesday."),
    ]
    items = [RELOS_ITEM, NOISE_ITEM]
    for n, (title, summary) in enumerate(news):
        # Every send is recorded before the next drop, so that a lost mark would show here.
        if not wait_for(lambda: len(http_server.posts("/hook")) + len(smtp_server.messages)
                        == _recorded_sends(pg_url), 30):
            _code, err = daemon.stop()
            raise AssertionError(
                f"a send was not recorded: {len(http_server.posts('/hook'))} posts,"
                f" {len(smtp_server.messages)} mails, {_recorded_sends(pg_url)} rows sent;"
                f" daemon log:\n{err[-6000:]}"
            )
        assert _drop_connections(pg_url) >= 1, "the daemon holds no connection to drop"
        items = [Item(f"d-{n}", title, summary, f"https://herald.example/d/{n}"), *items]
        http_server.routes["/rss"] = Route(rss(items))
        if not wait_for(lambda n=n: len(http_server.posts("/hook")) == n + 2, 30):
            _code, err = daemon.stop()
            raise AssertionError(f"{title!r} not alerted; daemon log:\n{err[-6000:]}")
    assert wait_for(lambda: len(smtp_server.messages) == 4, 30)
    time.sleep(3)  # more polls and delivery ticks: nothing may be repeated
    code, err = daemon.stop()
    assert code == 0, err
    hook_titles = [p["title"] for p in http_server.posts("/hook")]
    assert len(hook_titles) == len(set(hook_titles)) == 4
    assert len(smtp_server.messages) == 4


def test_sighup_applies_a_good_config_and_keeps_the_running_one_for_a_bad_one(
    tmp_path: Path, http_server: HTTPServer, smtp_server: SMTPServer, daemons: list[Daemon]
) -> None:
    """An operator edits the config and sends SIGHUP: a broken edit is reported and the daemon
    goes on as before; a good one takes effect without a restart, and nothing is sent twice."""
    http_server.routes["/rss"] = Route(rss([NOISE_ITEM]))
    config = write_config(
        tmp_path, f"sqlite:///{tmp_path}/m.db", http_server.url("/rss"), smtp_server, http_server.port
    )
    original = config.read_text(encoding="utf-8")
    daemon = Daemon(config)
    daemons.append(daemon)
    assert wait_for(lambda: any(r.path == "/rss" for r in http_server.requests), 30)

    config.write_text(
        original.replace(RULES, RULES + "  - name: broken\n    query: warehouse AND (\n"), encoding="utf-8"
    )
    daemon.proc.send_signal(signal.SIGHUP)
    time.sleep(1.5)
    config.write_bytes(b"\xff\xfe not a config")  # saved in the wrong encoding
    daemon.proc.send_signal(signal.SIGHUP)
    time.sleep(1.5)
    http_server.routes["/rss"] = Route(rss([RELOS_ITEM, NOISE_ITEM]))
    assert wait_for(lambda: len(http_server.posts("/hook")) == 1, 30), "the daemon stopped alerting"

    warehouse = Item("h-9", "Port authority opens a new warehouse", "Storage for grain.", "https://herald.example/w")
    config.write_text(
        original.replace(RULES, RULES + "  - name: warehouses\n    query: warehouse\n"), encoding="utf-8"
    )
    daemon.proc.send_signal(signal.SIGHUP)
    time.sleep(1.5)
    http_server.routes["/rss"] = Route(rss([warehouse, RELOS_ITEM, NOISE_ITEM]))
    assert wait_for(lambda: len(http_server.posts("/hook")) == 2, 30), "the new rule is not applied"
    time.sleep(3)  # more ticks: nothing may be repeated
    code, err = daemon.stop()
    assert code == 0, err
    posts = http_server.posts("/hook")
    assert len(posts) == 2 and "new warehouse" in posts[1]["title"] + posts[1]["message"]
    assert len(smtp_server.messages) == 2
    assert "rule 'broken': position" in err and "the config was not reloaded: the running one stays" in err
    assert "not UTF-8 text" in err and err.count("the config was not reloaded") == 2
    assert "config reloaded from" in err and "monitor running: 1 feeds, 2 rules" in err


def test_a_database_outage_is_told_once_and_loses_nothing(
    tmp_path: Path, pg_url: str, http_server: HTTPServer, smtp_server: SMTPServer, daemons: list[Daemon]
) -> None:
    """PostgreSQL refuses every connection for a few seconds while a new story comes out:
    the log says so once and says when it answers again (no traceback a tick), and the
    story is alerted once per target when it is back."""
    http_server.routes["/rss"] = Route(rss([RELOS_ITEM, NOISE_ITEM]))
    config = write_config(tmp_path, pg_url, http_server.url("/rss"), smtp_server, http_server.port)
    daemon = Daemon(config)
    daemons.append(daemon)
    assert wait_for(lambda: len(http_server.posts("/hook")) == 1 and len(smtp_server.messages) == 1, 30)
    url = make_url(pg_url)
    admin = dict(host=url.host, port=url.port or 5432, user=url.username, dbname="postgres", autocommit=True)
    with psycopg.connect(**admin) as conn:  # type: ignore[arg-type]
        conn.execute(f'ALTER DATABASE "{url.database}" ALLOW_CONNECTIONS false')
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (url.database,)
        )
    try:
        news = Item("o-1", "Navy confirms RELOS refuelling drill", "A tanker served two frigates.",
                    "https://herald.example/o/1")
        http_server.routes["/rss"] = Route(rss([news, RELOS_ITEM, NOISE_ITEM]))
        time.sleep(4)  # several poll, delivery and heartbeat ticks
    finally:
        with psycopg.connect(**admin) as conn:  # type: ignore[arg-type]
            conn.execute(f'ALTER DATABASE "{url.database}" ALLOW_CONNECTIONS true')
    if not wait_for(lambda: len(http_server.posts("/hook")) == 2 and len(smtp_server.messages) == 2, 30):
        raise AssertionError(f"the story was not alerted; daemon log:\n{daemon.stop()[1][-5000:]}")
    time.sleep(2)  # more ticks: nothing may be repeated
    code, err = daemon.stop()
    assert code == 0, err
    assert len(http_server.posts("/hook")) == 2 and len(smtp_server.messages) == 2
    assert err.count("is not currently accepting connections (the daemon goes on") == 1, err[-4000:]
    assert err.count("the database answers again, after") == 1, err[-4000:]
    assert "Traceback" not in err, err[-6000:]
