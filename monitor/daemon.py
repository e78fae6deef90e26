"""The long-running daemon: APScheduler ticks, signals, graceful stop.

The schedule is built from the config at each start (no persistent job store: jobs would be
pickled and go stale). SIGTERM/SIGINT stop taking new work, let the work in hand finish, and
exit 0. SIGHUP reloads the config: a new one that does not load is logged and the running one
stays; one that does is applied as a restart would apply it (the work in hand finishes, then
the service starts again on the new config), so it loses and repeats nothing a restart would not.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from types import FrameType

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.triggers.cron import CronTrigger

from monitor.app import App, build_notifier, compile_settings_rules
from monitor.config import Settings
from monitor.errors import MonitorError
from monitor.schedule import cron_trigger

log = logging.getLogger(__name__)


def _poll_tick(app: App, scheduler: BackgroundScheduler) -> None:
    results = app.poll()
    app.check_health()
    if any(r.hits for r in results):
        # New hits go out now rather than at the next delivery tick.
        scheduler.modify_job("deliver", next_run_time=datetime.now(UTC))


def _deliver_tick(app: App) -> None:
    app.deliver(wait=False)  # a target still sending from the last tick holds up no other


def _prune_tick(app: App) -> None:
    app.prune()


def _digest_tick(app: App, scheduler: BackgroundScheduler, target: str) -> None:
    if app.fire_digest(target):
        scheduler.modify_job("deliver", next_run_time=datetime.now(UTC))


def reschedule_after_clock_step(scheduler: BaseScheduler, now: datetime) -> None:
    """Put every job's next run back in step with the clock.

    APScheduler 3 schedules by the wall clock: after the clock is set back a day, the next
    runs it had computed are a day away and nothing would run until then. Interval jobs run
    now (their later runs follow from this one); cron jobs (digests) due in the future go to
    their next time after ``now``, and those already due stay due."""
    for job in scheduler.get_jobs():
        if not isinstance(job.trigger, CronTrigger):
            scheduler.modify_job(job.id, next_run_time=now)
        elif job.next_run_time is None or job.next_run_time > now:
            # A digest whose time passed in the step (a suspend, a jump forward) keeps its due
            # run; one pushed ahead by a clock set back goes to its next time.
            scheduler.modify_job(job.id, next_run_time=job.trigger.get_next_fire_time(None, now))


def _watch_clock(
    scheduler: BaseScheduler,
    stop: threading.Event,
    every: float = 30.0,
    tolerance: float = 60.0,
    wall: Callable[[], float] = time.time,
    steady: Callable[[], float] = time.monotonic,
) -> None:
    """Until ``stop``: compare the wall clock with a steady one; when they part by more than
    ``tolerance`` seconds (NTP stepped the clock, a VM resumed), reschedule every job."""
    last_wall, last_steady = wall(), steady()
    while not stop.wait(every):
        now_wall, now_steady = wall(), steady()
        step = (now_wall - last_wall) - (now_steady - last_steady)
        last_wall, last_steady = now_wall, now_steady
        if abs(step) > tolerance:
            log.warning("the system clock jumped by %+.0f s: rescheduling every job", step)
            reschedule_after_clock_step(scheduler, datetime.now(UTC))


#: Jobs that may find their previous run still going: the next run picks up the work.
_TICKS = frozenset({"poll", "deliver", "prune"})


class _BusyTickFilter(logging.Filter):
    """APScheduler warns "skipped: maximum number of running instances reached" when a job is
    due while its last run is still going. For the ticks that is by design (a long poll or
    delivery pass; the next tick picks up its work), and a warning would send an operator
    looking for lost work, so it is logged at INFO, in our words. A skipped digest stays a
    warning."""

    def filter(self, record: logging.LogRecord) -> bool:
        job = record.args[0] if isinstance(record.args, tuple) and record.args else None
        job_id = getattr(job, "id", None)
        if (
            record.levelno == logging.WARNING
            and "maximum number of running instances" in str(record.msg)
            and job_id in _TICKS
        ):
            record.levelno, record.levelname = logging.INFO, logging.getLevelName(logging.INFO)
            record.msg = f"{job_id}: the last pass is still running; it goes on, this tick is skipped"
            record.args = ()
        return True


def run_daemon(
    app: App, stop: threading.Event | None = None, reload: Callable[[], Settings] | None = None
) -> int:
    """Run until SIGTERM/SIGINT (or ``stop``) arrives; return the exit code. ``reload`` reads
    the config again, for SIGHUP (without it SIGHUP keeps its default action)."""
    stop = stop or threading.Event()
    wake = threading.Event()  # a signal arrived, or ``stop`` was set from elsewhere
    hangup = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("received %s: finishing the work in hand", signal.Signals(signum).name)
        stop.set()
        wake.set()

    def on_hangup(_signum: int, _frame: FrameType | None) -> None:
        hangup.set()
        wake.set()

    handlers: dict[int, Callable[[int, FrameType | None], None]] = {
        signal.SIGTERM: on_signal,
        signal.SIGINT: on_signal,
    }
    if reload is not None:
        handlers[signal.SIGHUP] = on_hangup
    previous_handlers = {sig: signal.signal(sig, handler) for sig, handler in handlers.items()}
    threading.Thread(target=_relay, args=(stop, wake), name="stop-relay", daemon=True).start()
    try:
        while True:
            settings = _serve(app, stop, wake, hangup, reload)
            if settings is None:
                break
            previous = app.settings
            try:
                app = App(settings)
                app.prepare()
            except MonitorError as exc:
                # Checked before the old service stopped, so this is the database (unreachable,
                # a failed migration): better the previous config than no service.
                log.error("%s\nthe reloaded config could not start: going on with the previous one", exc)
                app = App(previous)
                app.prepare()
            else:
                log.info("config reloaded from %s", settings.source)
    finally:
        for sig, handler in previous_handlers.items():
            signal.signal(sig, handler)
    log.info("monitor stopped")
    return 0


def _checked(reload: Callable[[], Settings]) -> Settings:
    """The config read again and checked as far as can be without stopping the service (what
    `monitor check` checks: keys, values, rules, notification URLs); raises ``MonitorError``."""
    settings = reload()
    compile_settings_rules(settings)
    build_notifier(settings)
    return settings


def _serve(
    app: App,
    stop: threading.Event,
    wake: threading.Event,
    hangup: threading.Event,
    reload: Callable[[], Settings] | None,
) -> Settings | None:
    """Run the schedule until ``stop`` (None) or a SIGHUP with a config that checks out (the
    new settings); the work in hand finishes first and ``app`` is closed either way."""
    settings = app.settings
    scheduler = BackgroundScheduler(
        timezone=UTC,
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 60},
    )
    scheduler.add_job(
        _poll_tick,
        "interval",
        args=(app, scheduler),
        id="poll",
        seconds=settings.tick.total_seconds(),
        next_run_time=datetime.now(UTC),
    )
    scheduler.add_job(
        _deliver_tick,
        "interval",
        args=(app,),
        id="deliver",
        seconds=settings.delivery.tick.total_seconds(),
        next_run_time=datetime.now(UTC),
    )

    scheduler.add_job(
        _prune_tick,
        "interval",
        args=(app,),
        id="prune",
        hours=24,
        next_run_time=datetime.now(UTC) + timedelta(minutes=5),  # not in the way of the first poll
    )

    for target in settings.notifications:
        if target.mode == "digest" and target.name in app.notifier.targets and target.schedule:
            scheduler.add_job(
                _digest_tick,
                cron_trigger(target.schedule, target.timezone),
                args=(app, scheduler, target.name),
                id=f"digest:{target.name}",
                # However late (a suspended machine, a busy scheduler): a skipped digest would
                # hold its alerts back for a whole period.
                misfire_grace_time=None,
            )

    busy = _BusyTickFilter()
    logging.getLogger("apscheduler.scheduler").addFilter(busy)
    app.catch_up_digests()  # sent by the first delivery tick, which runs at once
    scheduler.start()
    done = threading.Event()  # this scheduler's end, when a reload replaces it
    threading.Thread(target=_watch_clock, args=(scheduler, done), name="clock-watch", daemon=True).start()
    log.info(
        "monitor running: %d feeds, %d rules, targets: %s",
        len(app.feeds),
        len(app.rules.rules),
        ", ".join(app.notifier.targets) or "none (log only)",
    )
    reloaded: Settings | None = None
    try:
        while reloaded is None and not stop.is_set():
            wake.wait()
            wake.clear()
            if hangup.is_set() and not stop.is_set() and reload is not None:
                hangup.clear()
                log.info("received SIGHUP: reading the config again")
                try:
                    reloaded = _checked(reload)
                except MonitorError as exc:
                    log.error("%s\nthe config was not reloaded: the running one stays", exc)
        if reloaded is not None:
            log.info("applying the new config: finishing the work in hand")
    finally:
        done.set()
        scheduler.shutdown(wait=True)
        logging.getLogger("apscheduler.scheduler").removeFilter(busy)
        app.close()
    return None if stop.is_set() else reloaded


def _relay(stop: threading.Event, wake: threading.Event) -> None:
    """A ``stop`` set from elsewhere (tests, an embedding program) wakes the daemon too."""
    stop.wait()
    wake.set()
