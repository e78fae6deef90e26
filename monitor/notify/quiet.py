"""Quiet hours in a target's own time zone. Pure."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo


def in_quiet_hours(window: tuple[time, time], timezone: str, now: datetime) -> bool:
    """Whether ``now`` falls in the daily window (which may span midnight, e.g. 22:00-07:00)."""
    start, end = window
    local = now.astimezone(ZoneInfo(timezone)).time()
    if start <= end:
        return start <= local < end
    return local >= start or local < end


def last_quiet_window(window: tuple[time, time], timezone: str, now: datetime) -> tuple[datetime, datetime]:
    """The most recent quiet period that has ended by ``now``, as UTC datetimes: alerts queued
    inside it were held and are released together."""
    start, end = window
    zone = ZoneInfo(timezone)
    local_now = now.astimezone(zone)
    end_at = datetime.combine(local_now.date(), end, zone)
    if end_at > local_now:
        end_at -= timedelta(days=1)
    start_at = datetime.combine(end_at.date(), start, zone)
    if start_at >= end_at:
        start_at -= timedelta(days=1)
    return start_at.astimezone(UTC), end_at.astimezone(UTC)


def quiet_until(window: tuple[time, time], timezone: str, now: datetime) -> datetime | None:
    """When the quiet period ``now`` falls in ends (UTC), or None outside quiet hours: what
    ``monitor outbox`` shows as a held alert's next attempt."""
    if not in_quiet_hours(window, timezone, now):
        return None
    zone = ZoneInfo(timezone)
    local_now = now.astimezone(zone)
    end_at = datetime.combine(local_now.date(), window[1], zone)
    if end_at <= local_now:
        end_at += timedelta(days=1)
    return end_at.astimezone(UTC)
