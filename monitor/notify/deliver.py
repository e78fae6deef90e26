"""Deliver the outbox through apprise: claim, send, record.

One Apprise object per target, kept for the life of the process, with its pacing set
deliberately: apprise waits 5.5 s between two sends through one service by default; we send
few messages instead (rate limits fold the overflow into one summary; bursts are batched).
Its timeouts are ours too (``delivery.send_timeout``), so a send always ends inside its claim.
A target that let a send time out gets more time for the next one (see ``Notifier.send``).

Each target is sent to from its own thread, under a lease in the database: one slow or failing
target delays no other, and across processes one sends to a target at a time, so no row is
sent twice and rate limits and pacing hold however many workers run.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import random
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import unquote

import apprise
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from monitor.config import DeliverySettings, NotificationConfig, format_duration
from monitor.notify.quiet import in_quiet_hours, last_quiet_window
from monitor.notify.render import Format, Message, Renderer, by_story, escape_for
from monitor.store import Delivery, Store, database_words

log = logging.getLogger(__name__)

_EMAIL_SCHEMES = ("mailto", "mailtos", "email", "sendgrid", "mailgun", "ses", "sparkpost", "smtp")
#: Sent over SMTP, where apprise waits up to its *connect* timeout at every step of the session.
_SMTP_SCHEMES = ("mailto", "mailtos", "email", "smtp", "smtps")
_FORMATS = {
    "html": apprise.NotifyFormat.HTML,
    "markdown": apprise.NotifyFormat.MARKDOWN,
    "text": apprise.NotifyFormat.TEXT,
}
#: Seconds between two sends through one chat service: Slack allows about one a second per webhook.
_PACING = 1.0
_DEFAULT_SEND_TIMEOUT = DeliverySettings().send_timeout
#: How far a target's read timeout grows, in send timeouts, after sends that got no answer.
_MOST_PATIENCE = 4
#: How long a sent message's mark is tried again while the database is away, at most.
_MARK_PATIENCE = timedelta(minutes=15)
#: The read timeouts slow targets needed, by URL, for the life of the process: a reload builds
#: a new Notifier, which must not learn again by repeating an alert.
_LEARNT: dict[str, float] = {}


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    """What one delivery pass did, in alerts (a story that matched two rules is one alert),
    not messages."""

    sent: int = 0
    failed: int = 0
    #: Not tried: their target had already failed in this pass (they wait for the same retry).
    waiting: int = 0


@dataclass
class _Target:
    config: NotificationConfig
    apprise: Any
    format: Format
    masked: str
    #: The service has no title field (Mattermost): apprise puts the title above the body,
    #: where the service renders it as markup like the body.
    title_in_body: bool
    #: Seconds to connect, and to wait for each read: the latter grows for a slow target
    #: (both over SMTP, whose every step apprise bounds with the connect timeout).
    connect_timeout: float
    read_timeout: float
    #: The parts of the URL apprise masks (tokens, passwords), longest first: an error's text
    #: (an HTTP library's "Max retries exceeded with url: /services/T…/B…/token") may hold them.
    secrets: tuple[str, ...] = ()
    smtp: bool = False

    @property
    def limit(self) -> float:
        """Seconds one send may take in all: apprise is told to stop waiting then."""
        return self.connect_timeout + self.read_timeout + 5

    def wait(self, seconds: float) -> None:
        """Wait up to ``seconds`` for each answer from now on."""
        self.read_timeout = seconds
        if self.smtp:
            self.connect_timeout = seconds
        for service in self.apprise:
            service.socket_read_timeout = seconds
            if self.smtp:
                service.socket_connect_timeout = seconds

    def redact(self, text: str) -> str:
        """``text`` with this target's secrets masked."""
        for secret in self.secrets:
            text = text.replace(secret, "****")
        return text


_URL_PARTS_RE = re.compile(r"[/:@?&=#]+")


def _secrets(services: Any) -> tuple[str, ...]:
    """What apprise's masked URL hides of the full one: the URL's parts it shows are no secret."""
    found: set[str] = set()
    for service in services:
        shown = set(_URL_PARTS_RE.split(service.url(privacy=True)))
        parts = _URL_PARTS_RE.split(service.url(privacy=False))
        for part in parts:
            if len(part) >= 4 and part not in shown:
                # The URL percent-encodes a token ("123456789%3AABC…"); an HTTP error quotes
                # the request as sent ("/bot123456789:ABC…/sendMessage").
                found.update((part, unquote(part)))
    return tuple(sorted(found, key=len, reverse=True))


