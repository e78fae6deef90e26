"""The long-running daemon: APScheduler ticks, signals, graceful stop.

The schedule is built from the config at each start (no persistent job store: jobs would be
pickled and go stale). SIGTERM/SIGINT stop taking new work, let the work in hand finish, and
exit 0. SIGHUP reloads the config: a new one that does not load is logged and the running one
stays; one that does is applied as a restart would apply it (the work in hand finishes, then
the service starts again on the new config), so it loses and repeats nothing a restart would not.
"""

from __future__ import annotations

import contextlib
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
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from monitor.app import App, build_notifier, compile_settings_rules
from monitor.config import Settings
from monitor.config_notes import config_notes
from monitor.schedule import cron_trigger
from monitor.store import database_words

log = logging.getLogger(__name__)


class _DatabaseWatch:
    """Says once that the database is out of reach and once that it answers again, however
    many ticks fail in between: an outage of an hour is two lines, not a traceback a second.
    It is over when every job that failed has succeeded since (a poll getting through while
    a locked table still fails every delivery is no recovery)."""

    def __init__(self) -> None:
        self._since: float | None = None
        self._failing: set[str] = set()
        self._lock = threading.Lock()

    def failed(self, job: str, exc: DBAPIError) -> None:
        with self._lock:
            first = self._since is None
            if first:
                self._since = time.monotonic()
            self._failing.add(job)
        log.log(
            logging.ERROR if first else logging.DEBUG,
            "%s: database: %s%s",
            job,
            database_words(exc),
            " (the daemon goes on, and tries again at every tick)" if first else "",
        )

    def answered(self, job: str) -> None:
        with self._lock:
            self._failing.discard(job)
            since = self._since if not self._failing else None
            if since is not None:
                self._since = None
        if since is not None:
            log.info("the database answers again, after %.0f s", time.monotonic() - since)


def _poll_tick(app: App, watch: _DatabaseWatch) -> None:
    try:
        results = app.poll()
        app.check_health()
    except DBAPIError as exc:  # the feeds wait: their claims are made again once it answers
        watch.failed("poll", exc)
        return
    watch.answered("poll")
    if any(r.hits for r in results):
        # New hits go out now rather than at the next delivery tick. Not by rescheduling the
        # delivery job: APScheduler 3's shutdown holds the job store lock while it waits for
        # running jobs, so a job that reschedules another during a stop waits for ever.
        _deliver_tick(app, watch)


def _heartbeat_tick(app: App, watch: _DatabaseWatch) -> None:
    try:
        app.beat()
    except DBAPIError as exc:
        watch.failed("heartbeat", exc)
        return
    watch.answered("heartbeat")


def _deliver_tick(app: App, watch: _DatabaseWatch) -> None:
    try:
        app.deliver(wait=False)  # a target still sending from the last tick holds up no other
    except DBAPIError as exc:
        watch.failed("delivery", exc)
        return
    watch.answered("delivery")


def _prune_tick(app: App) -> None:
    try:
        app.prune()
    except DBAPIError as exc:  # a day's ticks apart: not one for the watch to wait for
        log.error("prune: database: %s (pruned at the next daily tick)", database_words(exc))


def _digest_tick(app: App, watch: _DatabaseWatch, target: str) -> None:
    try:
        fired = app.fire_digest(target)
    except DBAPIError as exc:
        log.error(
            "digest for %s: database: %s (its alerts go with the next digest)", target, database_words(exc)
        )
        return
    if fired:
        _deliver_tick(app, watch)  # see _poll_tick


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
_TICKS = frozenset({"poll", "deliver", "prune", "heartbeat"})


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


class _Signals:
    """What the signal handlers ask for, as plain attributes. A handler runs on the main thread
    between any two of its steps, even inside a lock it holds (an Event's, the logging
    module's), so a handler that took a lock could wait on itself forever: these only assign."""

    def __init__(self) -> None:
        self.stop: int | None = None  # the signal that asked to stop
        self.hangup = False

    def on_stop(self, signum: int, _frame: FrameType | None) -> None:
        self.stop = signum

    def on_hangup(self, _signum: int, _frame: FrameType | None) -> None:
        self.hangup = True


#: How often the main thread looks at the signal flags (and at ``stop``), in seconds.
_SIGNAL_POLL = 0.25
#: The first and the longest wait between attempts to start when no config can start.
_RESTART_RETRY = (5.0, 300.0)


