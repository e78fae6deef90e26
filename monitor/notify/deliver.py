"""Deliver the outbox through apprise: claim, send, record.

One Apprise object per target, kept for the life of the process, with its pacing set
deliberately: apprise waits 5.5 s between two sends through one service by default; we send
few messages instead (rate limits fold the overflow into one summary; bursts are batched).
Each target is sent to from its own thread, so one slow or failing target delays no other.
"""

from __future__ import annotations

import logging
import random
from collections import defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import apprise

from monitor.config import DeliverySettings, NotificationConfig
from monitor.notify.quiet import in_quiet_hours, last_quiet_window
from monitor.notify.render import Format, Message, Renderer
from monitor.store import Delivery, Store

log = logging.getLogger(__name__)

_EMAIL_SCHEMES = ("mailto", "mailtos", "email", "sendgrid", "mailgun", "ses", "sparkpost", "smtp")
_FORMATS = {
    "html": apprise.NotifyFormat.HTML,
    "markdown": apprise.NotifyFormat.MARKDOWN,
    "text": apprise.NotifyFormat.TEXT,
}
#: Seconds between two sends through one chat service: Slack allows about one a second per webhook.
_PACING = 1.0


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    """What one delivery pass did (alerts counted, not messages)."""

    sent: int = 0
    failed: int = 0


@dataclass
class _Target:
    config: NotificationConfig
    apprise: Any
    format: Format
    masked: str


def _format_for(url: str, configured: str) -> Format:
    if configured != "auto":
        return configured  # type: ignore[return-value]  # validated by the config's Literal
    scheme = url.split("://", 1)[0].lower()
    return "html" if scheme in _EMAIL_SCHEMES else "markdown"