def _format_for(url: str, configured: str) -> Format:
    if configured != "auto":
        return configured  # type: ignore[return-value]  # validated by the config's Literal
    return "html" if _scheme(url) in _EMAIL_SCHEMES else "markdown"


def _scheme(url: str) -> str:
    """``slack`` for ``slack://…``; empty for a URL naming no service."""
    return url.split("://", 1)[0].strip().lower() if "://" in url else ""


class _NotFromThisThread(logging.Filter):
    """Drops the records of the thread that made it (other threads' sends still log)."""

    def __init__(self) -> None:
        super().__init__()
        self.thread = threading.get_ident()

    def filter(self, record: logging.LogRecord) -> bool:
        return record.thread != self.thread


@contextlib.contextmanager
def _quiet(logger: logging.Logger) -> Iterator[None]:
    mute = _NotFromThisThread()
    logger.addFilter(mute)
    try:
        yield
    finally:
        logger.removeFilter(mute)


@functools.cache
def _known_schemes() -> frozenset[str]:
    found: set[str] = set()
    for schema in apprise.Apprise().details()["schemas"]:
        for key in ("protocols", "secure_protocols"):
            found.update(p.lower() for p in schema.get(key) or ())
    return frozenset(found)


def _why_invalid(url: str) -> str:
    """Why apprise refused a URL, without repeating it (it may hold a token or a password)."""
    scheme = _scheme(url)
    if not scheme:
        return "not a notification URL: it names no service, e.g. mailtos://… or slack://…"
    if scheme not in _known_schemes():
        return f"{scheme}:// is not a service apprise knows (e.g. mailtos://, slack://, json://)"
    return f"apprise cannot use this {scheme}:// URL: check its parts against apprise's page for {scheme}://"


def _keep_apprise_logs_to_sends() -> None:
    """apprise's log lines go to each send's own result (read in ``Notifier.send``), down to
    the debug line with the cause ("Socket Exception: [Errno 111] Connection refused" behind
    "Connection error"), and not to the log as well: a failure is logged once, by us, whole
    (with ``monitor -v``, apprise's own lines too)."""
    logger = logging.getLogger("apprise")
    verbose = logging.getLogger().isEnabledFor(logging.DEBUG)  # `monitor -v` shows them all
    logger.setLevel(logging.DEBUG)
    logger.propagate = verbose


def _cause(entries: Sequence[Any]) -> str:
    """What went wrong, from one send's captured apprise log: its warnings and errors, then the
    exception or the server's answer that apprise logs only at debug level."""
    said = [e.message for e in entries if e.level in ("ERROR", "WARNING")]
    why = [
        e.message.split("Exception: ", 1)[-1].strip()
        for e in entries
        if e.level == "DEBUG" and ("Exception: " in e.message or "Response Details" in e.message)
    ]
    stated = "; ".join(said[-3:])
    return f"{stated} ({'; '.join(why[-2:])})" if why else stated