def run_daemon(
    app: App, stop: threading.Event | None = None, reload: Callable[[], Settings] | None = None
) -> int:
    """Run until SIGTERM/SIGINT (or ``stop``) arrives; return the exit code. ``reload`` reads
    the config again, for SIGHUP (without it SIGHUP keeps its default action)."""
    stop = stop or threading.Event()
    signals = _Signals()
    handlers: dict[int, Callable[[int, FrameType | None], None]] = {
        signal.SIGTERM: signals.on_stop,
        signal.SIGINT: signals.on_stop,
    }
    if reload is not None:
        handlers[signal.SIGHUP] = signals.on_hangup
    previous_handlers = {sig: signal.signal(sig, handler) for sig, handler in handlers.items()}
    try:
        running: App | None = app
        while running is not None:
            settings = _serve(running, stop, signals, reload)
            running = None if settings is None else _restart(settings, running.settings, stop, signals)
    finally:
        for sig, handler in previous_handlers.items():
            signal.signal(sig, handler)
    log.info("monitor stopped")
    return 0


def _stopping(stop: threading.Event, signals: _Signals) -> bool:
    """Whether to stop: ``stop`` is set, or a signal asked for it (then ``stop`` is set too)."""
    if signals.stop is not None and not stop.is_set():
        log.info("received %s: finishing the work in hand", signal.Signals(signals.stop).name)
        stop.set()
    return stop.is_set()


def _restart(settings: Settings, previous: Settings, stop: threading.Event, signals: _Signals) -> App | None:
    """The service on the reloaded config, else on the previous one; when neither can start
    (the database is down, say), try again with growing waits rather than exit. None if a
    stop comes first."""
    wait, longest = _RESTART_RETRY
    while not _stopping(stop, signals):
        for candidate in (settings, previous):
            app: App | None = None
            try:
                app = App(candidate)
                app.prepare()
            except Exception as exc:  # whatever it is, the service must go on
                if app is not None:
                    app.close()
                which = "reloaded" if candidate is settings else "previous"
                log.error("%s\nthe %s config could not start", exc, which)
                continue
            if candidate is settings:
                log.info("config reloaded from %s", settings.source)
            else:
                log.warning("going on with the previous config")
            return app
        log.error("no config could start: trying again in %.0f s", wait)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline and not _stopping(stop, signals):
            stop.wait(_SIGNAL_POLL)
        wait = min(wait * 2, longest)
    return None


def _checked(reload: Callable[[], Settings]) -> Settings:
    """The config read again and checked as far as can be without stopping the service (what
    `monitor check` checks: keys, values, rules, notification URLs); raises ``MonitorError``."""
    settings = reload()
    compile_settings_rules(settings)
    build_notifier(settings)
    return settings


def _serve(
    app: App, stop: threading.Event, signals: _Signals, reload: Callable[[], Settings] | None
) -> Settings | None:
    """Run the schedule until ``stop`` (None) or a SIGHUP with a config that checks out (the
    new settings); the work in hand finishes first and ``app`` is closed either way."""
    if _stopping(stop, signals):  # a stop that came while this service was being started
        app.close()
        return None
    settings = app.settings
    scheduler = BackgroundScheduler(
        timezone=UTC,
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 60},
    )
    watch = _DatabaseWatch()
    scheduler.add_job(
        _poll_tick,
        "interval",
        args=(app, watch),
        id="poll",
        seconds=settings.tick.total_seconds(),
        next_run_time=datetime.now(UTC),
    )
    scheduler.add_job(
        _heartbeat_tick,
        "interval",
        args=(app, watch),
        id="heartbeat",
        seconds=app.beat_every.total_seconds(),
    )
    scheduler.add_job(
        _deliver_tick,
        "interval",
        args=(app, watch),
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
                args=(app, watch, target.name),
                id=f"digest:{target.name}",
                # However late (a suspended machine, a busy scheduler): a skipped digest would
                # hold its alerts back for a whole period.
                misfire_grace_time=None,
            )

    for note in config_notes(settings, app.rules):  # what `monitor check` notes, for a reload too
        log.warning("config: %s: note: %s", settings.source, note)
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
        while reloaded is None and not _stopping(stop, signals):
            if signals.hangup and reload is not None:
                signals.hangup = False
                log.info("received SIGHUP: reading the config again")
                try:
                    reloaded = _checked(reload)
                except Exception as exc:  # any config that cannot be read is kept out
                    log.error("%s\nthe config was not reloaded: the running one stays", exc)
                continue
            stop.wait(_SIGNAL_POLL)
        if reloaded is not None:
            log.info("applying the new config: finishing the work in hand")
    finally:
        done.set()
        scheduler.remove_job("heartbeat")  # before its last beat, which no tick may shorten
        with contextlib.suppress(SQLAlchemyError):  # the database away: the heartbeat lapses
            app.beat(last=True)
        scheduler.shutdown(wait=True)
        logging.getLogger("apscheduler.scheduler").removeFilter(busy)
        app.sign_off()
        app.close()
    return None if _stopping(stop, signals) else reloaded

