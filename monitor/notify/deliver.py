"""Deliver the outbox through apprise: claim, send, record. One Apprise object per target,
kept for the life of the process, with its pacing set deliberately (apprise's default is
5.5 s between two sends through one service; we batch instead of queueing sends)."""

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
from monitor.notify.render import Format, Message, Renderer
from monitor.store import Delivery, Store

log = logging.getLogger(__name__)

_EMAIL_SCHEMES = ("mailto", "mailtos", "email", "sendgrid", "mailgun", "ses", "sparkpost", "smtp")
_FORMATS = {
    "html": apprise.NotifyFormat.HTML,
    "markdown": apprise.NotifyFormat.MARKDOWN,
    "text": apprise.NotifyFormat.TEXT,
}
#: Seconds between two sends through one service: enough for Slack's one-a-second webhook limit.
_PACING = 1.0


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    """What one delivery pass did."""

    sent: int = 0
    failed: int = 0


@dataclass
class _Target:
    name: str
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
                log.error("notify: target %r: apprise does not understand its URL", target.name)
                continue
            for service in obj:
                service.request_rate_per_sec = min(service.request_rate_per_sec, _PACING)
                if _format_for(target.url, target.format) == "html":
                    service.request_rate_per_sec = 0  # an SMTP server needs no pacing from us
            masked = ", ".join(service.url(privacy=True) for service in obj)  # type: ignore[no-untyped-call]
            self.targets[target.name] = _Target(
                target.name, obj, _format_for(target.url, target.format), masked
            )

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


def _chunks(rows: Sequence[Delivery], settings: DeliverySettings) -> list[list[Delivery]]:
    """One message per alert for a few; batches for a burst, so a hundred hits take a handful
    of sends rather than minutes of paced ones."""
    if len(rows) <= settings.batch_threshold:
        return [[row] for row in rows]
    size = settings.batch_size
    return [list(rows[i : i + size]) for i in range(0, len(rows), size)]


def deliver_pending(
    store: Store,
    notifier: Notifier,
    settings: DeliverySettings,
    *,
    now: datetime,
    due_only: bool = True,
    clock: Callable[[], datetime] | None = None,
) -> DeliveryReport:
    """Claim pending outbox rows and send them, each target in its own thread so one slow or
    failing target never delays the others. Rows are marked sent right after the server
    accepted them; a failure leaves them pending with a backoff."""
    lease = settings.send_timeout * 4 + timedelta(minutes=1)
    rows = store.claim_deliveries(now, lease, due_only=due_only)
    if not rows:
        return DeliveryReport()
    by_target: dict[str, list[Delivery]] = defaultdict(list)
    for row in rows:
        by_target[row.target].append(row)

    def run(target: str, target_rows: list[Delivery]) -> DeliveryReport:
        sent = failed = 0
        fmt = notifier.targets[target].format if target in notifier.targets else "text"
        for chunk in _chunks(target_rows, settings):
            error = notifier.send(target, notifier.renderer.render(chunk, fmt))
            at = clock() if clock else now
            ids = [row.id for row in chunk]
            if error is None:
                store.mark_sent(ids, at)
                sent += len(chunk)
                log.info("notify: %s: sent %d alert(s)", target, len(chunk))
            else:
                attempts = max(row.attempts for row in chunk)
                store.mark_failed(ids, at, error, at + _retry_delay(attempts, settings))
                failed += len(chunk)
                log.warning(
                    "notify: %s: %d alert(s) not delivered (attempt %d): %s",
                    target,
                    len(chunk),
                    attempts + 1,
                    error,
                )
        return DeliveryReport(sent, failed)

    with ThreadPoolExecutor(max_workers=len(by_target), thread_name_prefix="deliver") as pool:
        reports = list(pool.map(lambda item: run(*item), by_target.items()))
    return DeliveryReport(sum(r.sent for r in reports), sum(r.failed for r in reports))