class Notifier:
    """The configured targets, ready to send. Targets whose URL is empty are skipped with one
    warning; URLs only ever reach the log masked."""

    def __init__(
        self,
        targets: Sequence[NotificationConfig],
        renderer: Renderer,
        send_timeout: timedelta = _DEFAULT_SEND_TIMEOUT,
    ) -> None:
        self.renderer = renderer
        _keep_apprise_logs_to_sends()
        self.targets: dict[str, _Target] = {}
        self.invalid: dict[str, str] = {}
        seconds = send_timeout.total_seconds()
        self._most_patience = seconds * _MOST_PATIENCE
        #: The longest a send can be let take (a slow SMTP target's, both timeouts grown): no
        #: process may take a target's lease for stale while one may still be sending.
        self.longest_possible = timedelta(seconds=2 * self._most_patience + 5)
        # apprise's own limit for one send (60 s by default) is a backstop; each send is given
        # its target's own (``_Target.limit``), which its claim covers.
        asset = apprise.AppriseAsset(service_timeout=self.longest_possible.total_seconds())
        for target in targets:
            if not target.url.strip():
                log.warning(
                    "notify: target %r has an empty URL (unset environment variable?); skipping it",
                    target.name,
                )
                continue
            obj = apprise.Apprise(asset=asset)
            # apprise logs the rejected URL in full, secrets included; we say what is wrong.
            with _quiet(logging.getLogger("apprise")):
                added = obj.add(target.url, tag=target.name)
            if not added:
                self.invalid[target.name] = _why_invalid(target.url)
                continue
            fmt = _format_for(target.url, target.format)
            for service in obj:
                # Email needs no pacing from us; chat keeps at most one send a second.
                service.request_rate_per_sec = (
                    0 if fmt == "html" else min(service.request_rate_per_sec, _PACING)
                )
                # apprise gives up on a webhook after 4 s by default and would report a failure
                # the server may not have seen as one: it would be retried, and sent twice.
                service.socket_connect_timeout = service.socket_read_timeout = seconds
            masked = ", ".join(service.url(privacy=True) for service in obj)  # type: ignore[no-untyped-call]  # apprise is untyped
            title_in_body = any(service.title_maxlen <= 0 for service in obj)
            smtp = _scheme(target.url) in _SMTP_SCHEMES
            entry = _Target(target, obj, fmt, masked, title_in_body, seconds, seconds, _secrets(obj), smtp)
            self.targets[target.name] = entry
            self._recall(entry)

    def _recall(self, entry: _Target) -> None:
        """Give ``entry`` the longer wait a send to its URL needed earlier in this process
        (before a reload, or on the Notifier a reload replaced while that send ran)."""
        learnt = min(_LEARNT.get(entry.config.url, 0.0), self._most_patience)
        if learnt > entry.read_timeout:
            entry.wait(learnt)

    def longest_send(self, target: str) -> timedelta:
        """How long the next send to ``target`` can take: a claim must cover it."""
        entry = self.targets.get(target)
        if entry is None:
            return timedelta(0)
        self._recall(entry)
        return timedelta(seconds=entry.limit)

    def send(self, target: str, message: Message) -> str | None:
        """Send one message; return None on success or the reason it failed.

        A send that failed only after waiting out its read timeout may have reached a server
        that is merely slow to answer (apprise reports a timeout and a refusal alike); each
        retry would then repeat the message. So the target's read timeout grows, 4x at a
        time up to 4 send timeouts, and stays grown while the process runs, reloads included: a
        slow webhook repeats an alert once, not on every retry until it dies."""
        entry = self.targets.get(target)
        if entry is None:
            return self.invalid.get(target, f"target {target!r} is not configured")
        # A headline in the title of a service that shows it as part of the body must be
        # escaped like the body, or it could @channel a workspace or carry a forged link.
        title = escape_for(message.format, message.title) if entry.title_in_body else message.title
        self._recall(entry)
        started = time.monotonic()
        result = entry.apprise.notify(
            body=message.body,
            title=title,
            body_format=_FORMATS[message.format],
            tag=target,
            log_level=logging.DEBUG,
            timeout=entry.limit,
        )
        if result:
            return None
        # An HTTP error names the URL (path, token and all): masked like the target's URL.
        error = entry.redact(_cause(list(result.logs()))) or f"delivery to {entry.masked} failed"
        waited = entry.read_timeout
        if time.monotonic() - started < waited * 0.9 or "connect timeout" in error.lower():
            return error  # an answer, or no connection at all: the server has nothing
        if waited >= self._most_patience:
            return error + (
                f" (no answer within {waited:g} s, the longest wait: the server may have the message,"
                " and each retry may repeat it)"
            )
        _LEARNT[entry.config.url] = min(waited * _MOST_PATIENCE, self._most_patience)
        entry.wait(_LEARNT[entry.config.url])
        return error + (
            f" (no answer within {waited:g} s, and the server may have the message:"
            f" the next try waits up to {entry.read_timeout:g} s)"
        )


def _retry_delay(attempts: int, settings: DeliverySettings) -> timedelta:
    base = settings.retry_base.total_seconds() * 2 ** min(attempts, 16)
    return timedelta(seconds=min(base, settings.retry_max.total_seconds()) * random.uniform(0.8, 1.2))


