"""YAML + environment → frozen, validated settings, read once by the CLI and passed down.

``${VAR}`` (or ``${VAR:-default}``) in any string is replaced from the environment before
validation; ``$MONITOR_DATABASE_URL`` overrides ``database``. Every problem becomes a
:class:`~monitor.errors.ConfigError` naming the file and the key (``feeds[2].url``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from datetime import time, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from monitor.errors import ConfigError
from monitor.models import Rule

DEFAULT_CONFIG = Path("config/monitor.yaml")
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?\s*$")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(value: object) -> timedelta:
    """``90`` (seconds), ``"30s"``, ``"15m"``, ``"2h"``, ``"7d"`` → timedelta."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return timedelta(seconds=value)
    match = _DURATION.match(str(value))
    if not match:
        raise ValueError(f"{value!r} is not a duration (use e.g. 30s, 15m, 2h, 7d)")
    return timedelta(seconds=float(match[1]) * _UNITS[match[2] or "s"])


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FeedConfig(_Strict):
    """One feed to poll."""

    name: str = Field(min_length=1)
    url: str
    interval: Duration | None = None
    enabled: bool = True
    max_age: Duration | None = None
    full_text: Literal["auto", "always", "never"] | None = None  # None: the global full_text

    @field_validator("url")
    @classmethod
    def _check_url(cls, url: str) -> str:
        parts = urlsplit(url)
        if parts.scheme in ("http", "https"):
            if not parts.hostname:
                raise ValueError(f"{url!r} has no host")
        elif parts.scheme == "file" or (not parts.scheme and url):
            pass  # local files are feeds too (tests, offline demos)
        else:
            raise ValueError(f"{url!r} is not an http(s) URL, file:// URL or local path")
        return url


class RuleConfig(_Strict):
    """A rule as written: compiled by monitor.match when the config loads."""

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
    query: str = Field(min_length=1)
    description: str = ""
    priority: int = 0

    def to_rule(self) -> Rule:
        return Rule(self.name, self.query, self.description, self.priority)


class RateLimit(_Strict):
    """At most ``count`` instant messages per ``period``; the overflow is folded into one summary."""

    count: int = Field(ge=1)
    period: Duration


def _parse_rate(value: object) -> object:
    if isinstance(value, str):
        count, _, period = value.partition("/")
        if not count.strip().isdigit() or not period.strip():
            raise ValueError(f"{value!r} is not a rate limit (use e.g. 5/1m)")
        return {"count": int(count), "period": period.strip()}
    return value


def _parse_quiet(value: object) -> object:
    if isinstance(value, str):
        match = re.fullmatch(r"\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*", value)
        if not match or int(match[1]) > 23 or int(match[3]) > 23 or int(match[2]) > 59 or int(match[4]) > 59:
            raise ValueError(f"{value!r} is not a time range (use e.g. 22:00-07:00)")
        return (time(int(match[1]), int(match[2])), time(int(match[3]), int(match[4])))
    return value


def _check_cron(value: str | None) -> str | None:
    if value is not None:
        fields = value.split()
        if len(fields) not in (5, 6):
            raise ValueError(f"{value!r} is not a cron schedule (5 fields: minute hour day month weekday)")
        from monitor.schedule import cron_trigger

        cron_trigger(value, "UTC")  # raises ValueError with APScheduler's reason
    return value


def _check_timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"{value!r} is not a time zone (use e.g. Asia/Kolkata, Europe/Moscow, UTC)") from exc
    return value


class NotificationConfig(_Strict):
    """One apprise target: which rules go there, and how (instant or digest)."""

    name: str = Field(min_length=1)
    url: str = ""
    rules: tuple[str, ...] | None = None  # None: every rule
    min_priority: int | None = None
    format: Literal["auto", "html", "markdown", "text"] = "auto"
    mode: Literal["instant", "digest"] = "instant"
    schedule: Annotated[str | None, AfterValidator(_check_cron)] = None  # digest: cron, e.g. "0 8 * * *"
    timezone: Annotated[str, AfterValidator(_check_timezone)] = "UTC"
    send_empty: bool = False  # digest: send "nothing new" when the period had no hits
    quiet_hours: Annotated[tuple[time, time] | None, BeforeValidator(_parse_quiet)] = None
    rate_limit: Annotated[RateLimit | None, BeforeValidator(_parse_rate)] = None
    #: Later stories of an already-alerted cluster: say nothing, or a short "now also reported by".
    on_cluster: Literal["suppress", "update"] = "suppress"

    @model_validator(mode="after")
    def _digest_needs_schedule(self) -> NotificationConfig:
        if self.mode == "digest" and not self.schedule:
            raise ValueError('a digest target needs a schedule, e.g. schedule: "0 8 * * *"')
        return self