class Notifier:
    """The configured targets, ready to send. Targets whose URL is empty are skipped with one
    warning; URLs only ever reach the log masked."""

    def __init__(self, targets: Sequence[NotificationConfig], renderer: Renderer) -> None:
        self.renderer = renderer
        self.targets: dict[str, _Target] = {}
        self.invalid: dict[str, str] = {}
        for target in targets:
            if not target.url.strip():
                log.warning(
                    "notify: target %r has an empty URL (unset environment variable?); skipping it",
                    target.name,
                )
                continue
            obj = apprise.Apprise()
            if not obj.add(target.url, tag=target.name):
                self.invalid[target.name] = "apprise does not understand this URL"
                continue
            fmt = _format_for(target.url, target.format)
            for service in obj:
                # Email needs no pacing from us; chat keeps at most one send a second.
                service.request_rate_per_sec = (
                    0 if fmt == "html" else min(service.request_rate_per_sec, _PACING)
                )
            masked = ", ".join(service.url(privacy=True) for service in obj)  # type: ignore[no-untyped-call]  # apprise is untyped
            self.targets[target.name] = _Target(target, obj, fmt, masked)

    def send(self, target: str, message: Message) -> str | None:
        """Send one message; return None on success or the reason it failed."""
        entry = self.targets.get(target)
        if entry is None:
            return self.invalid.get(target, f"target {target!r} is not configured")
        result = entry.apprise.notify(
            body=message.body, title=message.title, body_format=_FORMATS[message.format], tag=target
        )
        if result:
            return None
        errors = [e.message for e in result.logs() if e.level in ("ERROR", "WARNING")]
        return "; ".join(errors[-3:]) or f"delivery to {entry.masked} failed"


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
    ) -> None:
        self.store, self.notifier, self.settings = store, notifier, settings
        self.target, self.now, self.clock, self.lease = target, now, clock, lease
        entry = notifier.targets.get(target)
        self.config = entry.config if entry else None
        self.format: Format = entry.format if entry else "text"
        self.tz = self.config.timezone if self.config else "UTC"
        self.sent = self.failed = 0
        self.down_until: datetime | None = None
        self.down_error = ""

    def deliver(
        self, rows: Sequence[Delivery], render: Callable[[Sequence[Delivery]], Message], kind: str
    ) -> None:
        """Render and send ``rows`` as one message, or as several when a chat message would be
        cut at the service's length limit (every row marked sent must have been shown)."""
        if self.down_until is not None:
            self.store.defer(rows, self.down_until, error=f"not tried: {self.down_error}", now=self.clock())
            self.failed += len(rows)
            return
        try:
            message = render(rows)
        except Exception as exc:  # a broken override template must not wedge the target's rows
            log.exception("notify: %s: cannot render the message", self.target)
            self._failed(rows, f"render: target {self.target}: {type(exc).__name__}: {exc}")
            return
        if message.truncated and len(rows) > 1:
            half = len(rows) // 2
            self.deliver(rows[:half], render, kind)
            self.deliver(rows[half:], render, kind)
            return
        self.store.renew(rows, self.clock() + self.lease)
        try:
            error = self.notifier.send(self.target, message)
        except Exception as exc:  # apprise promises not to raise; be safe anyway
            error = f"{type(exc).__name__}: {exc}"
        if error is None:
            self.store.mark_sent(rows, self.clock(), kind=kind)
            self.sent += len(rows)
            log.info("notify: %s: sent %s (%d alert(s))", self.target, kind, len(rows))
        else:
            self._failed(rows, error)

    def _failed(self, rows: Sequence[Delivery], error: str) -> None:
        at = self.clock()
        attempts = max(row.attempts for row in rows)
        retry_at = at + _retry_delay(attempts, self.settings)
        self.store.mark_failed(rows, at, error, retry_at)
        self.down_until, self.down_error = retry_at, error
        self.failed += len(rows)
        log.warning(
            "notify: %s: %d alert(s) not delivered (attempt %d): %s",
            self.target,
            len(rows),
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
        return DeliveryReport(self.sent, self.failed)

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
                heading = f"{len(alerts)} alert(s) held during quiet hours"
                self.deliver(alerts, self._render(heading), "release")
                return
        if config is not None and config.rate_limit is not None:
            self._rate_limited(alerts, config)
            return
        if len(alerts) <= self.settings.batch_threshold:
            for row in alerts:
                self.deliver([row], self._render(), "alert")
            return
        size = self.settings.batch_size
        for i in range(0, len(alerts), size):
            self.deliver(alerts[i : i + size], self._render(), "alert")

    def _rate_limited(self, alerts: list[Delivery], config: NotificationConfig) -> None:
        """At most ``count`` single alerts per period; the rest becomes ONE summary message per
        period, so nothing is dropped and nothing waits for hours."""
        assert config.rate_limit is not None
        window_start = self.now - config.rate_limit.period
        budget = config.rate_limit.count - self.store.count_messages(self.target, window_start, {"alert"})
        singles, overflow = alerts[: max(budget, 0)], alerts[max(budget, 0) :]
        for row in singles:
            self.deliver([row], self._render(), "alert")
        if not overflow:
            return
        if self.store.count_messages(self.target, window_start, {"summary"}):
            # This period's summary went out already: the rest waits for the next period.
            self.store.defer(overflow, self.now + config.rate_limit.period)
            return
        heading = f"{len(overflow)} more alert(s) (rate limit {config.rate_limit.count} per period)"
        self.deliver(overflow, self._render(heading, compact=True), "summary")


def deliver_pending(
    store: Store,
    notifier: Notifier,
    settings: DeliverySettings,
    *,
    now: datetime,
    due_only: bool = True,
    clock: Callable[[], datetime] | None = None,
    admin: str | None = None,
) -> DeliveryReport:
    """One delivery pass: expire dead rows (telling the admin once), claim what is due (targets
    in quiet hours excepted) and send it, each target in its own thread. Rows are marked sent
    right after the server accepted them; a failure leaves them pending with a backoff."""
    for target, (count, error) in store.expire_dead(now, settings.dead_after).items():
        log.error(
            "notify: %s: %d alert(s) undeliverable for %s, now dead: %s",
            target,
            count,
            settings.dead_after,
            error,
        )
        if admin and admin != target:
            store.enqueue_notice(
                admin,
                f"[monitor] {count} alert(s) to {target} could not be delivered",
                f"{count} alert(s) for target {target!r} failed for longer than {settings.dead_after} "
                f"and were given up.\nLast error: {error}\n"
                "See them with `monitor outbox --status dead`; "
                "requeue them with `monitor outbox retry --all-dead`.",
                now,
            )
    quiet = [
        name
        for name, t in notifier.targets.items()
        if t.config.quiet_hours and in_quiet_hours(t.config.quiet_hours, t.config.timezone, now)
    ]
    # The claim covers one send; each further send renews it (see _TargetRun.deliver).
    lease = settings.send_timeout * 2 + timedelta(seconds=10)
    rows = store.claim_deliveries(now, lease, due_only=due_only, exclude=quiet)
    if not rows:
        return DeliveryReport()
    by_target: dict[str, list[Delivery]] = defaultdict(list)
    for row in rows:
        by_target[row.target].append(row)
    tick_clock = clock or (lambda: now)

    def run(target: str, target_rows: list[Delivery]) -> DeliveryReport:
        return _TargetRun(store, notifier, settings, target, now, tick_clock, lease).run(target_rows)

    with ThreadPoolExecutor(max_workers=len(by_target), thread_name_prefix="deliver") as pool:
        reports = list(pool.map(lambda item: run(*item), by_target.items()))
    return DeliveryReport(sum(r.sent for r in reports), sum(r.failed for r in reports))