class _TargetRun:
    """Sending one target's claimed rows, in the shape its settings ask for.

    After the first failure the target is taken to be down for this pass: its remaining rows
    are given back for the same retry time instead of each waiting out its own timeout."""

    def __init__(
        self,
        store: Store,
        notifier: Notifier,
        settings: DeliverySettings,
        target: str,
        now: datetime,
        clock: Callable[[], datetime],
        lease: timedelta,
        holder: str,
        longest: timedelta,
        stopping: threading.Event,
    ) -> None:
        self.store, self.notifier, self.settings = store, notifier, settings
        self.stopping = stopping
        self.target, self.now, self.clock, self.lease = target, now, clock, lease
        self.longest = longest
        self.holder = holder
        self.lost = False
        #: When, on the monotonic clock, the claim taken for the current send ends.
        self.claim_ends = 0.0
        entry = notifier.targets.get(target)
        self.config = entry.config if entry else None
        self.format: Format = entry.format if entry else "text"
        self.tz = self.config.timezone if self.config else "UTC"
        self.sent = self.failed = self.waiting = 0
        self.down_until: datetime | None = None
        self.down_error = ""

    def deliver(
        self, rows: Sequence[Delivery], render: Callable[[Sequence[Delivery]], Message], kind: str
    ) -> None:
        """Render and send ``rows`` as one message, or as several when a chat message would be
        cut at the service's length limit (every row marked sent must have been shown)."""
        if self.down_until is not None:
            self.store.defer(rows, self.down_until, error=f"not tried: {self.down_error}", now=self.clock())
            self.waiting += len(by_story(rows))
            return
        try:
            message = render(rows)
        except Exception as exc:  # a broken override template must not wedge the target's rows
            log.exception("notify: %s: cannot render the message", self.target)
            self._failed(rows, f"render: target {self.target}: {type(exc).__name__}: {exc}")
            return
        stories = by_story(rows)
        if message.truncated and len(stories) > 1:  # split between stories, never inside one
            half = len(stories) // 2
            self.deliver(_flat(stories[:half]), render, kind)
            self.deliver(_flat(stories[half:]), render, kind)
            return
        if not self._hold(rows):
            return
        try:
            error = self.notifier.send(self.target, message)
        except Exception as exc:  # apprise promises not to raise; be safe anyway
            entry = self.notifier.targets.get(self.target)
            error = f"{type(exc).__name__}: {exc}"
            error = entry.redact(error) if entry else error
        if error is None:
            self._record_sent(rows, kind)
            self.sent += len(by_story(rows))
            log.info("notify: %s: sent %s (%d alert(s))", self.target, kind, len(by_story(rows)))
        else:
            self._failed(rows, error)

    def _record_sent(self, rows: Sequence[Delivery], kind: str) -> None:
        """Mark ``rows`` sent, trying again while the database is away: the target has the
        message, and rows left unmarked are sent again. Every retry is safe: the mark is one
        transaction, only rows still ours are marked, and a retry records no second message
        (``again``). Past the rows' claim another worker may send them (so this tries on, for
        up to ``_MARK_PATIENCE``, as this process does not: the target is busy here), but not
        once the daemon is stopping."""
        delay, again = 0.25, False
        patience = time.monotonic() + _MARK_PATIENCE.total_seconds()
        while True:
            try:
                self.store.mark_sent(rows, self.clock(), kind=kind, again=again)
                if again:
                    log.info("notify: %s: the database recorded the %s sent", self.target, kind)
                return
            except DBAPIError as exc:
                now = time.monotonic()
                deadline = self.claim_ends if self.stopping.is_set() else max(self.claim_ends, patience)
                if now + delay > deadline:
                    log.error(
                        "notify: %s: sent %d alert(s), but the database did not record it (%s):"
                        " they will be sent again",
                        self.target,
                        len(by_story(rows)),
                        database_words(exc),
                    )
                    raise
                log.log(
                    logging.DEBUG if again else logging.WARNING,
                    "notify: %s: sent, but the database did not record it (%s); trying again"
                    " until it does",
                    self.target,
                    database_words(exc),
                )
                time.sleep(delay)
                delay, again = min(delay * 2, 4.0), True

    def _hold(self, rows: Sequence[Delivery]) -> bool:
        """Extend the target's lease and the rows' claims to cover one send. False, with the
        rows given back untouched, when another process has taken over (our lease ran out,
        say while the machine was suspended): it sends them, we must not."""
        now, started = self.clock(), time.monotonic()
        until = now + max(self.lease, self.notifier.longest_send(self.target) + timedelta(seconds=10))
        if not self.lost and self.store.take_lease(
            lease_name(self.target), self.holder, until, now, longest=self.longest
        ):
            held = self.store.renew(rows, until)
            if held == len(rows):
                # A few seconds' margin: another process may take the rows once the claim ends.
                self.claim_ends = started + (until - now).total_seconds() - 5
                return True
        self.lost = True
        self.store.release_claims(rows)
        log.warning("notify: %s: another process took over sending to it; leaving %d alert(s) to it",
                    self.target, len(rows))
        return False

    def _failed(self, rows: Sequence[Delivery], error: str) -> None:
        at = self.clock()
        attempts = max(row.attempts for row in rows)
        retry_at = at + _retry_delay(attempts, self.settings)
        self.store.mark_failed(rows, at, error, retry_at)
        self.down_until, self.down_error = retry_at, error
        self.failed += len(by_story(rows))
        # A target gone from the config fails every retry until its rows die: said once (see
        # ``Deliverer._send_target``), not a warning an hour for a day.
        log.log(
            logging.WARNING if self.config is not None else logging.DEBUG,
            "notify: %s: %d alert(s) not delivered (attempt %d): %s",
            self.target,
            len(by_story(rows)),  # a story that matched two rules is one alert
            attempts + 1,
            error,
        )

    def run(self, rows: list[Delivery]) -> DeliveryReport:
        for row in rows:
            if row.kind != "alert":
                self.deliver(
                    [row],
                    lambda r: self.notifier.renderer.notice(r[0].title or "", r[0].body or "", self.format),
                    row.kind,
                )
        alerts = [row for row in rows if row.kind == "alert"]
        if alerts:
            self._alerts(alerts)
        return DeliveryReport(self.sent, self.failed, self.waiting)

    def _render(
        self, heading: str | None = None, compact: bool = False
    ) -> Callable[[Sequence[Delivery]], Message]:
        renderer = self.notifier.renderer

        def render(rows: Sequence[Delivery]) -> Message:
            return renderer.alerts(rows, self.format, timezone=self.tz, heading=heading, compact=compact)

        return render

    def _alerts(self, alerts: list[Delivery]) -> None:
        config = self.config
        if config is not None and config.mode == "digest":
            renderer = self.notifier.renderer
            self.deliver(alerts, lambda r: renderer.digest(r, self.format, timezone=self.tz), "digest")
            return
        if config is not None and config.quiet_hours is not None:
            start, end = last_quiet_window(config.quiet_hours, config.timezone, self.now)
            if any(start <= (row.created_at or self.now) < end for row in alerts):
                heading = f"{len(by_story(alerts))} alert(s) held during quiet hours"
                self.deliver(alerts, self._render(heading), "release")
                return
        # A story that matched several rules is one alert: its rows go out together.
        stories = by_story(alerts)
        if config is not None and config.rate_limit is not None:
            self._rate_limited(stories, config)
            return
        if len(stories) <= self.settings.batch_threshold:
            for story_rows in stories:
                self.deliver(story_rows, self._render(), "alert")
            return
        size = self.settings.batch_size
        for i in range(0, len(stories), size):
            self.deliver(_flat(stories[i : i + size]), self._render(), "alert")

    def _rate_limited(self, stories: list[list[Delivery]], config: NotificationConfig) -> None:
        """At most ``count`` single alerts per period; the rest becomes ONE summary message per
        period, so nothing is dropped and nothing waits for hours."""
        assert config.rate_limit is not None
        window_start = self.now - config.rate_limit.period
        budget = config.rate_limit.count - self.store.count_messages(self.target, window_start, {"alert"})
        singles, rest = stories[: max(budget, 0)], stories[max(budget, 0) :]
        for story_rows in singles:
            self.deliver(story_rows, self._render(), "alert")
        overflow = _flat(rest)
        if not overflow:
            return
        if self.store.count_messages(self.target, window_start, {"summary"}):
            # This period's summary went out already: the rest waits for the next period.
            self.store.defer(overflow, self.now + config.rate_limit.period)
            return
        heading = f"{len(rest)} more alert(s) (rate limit {config.rate_limit.count} per period)"
        self.deliver(overflow, self._render(heading, compact=True), "summary")


