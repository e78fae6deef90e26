"""The daemon's schedule on a real APScheduler scheduler: when the system clock jumps (started
paused, so no job runs, with jobs computed before the jump), and when a tick overruns."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy.exc import OperationalError

from monitor.daemon import _BusyTickFilter, _DatabaseWatch, _watch_clock, reschedule_after_clock_step
from monitor.schedule import cron_trigger, last_fire_time
from tests.servers import wait_for


def _nothing() -> None:
    pass


@pytest.fixture
def scheduler() -> Iterator[BackgroundScheduler]:
    s = BackgroundScheduler(timezone=UTC)
    s.start(paused=True)
    yield s
    s.shutdown(wait=False)


def _set_back_a_day(scheduler: BackgroundScheduler) -> datetime:
    """Jobs as they stand after the clock was set back a day: their next runs a day away."""
    now = datetime.now(UTC)
    scheduler.add_job(_nothing, "interval", id="poll", seconds=30, next_run_time=now + timedelta(days=1))
    scheduler.add_job(
        _nothing, cron_trigger("0 8 * * *", "UTC"), id="digest", next_run_time=now + timedelta(days=2)
    )
    return now


def test_after_the_clock_is_set_back_jobs_run_again_at_once(scheduler: BackgroundScheduler) -> None:
    """Without this, APScheduler 3 (which schedules by the wall clock) would run nothing for a
    day: polls and deliveries run now, the digest at its next 08:00."""
    now = _set_back_a_day(scheduler)
    reschedule_after_clock_step(scheduler, now)
    poll, digest = scheduler.get_job("poll"), scheduler.get_job("digest")
    assert abs((poll.next_run_time - now).total_seconds()) < 1
    eight = now.replace(hour=8, minute=0, second=0, microsecond=0)
    assert digest.next_run_time == (eight if eight > now else eight + timedelta(days=1))


def test_the_watch_notices_a_clock_step(scheduler: BackgroundScheduler) -> None:
    """The wall clock goes back an hour while the steady clock goes on: the jobs are put back
    in step. A few seconds of drift are not a step."""
    now = _set_back_a_day(scheduler)
    wall = iter([1000.0, 1030.5, *[1060.0 - 3600 + 30 * k for k in range(1000)]])
    steady = iter([0.0, 30.0, *[60.0 + 30 * k for k in range(1000)]])
    stop = threading.Event()
    watcher = threading.Thread(
        target=_watch_clock,
        args=(scheduler, stop),
        kwargs={"every": 0.01, "wall": lambda: next(wall), "steady": lambda: next(steady)},
    )
    watcher.start()
    try:
        deadline = datetime.now(UTC) + timedelta(seconds=10)
        while scheduler.get_job("poll").next_run_time > now + timedelta(hours=1):
            assert datetime.now(UTC) < deadline, "the step was not noticed"
            stop.wait(0.01)
    finally:
        stop.set()
        watcher.join()
    assert scheduler.get_job("digest").next_run_time <= now + timedelta(days=1)


def test_a_digest_due_during_a_jump_forward_stays_due(scheduler: BackgroundScheduler) -> None:
    """A suspend over 08:00 (or a jump forward past it) leaves the digest due: rescheduling
    must not skip it to tomorrow."""
    now = datetime.now(UTC)
    due = now - timedelta(hours=2)
    scheduler.add_job(_nothing, cron_trigger("0 8 * * *", "UTC"), id="digest", next_run_time=due)
    reschedule_after_clock_step(scheduler, now)
    assert scheduler.get_job("digest").next_run_time == due


@pytest.mark.parametrize(
    ("schedule", "expected"),
    [
        ("0 8 * * *", datetime(2026, 11, 22, 8, 0, tzinfo=UTC)),
        ("0 8,20 * * *", datetime(2026, 11, 22, 8, 0, tzinfo=UTC)),
        ("0 8 * * 1-5", datetime(2026, 11, 20, 8, 0, tzinfo=UTC)),  # the 22nd is a Sunday
        ("*/6 * * * * *", datetime(2026, 11, 22, 9, 30, tzinfo=UTC)),
        ("0 0 1 * *", datetime(2026, 11, 1, 0, 0, tzinfo=UTC)),
    ],
)
def test_the_period_a_digest_fires_for_is_the_time_just_reached(schedule: str, expected: datetime) -> None:
    """Workers firing for one period agree on its name, and a schedule that gains a time (20:00)
    names a new period rather than one already fired."""
    now = datetime(2026, 11, 22, 9, 30, tzinfo=UTC)
    assert last_fire_time(cron_trigger(schedule, "UTC"), now) == expected


def _slow() -> None:
    time.sleep(0.5)


def _slow_digest() -> None:
    time.sleep(0.5)


def test_an_overrunning_tick_is_explained_not_warned_about(caplog: pytest.LogCaptureFixture) -> None:
    """A delivery pass longer than the tick makes APScheduler skip the next tick with a warning
    an operator would take for lost work; it is logged at INFO in our words. A digest skipped
    this way stays a warning."""
    scheduler = BackgroundScheduler(timezone=UTC, job_defaults={"max_instances": 1})
    logger = logging.getLogger("apscheduler.scheduler")
    busy = _BusyTickFilter()
    logger.addFilter(busy)
    caplog.set_level(logging.INFO, logger="apscheduler.scheduler")
    try:
        scheduler.add_job(_slow, "interval", id="deliver", seconds=0.1)
        scheduler.add_job(_slow_digest, "interval", id="digest:morning", seconds=0.1)
        scheduler.start()

        def skipped(name: str) -> list[logging.LogRecord]:
            return [r for r in caplog.records if "skipped" in r.getMessage() and name in r.getMessage()]

        # Each job is skipped within a second; a loaded machine may take longer.
        assert wait_for(lambda: bool(skipped("deliver") and skipped("_slow_digest")), 20)
    finally:
        scheduler.shutdown(wait=True)
        logger.removeFilter(busy)
    deliver, digest = skipped("deliver"), skipped("_slow_digest")
    assert {(r.levelname, r.getMessage()) for r in deliver} == {
        ("INFO", "deliver: the last pass is still running; it goes on, this tick is skipped")
    }
    assert {r.levelname for r in digest} == {"WARNING"}


def test_a_database_outage_is_over_when_every_job_that_failed_gets_through(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A locked outbox fails every delivery tick while polls get through: that is one outage,
    told once, and over only when deliveries get through too; a later one is told again."""
    watch = _DatabaseWatch()
    cut = OperationalError("UPDATE outbox", {}, Exception("terminating connection"))

    def told(text: str) -> int:
        return sum(1 for r in caplog.records if text in r.getMessage() and r.levelno >= logging.INFO)

    with caplog.at_level(logging.DEBUG, logger="monitor.daemon"):
        watch.failed("delivery", cut)
        watch.answered("poll")
        watch.failed("delivery", cut)
        watch.failed("poll", cut)
        watch.answered("poll")
        assert told("the database answers again") == 0
        watch.answered("delivery")
        assert told("the database answers again") == 1
        assert told("delivery: database: terminating connection (the daemon goes on") == 1
        assert told("database: terminating connection") == 1
        watch.failed("heartbeat", cut)
        assert told("heartbeat: database: terminating connection (the daemon goes on") == 1
