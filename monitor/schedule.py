"""Cron schedules for digests: 5 fields (minute hour day month weekday), or 6 with seconds first.

Weekdays follow crontab (0 or 7 = Sunday, 1 = Monday), not APScheduler 3's own numbering
(0 = Monday), so ``0 8 * * 1-5`` means weekdays as every cron user expects.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from apscheduler.triggers.cron import CronTrigger

_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


def _weekday_range(part: str) -> list[int]:
    body, _, step_text = part.partition("/")
    step = int(step_text) if step_text else 1
    if body == "*":
        start, end = 0, 6
    elif "-" in body:
        start, end = (int(x) for x in body.split("-", 1))
    else:
        start = end = int(body)
    if not (0 <= start <= 7 and 0 <= end <= 7 and start <= end and step >= 1):
        raise ValueError(f"weekday {part!r} is out of range (0-7, 0 and 7 are Sunday)")
    return [day % 7 for day in range(start, end + 1, step)]


def _weekdays(field: str) -> str:
    """Translate a crontab weekday field with numbers into APScheduler's weekday names."""
    if field == "*" or not any(ch.isdigit() for ch in field):
        return field
    days: set[int] = set()
    for part in field.split(","):
        days.update(_weekday_range(part))
    return ",".join(_NAMES[day] for day in sorted(days))


def cron_trigger(expression: str, timezone: str) -> CronTrigger:
    """An APScheduler CronTrigger; raises ValueError saying what is wrong with ``expression``."""
    fields = expression.split()
    if len(fields) == 5:
        fields = ["0", *fields]
    if len(fields) != 6:
        raise ValueError(f"{expression!r}: a cron schedule has 5 fields (minute hour day month weekday)")
    second, minute, hour, day, month, weekday = fields
    try:
        weekday = _weekdays(weekday)
    except ValueError as exc:
        raise ValueError(f"{expression!r}: {exc}") from exc
    return CronTrigger(
        second=second, minute=minute, hour=hour, day=day, month=month, day_of_week=weekday, timezone=timezone
    )


_LOOK_BACK = tuple(timedelta(minutes=m) for m in (1, 60, 1440, 32 * 1440, 366 * 1440))


def last_fire_time(trigger: CronTrigger, now: datetime) -> datetime | None:
    """The latest time ``trigger`` fires at or before ``now`` (None if none in the last year).

    APScheduler 3 only looks forward: look back over growing spans (a minute, an hour, a day,
    …) until one holds a fire time, then walk forward from it."""
    for span in _LOOK_BACK:
        fire: datetime | None = trigger.get_next_fire_time(None, now - span)
        if fire is not None and fire <= now:
            while (following := trigger.get_next_fire_time(fire, fire + timedelta(seconds=1))) is not None:
                if following > now:
                    break
                fire = following
            return fire
    return None