def _flat(groups: Sequence[Sequence[Delivery]]) -> list[Delivery]:
    return [row for group in groups for row in group]


def lease_name(target: str) -> str:
    """The lease that makes one process at a time send to ``target``."""
    return f"deliver:{target}"


class Deliverer:
    """Delivery passes: expire dead rows (telling the admin once), then send each target's
    due rows (targets in quiet hours excepted) from a thread of its own.

    A pass can leave without waiting for its targets (the daemon): a target still sending is
    skipped by the next pass while the others go on. Rows are marked sent right after the
    server accepted them; a failure leaves them pending with a backoff."""

    def __init__(
        self,
        store: Store,
        notifier: Notifier,
        settings: DeliverySettings,
        *,
        admin: str | None = None,
        clock: Callable[[], datetime],
        update_every: timedelta = timedelta(0),
    ) -> None:
        self.store, self.notifier, self.settings = store, notifier, settings
        self.admin, self.clock = admin, clock
        # A send lasts at most 2x send_timeout (see Notifier), 5x to a target that was too slow
        # (``_TargetRun._hold`` extends the claims before each send): the lease covers one send.
        # Another process must not take a lease extended that far for one set by a wrong clock.
        self.lease = settings.send_timeout * 2 + timedelta(seconds=10)
        self.longest = notifier.longest_possible + timedelta(seconds=10)
        # The furthest ahead a retry time can be: the longest backoff (with its jitter), a rate
        # limit's period, or the wait of a "now also reported by" follow-up (``update_every``).
        # One further away was set by a clock that has since been put right.
        periods = [t.config.rate_limit.period for t in notifier.targets.values() if t.config.rate_limit]
        self.horizon = max([settings.retry_max * 1.25, update_every, *periods]) + timedelta(minutes=5)
        #: Holds this deliverer's leases. One per deliverer, not per pass: a lease it could not
        #: give back (a dropped connection) is its own to take at the next pass, not one to wait
        #: out; ``_busy`` keeps its own passes to one target at a time.
        self.holder = uuid.uuid4().hex
        self._busy: set[str] = set()
        self._stopping = threading.Event()
        self._told_gone: set[str] = set()
        self._told_held: set[str] = set()
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(
            max_workers=max(4, len(notifier.targets) + 1), thread_name_prefix="deliver"
        )

    def run(self, *, due_only: bool = True, wait: bool = True) -> DeliveryReport:
        """One pass; with ``wait``, return when every target is done, with what was done."""
        now = self.clock()
        self._expire_dead(now)
        quiet = [
            name
            for name, t in self.notifier.targets.items()
            if t.config.quiet_hours and in_quiet_hours(t.config.quiet_hours, t.config.timezone, now)
        ]
        futures: list[Future[DeliveryReport]] = []
        for target in self.store.targets_to_send(now, due_only=due_only, exclude=quiet, horizon=self.horizon):
            with self._lock:
                if target in self._busy:
                    continue  # still sending from an earlier pass
                self._busy.add(target)
            futures.append(self._pool.submit(self._send_target, target, now, due_only))
        if not wait:
            return DeliveryReport()
        reports = [future.result() for future in futures]
        return DeliveryReport(
            sum(r.sent for r in reports), sum(r.failed for r in reports), sum(r.waiting for r in reports)
        )

    def close(self) -> None:
        """Let the sends in hand finish (each is bounded by the send timeout; a sent mark the
        database refuses is tried no longer than the rows' claim)."""
        self._stopping.set()
        self._pool.shutdown(wait=True)

    def _send_target(self, target: str, now: datetime, due_only: bool) -> DeliveryReport:
        holder = self.holder
        try:
            at, name = self.clock(), lease_name(target)
            if not self.store.take_lease(name, holder, at + self.lease, at, longest=self.longest):
                until = self.store.lease_until(lease_name(target))
                # A killed process (this one's predecessor, after a restart) holds it too, until
                # the lease runs out: say when the alerts will move at the latest. Said once
                # until this process sends to the target again: a second worker beside a busy
                # one would say it at every tick.
                told = target in self._told_held
                self._told_held.add(target)
                log.log(
                    logging.DEBUG if told else logging.INFO,
                    "notify: %s: another process holds the lease to send to it%s",
                    target,
                    f" until {until:%H:%M:%S} UTC (if that process was killed, its alerts wait until then)"
                    if until
                    else "",
                )
                return DeliveryReport()
            self._told_held.discard(target)
            try:
                entry = self.notifier.targets.get(target)
                if due_only and not (entry and entry.config.rate_limit):
                    # (A rate limit's deferrals must hold: a woken row would only be deferred
                    # again, a period later each time.)
                    self.store.wake_retries(target, self.clock())
                rows = self.store.claim_deliveries(
                    self.clock(), self.lease, due_only=due_only, target=target, horizon=self.horizon
                )
                gone = entry is None and target not in self.notifier.invalid
                if rows and gone and target not in self._told_gone:
                    self._told_gone.add(target)
                    log.warning(
                        "notify: %s: %d alert(s) wait for this target, which the config no longer has:"
                        " they are tried again with backoff and die after %s unless it comes back"
                        " (see them with `monitor outbox`)",
                        target,
                        len(by_story(rows)),
                        format_duration(self.settings.dead_after),
                    )
                run = _TargetRun(
                    self.store, self.notifier, self.settings, target, now, self.clock, self.lease, holder,
                    self.longest, self._stopping,
                )
                return run.run(rows)
            finally:
                self._give_back(target)
        except DBAPIError as exc:  # the database went away: this target waits for a later pass
            # A warning: nothing is lost, the next pass takes the alerts up again, and an
            # outage as a whole is the daemon's to report (once).
            log.warning("notify: %s: delivery pass failed: database: %s", target, database_words(exc))
            return DeliveryReport()
        except Exception:  # a bug: the other targets go on
            log.exception("notify: %s: delivery pass failed", target)
            return DeliveryReport()
        finally:
            with self._lock:
                self._busy.discard(target)

    def _give_back(self, target: str) -> None:
        """Drop the target's lease. Failing that (the database dropped the connection), this
        deliverer takes it again at its next pass (the lease is its own); other processes wait
        for it to run out."""
        try:
            self.store.drop_lease(lease_name(target), self.holder)
        except SQLAlchemyError as exc:
            log.warning(
                "notify: %s: cannot give back the lease to send to it (%s): other processes wait"
                " until it runs out",
                target,
                database_words(exc),
            )

    def _expire_dead(self, now: datetime) -> None:
        settings = self.settings
        for target, (count, error) in self.store.expire_dead(now, settings.dead_after).items():
            log.error(
                "notify: %s: %d alert(s) undeliverable for %s, now dead: %s",
                target,
                count,
                settings.dead_after,
                error,
            )
            if self.admin and self.admin != target:
                self.store.enqueue_notice(
                    self.admin,
                    f"[monitor] {count} alert(s) to {target} could not be delivered",
                    f"{count} alert(s) for target {target!r} failed for longer than {settings.dead_after} "
                    f"and were given up.\nLast error: {error}\n"
                    "See them with `monitor outbox --status dead`; "
                    "requeue them with `monitor outbox retry --all-dead`.",
                    now,
                )


def deliver_pending(
    store: Store,
    notifier: Notifier,
    settings: DeliverySettings,
    *,
    now: datetime,
    due_only: bool = True,
    clock: Callable[[], datetime] | None = None,
    admin: str | None = None,
    update_every: timedelta = timedelta(0),
) -> DeliveryReport:
    """One delivery pass at ``now`` that waits for every target (``monitor run --once``)."""
    deliverer = Deliverer(
        store, notifier, settings, admin=admin, clock=clock or (lambda: now), update_every=update_every
    )
    try:
        return deliverer.run(due_only=due_only)
    finally:
        deliverer.close()