class FetchSettings(_Strict):
    """HTTP behaviour shared by feed and article fetches."""

    connect_timeout: Duration = timedelta(seconds=10)
    read_timeout: Duration = timedelta(seconds=20)
    max_bytes: int = Field(default=10_000_000, gt=0)
    max_redirects: int = Field(default=5, ge=0, le=20)
    user_agent: str = "monitor/0.1 (+https://github.com/; news-monitoring alert service)"
    concurrency: int = Field(default=4, ge=1, le=64)
    max_backoff: Duration = timedelta(hours=6)


class FulltextSettings(_Strict):
    """Article fetching for new stories (see docs/fulltext.md)."""

    per_host: int = Field(default=2, ge=1, le=16)  # requests to one site at a time
    delay: Duration = timedelta(seconds=1)  # between two request starts to one site
    min_chars: int = Field(default=400, ge=0)  # feed text shorter than this → fetch (auto)
    max_chars: int = Field(default=100_000, ge=1000)  # stored article text is cut here
    # Article links come from feeds; by default none may lead to a loopback, private or
    # link-local address. True for news sites on your own network.
    allow_private: bool = False


class DedupSettings(_Strict):
    """One alert per news event (see docs/dedup.md for how the threshold was chosen)."""

    window: Duration = timedelta(days=3)  # stories further apart never join one cluster
    threshold: float = Field(default=0.15, gt=0, le=1)  # lower joins more, higher splits more
    update_every: Duration = timedelta(hours=1)  # on_cluster: update → at most one follow-up per period


class DeliverySettings(_Strict):
    """Outbox behaviour."""

    tick: Duration = timedelta(seconds=10)
    batch_threshold: int = Field(default=3, ge=1)  # more pending than this → one combined message
    batch_size: int = Field(default=25, ge=1)
    retry_base: Duration = timedelta(seconds=30)
    retry_max: Duration = timedelta(hours=1)
    send_timeout: Duration = timedelta(seconds=15)  # a claim covers 2x this (+10 s) per send
    dead_after: Duration = timedelta(hours=24)  # a row still failing this long after it was queued is dead


class HealthSettings(_Strict):
    """When a feed's trouble is worth one message to the admin target."""

    failing_after: Duration = timedelta(hours=6)  # no successful poll for this long
    silent_after: Duration = timedelta(days=3)  # polls fine but no new story for this long


class Settings(_Strict):
    """The whole validated configuration."""

    database: str = "sqlite:///monitor.db"
    interval: Duration = timedelta(minutes=15)  # default per-feed poll interval
    tick: Duration = timedelta(seconds=30)  # how often the daemon looks for due feeds
    max_age: Duration = timedelta(days=2)  # first poll of a feed: older stories are not alerted
    fetch: FetchSettings = FetchSettings()
    full_text: Literal["auto", "always", "never"] = "auto"  # default for feeds that do not say
    fulltext: FulltextSettings = FulltextSettings()
    delivery: DeliverySettings = DeliverySettings()
    dedup: DedupSettings = DedupSettings()
    health: HealthSettings = HealthSettings()
    admin: str | None = None  # the notification target told about dead alerts and feed health
    feeds: tuple[FeedConfig, ...] = ()
    term_lists: dict[str, tuple[str, ...]] = {}
    rules: tuple[RuleConfig, ...] = Field(min_length=1)
    notifications: tuple[NotificationConfig, ...] = ()
    include: tuple[str, ...] = ()
    #: Where this was loaded from (set by the loader, not by users).
    source: str = ""

    def feed_interval(self, feed: FeedConfig) -> timedelta:
        return feed.interval or self.interval

    def feed_full_text(self, feed: FeedConfig) -> Literal["auto", "always", "never"]:
        return feed.full_text or self.full_text

    def rule_objects(self) -> tuple[Rule, ...]:
        return tuple(rule.to_rule() for rule in self.rules)


