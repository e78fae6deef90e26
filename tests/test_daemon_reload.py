"""A reloaded config that cannot start: the daemon goes on with the previous one, or keeps
trying while neither can start (a database down), and a stop still ends it."""

from __future__ import annotations

import logging
import signal
import threading
from pathlib import Path

import pytest

from monitor import daemon
from monitor.app import App
from monitor.config import Settings, load_settings
from tests.feeds import RELOS_ITEM, rss
from tests.servers import HTTPServer, Route, wait_for


def _settings(tmp_path: Path, name: str, database: str) -> Settings:
    path = tmp_path / f"{name}.yaml"
    path.write_text(f"database: {database}\nrules:\n  - name: relos\n    query: RELOS\n", encoding="utf-8")
    return load_settings(path, env={})


_DOWN = "postgresql://postgres@127.0.0.1:1/nowhere"  # nothing listens on port 1


def _with_feed(tmp_path: Path, url: str) -> Settings:
    path = tmp_path / "feed.yaml"
    text = f"""
database: sqlite:///{tmp_path}/m.db
feeds:
  - name: Herald
    url: {url}
rules:
  - name: relos
    query: RELOS
"""
    path.write_text(text, encoding="utf-8")
    return load_settings(path, env={})


def test_a_reloaded_config_that_cannot_start_falls_back_to_the_previous_one(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    new = _settings(tmp_path, "new", _DOWN)
    previous = _settings(tmp_path, "old", f"sqlite:///{tmp_path}/m.db")
    caplog.set_level(logging.INFO, logger="monitor.daemon")
    app = daemon._restart(new, previous, threading.Event(), daemon._Signals())
    assert app is not None
    try:
        assert app.settings is previous
    finally:
        app.close()
    assert "the reloaded config could not start" in caplog.text
    assert "going on with the previous config" in caplog.text


def test_when_no_config_can_start_it_keeps_trying_until_stopped(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(daemon, "_RESTART_RETRY", (0.05, 0.1))
    down = _settings(tmp_path, "down", _DOWN)
    stop = threading.Event()
    result: list[object] = []
    signals = daemon._Signals()
    worker = threading.Thread(target=lambda: result.append(daemon._restart(down, down, stop, signals)))
    caplog.set_level(logging.INFO, logger="monitor.daemon")
    worker.start()
    worker.join(1.5)
    assert worker.is_alive(), "it gave up (the daemon used to exit here)"
    stop.set()
    worker.join(10)
    assert result == [None]
    assert caplog.text.count("no config could start: trying again") >= 2


def test_a_stop_that_comes_while_a_service_starts_ends_it_before_any_work(
    tmp_path: Path, http_server: HTTPServer
) -> None:
    """SIGTERM during a reload: the new service is not started for a poll and a delivery pass."""
    http_server.routes["/rss"] = Route(rss([RELOS_ITEM]))
    app = App(_with_feed(tmp_path, http_server.url("/rss")))
    app.prepare()
    signals = daemon._Signals()
    signals.stop = signal.SIGTERM  # arrived while the service was being prepared
    assert daemon._serve(app, threading.Event(), signals, None) is None
    assert http_server.requests == [], "a poll ran after the stop"


def test_a_stop_while_a_poll_with_hits_runs_ends_when_the_poll_ends(
    tmp_path: Path, http_server: HTTPServer
) -> None:
    """The poll finds a hit after the stop began: the stop waits for it and ends. (The poll used
    to reschedule the delivery job, which waits for the lock APScheduler's shutdown holds
    while it waits for the poll: the daemon hung on SIGTERM.)"""
    http_server.routes["/rss"] = Route(rss([RELOS_ITEM]), delay=1.0)
    app = App(_with_feed(tmp_path, http_server.url("/rss")))
    app.prepare()
    signals = daemon._Signals()
    stop = threading.Event()
    result: list[object] = []
    serving = threading.Thread(
        target=lambda: result.append(daemon._serve(app, stop, signals, None)), daemon=True
    )
    serving.start()
    assert wait_for(lambda: bool(http_server.requests), 10), "no poll started"
    signals.stop = signal.SIGTERM  # while the feed is still answering
    serving.join(20)
    assert not serving.is_alive(), "the stop hung"
    assert result == [None]
    assert app.store.outbox_counts() == {}  # no target configured: the hit is stored, nothing queued


def test_what_monitor_check_notes_is_logged_when_a_service_starts(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A config edited for `systemctl reload` is checked by no one running `monitor check`: the
    service logs its notes (here a lower-case "or", searched for as a word) each time it
    starts, at start-up and after every reload."""
    path = tmp_path / "noted.yaml"
    path.write_text(
        f"database: sqlite:///{tmp_path}/m.db\nrules:\n  - name: relos\n    query: RELOS or Relos\n",
        encoding="utf-8",
    )
    app = App(load_settings(path, env={}))
    app.prepare()
    caplog.set_level(logging.INFO, logger="monitor.daemon")
    stop = threading.Event()
    serving = threading.Thread(target=daemon._serve, args=(app, stop, daemon._Signals(), None), daemon=True)
    serving.start()
    try:
        assert wait_for(lambda: "note:" in caplog.text, 10), caplog.text
    finally:
        stop.set()
        serving.join(20)
    (record,) = [r for r in caplog.records if "note:" in r.getMessage()]
    assert record.levelno == logging.WARNING
    assert f"config: {path}: note: rule 'relos': 'or' in lower case is a word" in record.getMessage()