def _expand_env(value: Any, env: Mapping[str, str]) -> Any:
    if isinstance(value, str):
        return _ENV_REF.sub(lambda m: env.get(m[1], m[2] or ""), value)
    if isinstance(value, list):
        return [_expand_env(item, env) for item in value]
    if isinstance(value, dict):
        return {key: _expand_env(item, env) for key, item in value.items()}
    return value


def _key_path(loc: tuple[int | str, ...]) -> str:
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror or exc}", file=str(path)) from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{where}invalid YAML: {problem}", file=str(path)) from exc
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError("the top level must be a mapping of keys", file=str(path))
    return data


def _merge_includes(path: Path, data: dict[str, Any]) -> None:
    """Merge ``include:``d files (which may hold only ``term_lists`` and ``rules``) into ``data``."""
    includes = data.get("include") or []
    if not isinstance(includes, list):
        raise ConfigError("must be a list of file names", file=str(path), key="include")
    for name in includes:
        inc_path = path.parent / str(name)
        inc = _read_yaml(inc_path)
        extra = set(inc) - {"term_lists", "rules"}
        if extra:
            raise ConfigError(
                f"an included file may only hold term_lists and rules, not {', '.join(sorted(extra))}",
                file=str(inc_path),
                key=sorted(extra)[0],
            )
        lists = dict(data.get("term_lists") or {})
        for list_name, terms in (inc.get("term_lists") or {}).items():
            if list_name in lists:
                raise ConfigError(
                    "term list defined twice", file=str(inc_path), key=f"term_lists.{list_name}"
                )
            lists[list_name] = terms
        data["term_lists"] = lists
        data["rules"] = list(data.get("rules") or []) + list(inc.get("rules") or [])


def _resolve_local_feeds(path: Path, data: dict[str, Any]) -> None:
    """Relative feed paths are relative to the config file, so a config works from any cwd."""
    for feed in data.get("feeds") or []:
        url = feed.get("url") if isinstance(feed, dict) else None
        if isinstance(url, str) and url and not urlsplit(url).scheme and not Path(url).is_absolute():
            feed["url"] = str((path.parent / url).resolve())


def load_settings(path: Path | str, env: Mapping[str, str] | None = None) -> Settings:
    """Read, expand and validate the config at ``path``; raise ConfigError saying file and key."""
    path = Path(path)
    env = os.environ if env is None else env
    data = _read_yaml(path)
    _merge_includes(path, data)
    data = _expand_env(data, env)
    _resolve_local_feeds(path, data)
    if env.get("MONITOR_DATABASE_URL"):
        data["database"] = env["MONITOR_DATABASE_URL"]
    data["source"] = str(path)
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        key = _key_path(tuple(first["loc"]))
        if first["type"] == "extra_forbidden":
            message = f"unknown key {first['loc'][-1]!r}"
        elif first["type"] == "missing":
            message = "required key is missing"
        else:
            message = str(first["msg"]).removeprefix("Value error, ")
        more = f" (and {len(exc.errors()) - 1} more problem(s))" if len(exc.errors()) > 1 else ""
        raise ConfigError(message + more, file=str(path), key=key) from exc
    _check_references(settings)
    return settings


def _check_references(settings: Settings) -> None:
    """Names must be unique and notifications may only route rules that exist."""
    named: tuple[tuple[str, Sequence[FeedConfig | RuleConfig | NotificationConfig]], ...] = (
        ("feeds", settings.feeds),
        ("rules", settings.rules),
        ("notifications", settings.notifications),
    )
    for kind, items in named:
        seen: set[str] = set()
        for index, item in enumerate(items):
            if item.name in seen:
                raise ConfigError(
                    f"duplicate name {item.name!r}",
                    file=settings.source,
                    key=f"{kind}[{index}].name",
                )
            seen.add(item.name)
    target_names = [target.name for target in settings.notifications]
    if settings.admin is not None and settings.admin not in target_names:
        raise ConfigError(
            f"unknown notification target {settings.admin!r} (known: {', '.join(target_names)})",
            file=settings.source,
            key="admin",
        )
    rule_names = {rule.name for rule in settings.rules}
    for index, target in enumerate(settings.notifications):
        for rule in target.rules or ():
            if rule not in rule_names:
                raise ConfigError(
                    f"unknown rule {rule!r} (known: {', '.join(sorted(rule_names))})",
                    file=settings.source,
                    key=f"notifications[{index}].rules",
                )
