"""YAML + environment → frozen, validated settings, read once by the CLI and passed down.

``${VAR}`` (or ``${VAR:-default}``) in any string is replaced from the environment before
validation; ``$MONITOR_DATABASE_URL`` overrides ``database``. Every problem becomes a
:class:`~monitor.errors.ConfigError` naming the file and the key (``feeds[2].url``).
"""

from __future__ import annotations

import difflib
import logging
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
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from monitor.errors import ConfigError
from monitor.models import Rule

log = logging.getLogger(__name__)
DEFAULT_CONFIG = Path("config/monitor.yaml")
_RULE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_HOST_PORT = re.compile(r"^[\w.-]+:\d+(?:/|$)")
_LANGUAGE_TAG = re.compile(r"^[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{1,8})*$")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?\s*$")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(value: object) -> timedelta:
    """``"30s"``, ``"15m"``, ``"2h"``, ``"7d"`` → timedelta. A number needs its unit (0 aside):
    ``interval: 15`` is more likely meant as minutes than seconds, and 15 s would hammer the
    outlets, so it is refused rather than guessed."""
    if isinstance(value, timedelta):
        return value
    match = _DURATION.match(str(value)) if not isinstance(value, bool) else None
    if not match:
        raise ValueError(f"{value!r} is not a duration (use e.g. 30s, 15m, 2h, 7d)")
    if match[2] is None and float(match[1]) != 0:
        raise ValueError(f"{value!r} needs a unit: {match[1]}s, {match[1]}m, {match[1]}h or {match[1]}d")
    return timedelta(seconds=float(match[1]) * _UNITS[match[2] or "s"])


def _not_negative(value: timedelta) -> timedelta:
    if value < timedelta(0):
        raise ValueError("must not be negative")
    return value


def _positive(value: timedelta) -> timedelta:
    if value <= timedelta(0):
        raise ValueError("must be more than 0 (e.g. 30s, 15m)")
    return value


Duration = Annotated[timedelta, BeforeValidator(parse_duration), AfterValidator(_not_negative)]
#: A period something waits or repeats on: 0 would mean a busy loop.
PositiveDuration = Annotated[timedelta, BeforeValidator(parse_duration), AfterValidator(_positive)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FeedConfig(_Strict):
    """One feed to poll."""

    name: str = Field(min_length=1)
    url: str
    interval: PositiveDuration | None = None
    enabled: bool = True
    max_age: Duration | None = None
    full_text: Literal["auto", "always", "never"] | None = None  # None: the global full_text
    #: The language of the feed's stories (``ru``, ``hi``), over what the feed declares, for
    #: ``lang:``: many feeds declare none, some a wrong one (a CMS default of en-us).
    language: str | None = None

    @field_validator("language")
    @classmethod
    def _check_language(cls, tag: str | None) -> str | None:
        if tag is not None and not _LANGUAGE_TAG.match(tag):
            raise ValueError(f"{tag!r} is not a language tag like en, ru, hi or en-IN")
        return tag

    @field_validator("url")
    @classmethod
    def _check_url(cls, url: str) -> str:
        if not url.strip():
            raise ValueError("the URL is empty (an unset environment variable?)")
        if _HOST_PORT.match(url):  # "127.0.0.1:8701/rss.xml" would be read as a file name
            raise ValueError(f"{url!r} looks like a host and port without a scheme: write http://{url}")
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

    name: str
    query: str = Field(min_length=1)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _RULE_NAME.match(value):
            raise ValueError(
                f"{value!r} is not a usable rule name: letters, digits, '_', '.' and '-', "
                "starting with a letter or digit"
            )
        return value
    description: str = ""
    priority: int = 0

    def to_rule(self) -> Rule:
        return Rule(self.name, self.query, self.description, self.priority)


class RateLimit(_Strict):
    """At most ``count`` instant messages per ``period``; the overflow is folded into one summary."""

    count: int = Field(ge=1)
    period: PositiveDuration


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

    connect_timeout: PositiveDuration = timedelta(seconds=10)
    read_timeout: PositiveDuration = timedelta(seconds=20)
    max_bytes: int = Field(default=10_000_000, gt=0)
    max_redirects: int = Field(default=5, ge=0, le=20)
    user_agent: str = "monitor/0.1 (+https://github.com/; news-monitoring alert service)"
    concurrency: int = Field(default=4, ge=1, le=64)
    max_backoff: PositiveDuration = timedelta(hours=6)


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

    window: PositiveDuration = timedelta(days=3)  # stories further apart never join one cluster
    threshold: float = Field(default=0.15, gt=0, le=1)  # lower joins more, higher splits more
    update_every: Duration = timedelta(hours=1)  # on_cluster: update → at most one follow-up per period


class DeliverySettings(_Strict):
    """Outbox behaviour."""

    tick: PositiveDuration = timedelta(seconds=10)
    batch_threshold: int = Field(default=3, ge=1)  # more pending than this → one combined message
    batch_size: int = Field(default=25, ge=1)
    retry_base: PositiveDuration = timedelta(seconds=30)
    retry_max: PositiveDuration = timedelta(hours=1)
    send_timeout: PositiveDuration = timedelta(seconds=15)  # a claim covers one send (+10 s)
    # A row still failing this long after its first failure is dead.
    dead_after: PositiveDuration = timedelta(hours=24)


class HealthSettings(_Strict):
    """When a feed's trouble is worth one message to the admin target."""

    failing_after: PositiveDuration = timedelta(hours=6)  # no successful poll for this long
    silent_after: PositiveDuration = timedelta(days=3)  # polls fine but no new story for this long


class Settings(_Strict):
    """The whole validated configuration."""

    database: str = "sqlite:///monitor.db"
    interval: PositiveDuration = timedelta(minutes=15)  # default per-feed poll interval
    tick: PositiveDuration = timedelta(seconds=30)  # how often the daemon looks for due feeds
    max_age: Duration = timedelta(days=2)  # first poll of a feed: older stories are not alerted
    #: Stories older than this are forgotten (daily, and by `monitor db prune`), and one seen
    #: again that is published before it is stored without an alert. None: keep everything.
    retention: PositiveDuration | None = timedelta(days=365)
    fetch: FetchSettings = FetchSettings()
    full_text: Literal["auto", "always", "never"] = "auto"  # default for feeds that do not say
    fulltext: FulltextSettings = FulltextSettings()
    delivery: DeliverySettings = DeliverySettings()
    dedup: DedupSettings = DedupSettings()
    health: HealthSettings = HealthSettings()
    admin: str | None = None  # the notification target told about dead alerts and feed health
    feeds: tuple[FeedConfig, ...] = ()
    term_lists: dict[str, tuple[str, ...]] = {}
    rules: tuple[RuleConfig, ...]
    notifications: tuple[NotificationConfig, ...] = ()
    include: tuple[str, ...] = ()
    #: Where this was loaded from (set by the loader, not by users).
    source: str = ""
    #: The file and index each rule was written at (set by the loader: includes move them).
    rule_sources: tuple[tuple[str, int], ...] = ()
    #: The file each included term list was written in (set by the loader).
    list_sources: dict[str, str] = {}

    @field_validator("rules")
    @classmethod
    def _some_rules(cls, value: tuple[RuleConfig, ...]) -> tuple[RuleConfig, ...]:
        if not value:
            raise ValueError("no rules: write at least one (see config/rules.yaml)")
        return value

    @field_validator("database")
    @classmethod
    def _database(cls, value: str) -> str:
        """Checked here, so ``monitor check`` catches it, not the first command to connect."""
        value = value.strip()
        if not value:
            raise ValueError("is empty (an environment variable that is not set?)")
        try:
            url = make_url(value)
        except ArgumentError:
            raise ValueError(f"{value!r} is not a database URL (e.g. sqlite:///monitor.db)") from None
        if url.get_backend_name() not in ("sqlite", "postgresql", "postgres"):
            raise ValueError(
                f"{url.get_backend_name()!r} databases are not supported: use sqlite:///FILE or "
                "postgresql://user@host/dbname"
            )
        return value

    def rule_location(self, index: int) -> tuple[str, str]:
        """(file, key) of rule ``index``, for messages about it."""
        if index < len(self.rule_sources):
            file, at = self.rule_sources[index]
            return file, f"rules[{at}]"
        return self.source, f"rules[{index}]"

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


_Loc = tuple[int | str, ...]


def _unclosed_reference(value: Any, loc: _Loc = ()) -> tuple[_Loc, str] | None:
    """Where a ``${`` is left after expansion (``${MAIL_URL`` without its brace), and the value."""
    if isinstance(value, str):
        return (loc, value) if "${" in value else None
    items = enumerate(value) if isinstance(value, list) else value.items() if isinstance(value, dict) else ()
    for key, item in items:
        found = _unclosed_reference(item, (*loc, key))
        if found:
            return found
    return None


_KEY_PART_RE = re.compile(r"\[(\d+)\]|([^.\[\]]+)")


def key_line(file: str | None, key: str | None) -> int | None:
    """The line of ``key`` (``feeds[3].interval``) in the YAML ``file``, or of the deepest part
    of it written there (a missing key: its mapping), for messages; None if unknown."""
    return _find_key(file, key)[0]


def value_line(file: str | None, key: str | None, value: str, offset: int) -> int | None:
    """The line of character ``offset`` of the string ``value`` written at ``key``: a query over
    several lines (``|``, ``>`` or plain) is reported at the line at fault, not its key's. YAML
    changes only the whitespace of such a value, so the place is found by counting the other
    characters."""
    line, node, text = _find_key(file, key)
    if not isinstance(node, yaml.ScalarNode) or node.start_mark.line == node.end_mark.line:
        return line
    start = node.start_mark.index
    if node.style in ("|", ">"):  # the content begins on the line after the indicator
        start = text.find("\n", start) + 1
    elif node.style in ("'", '"'):
        inside = text[start + 1 : node.end_mark.index - 1]
        if "\\" in inside or node.style * 2 in inside:
            return line  # escapes change more than whitespace: the key's line it is
        start += 1
    wanted = sum(1 for c in value[:offset] if not c.isspace())
    # A place after the last word ("AND" with nothing after it) is that word's line.
    wanted = min(wanted, max(sum(1 for c in value if not c.isspace()) - 1, 0))
    seen = 0
    for i in range(start, node.end_mark.index):
        if text[i].isspace():
            continue
        if seen == wanted:
            return text.count("\n", 0, i) + 1
        seen += 1
    return line


def _find_key(file: str | None, key: str | None) -> tuple[int | None, yaml.Node | None, str]:
    """(line, value node, file text) of ``key`` in ``file``: the deepest part found."""
    if not file or not key:
        return None, None, ""
    try:
        text = Path(file).read_text(encoding="utf-8")
        node: yaml.Node | None = yaml.compose(text, Loader=yaml.SafeLoader)
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None, None, ""
    line = None
    for index, name in _KEY_PART_RE.findall(key):
        if isinstance(node, yaml.MappingNode) and name:
            pair = next((p for p in node.value if getattr(p[0], "value", None) == name), None)
            if pair is None:
                break
            line = pair[0].start_mark.line + 1
            node = pair[1]
        elif isinstance(node, yaml.SequenceNode) and index and int(index) < len(node.value):
            node = node.value[int(index)]
            line = node.start_mark.line + 1
        else:
            break
    else:
        return line, node, text
    return line, None, text


def with_line(exc: ConfigError) -> ConfigError:
    """``exc`` with the line of its key in its file, when it has neither a line nor a subclass."""
    if type(exc) is not ConfigError or exc.line is not None:
        return exc
    line = key_line(exc.file, exc.key)
    return exc if line is None else ConfigError(exc.message, file=exc.file, key=exc.key, line=line)


def _key_path(loc: tuple[int | str, ...]) -> str:
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML that refuses a key written twice in one mapping (plain YAML keeps the last one, so a
    second ``database:`` further down would silently win)."""


def _mapping_without_duplicates(loader: _UniqueKeyLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    lines: dict[Any, int] = {}
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":  # "<<: *anchor" merges; it is no key
            continue
        key = loader.construct_object(key_node)
        if not isinstance(key, str | int | float | bool | None):
            raise yaml.constructor.ConstructorError(
                None, None, "a key must be a plain value, not a list or a mapping", key_node.start_mark
            )
        if key in lines:
            raise yaml.constructor.ConstructorError(
                None, None, f"key {key!r} written twice (first on line {lines[key]})", key_node.start_mark
            )
        lines[key] = key_node.start_mark.line + 1
    return loader.construct_mapping(node)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping_without_duplicates)


def _read_yaml(path: Path, included_from: Path | None = None) -> dict[str, Any]:
    via = f" (included from {included_from})" if included_from else ""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror or exc}{via}", file=str(path)) from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"not UTF-8 text (byte {exc.start}){via}", file=str(path)) from exc
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # a SafeLoader: builds plain data only
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        line = mark.line + 1 if mark else None
        raise ConfigError(f"{where}invalid YAML: {problem}{via}", file=str(path), line=line) from exc
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError("the top level must be a mapping of keys", file=str(path))
    return data


def _merge_includes(path: Path, data: dict[str, Any]) -> None:
    """Merge ``include:``d files (which may hold only ``term_lists`` and ``rules``) into ``data``,
    remembering where each rule and list was written, for error messages."""
    includes = data.get("include") or []
    if not isinstance(includes, list):
        raise ConfigError("must be a list of file names", file=str(path), key="include")
    rules = data.get("rules")
    data["rule_sources"] = [(str(path), i) for i in range(len(rules) if isinstance(rules, list) else 0)]
    data["list_sources"] = {}
    for name in includes:
        inc_path = path.parent / str(name)
        inc = _read_yaml(inc_path, included_from=path)
        extra = set(inc) - {"term_lists", "rules"}
        if extra:
            raise ConfigError(
                f"an included file may only hold term_lists and rules, not {', '.join(sorted(extra))}",
                file=str(inc_path),
                key=sorted(extra)[0],
            )
        lists = _mapping(data.get("term_lists"), path, "term_lists")
        for list_name, terms in _mapping(inc.get("term_lists"), inc_path, "term_lists").items():
            if list_name in lists:
                raise ConfigError(
                    "term list defined twice", file=str(inc_path), key=f"term_lists.{list_name}"
                )
            lists[list_name] = terms
            data["list_sources"][list_name] = str(inc_path)
        data["term_lists"] = lists
        inc_rules = inc.get("rules") or []
        if not isinstance(inc_rules, list):
            raise ConfigError("must be a list of rules", file=str(inc_path), key="rules")
        data["rules"] = list(data.get("rules") or []) + inc_rules
        data["rule_sources"] += [(str(inc_path), i) for i in range(len(inc_rules))]


def _mapping(value: object, path: Path, key: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(
            "must be a mapping of names to lists, e.g. india_names: [India, Indian]", file=str(path), key=key
        )
    return dict(value)


def _resolve_local_feeds(path: Path, data: dict[str, Any]) -> None:
    """Relative feed paths are relative to the config file, so a config works from any cwd."""
    for feed in data.get("feeds") or []:
        url = feed.get("url") if isinstance(feed, dict) else None
        if not isinstance(url, str) or not url or urlsplit(url).scheme or _HOST_PORT.match(url):
            continue  # a URL, or a mistake the validator names
        if not Path(url).is_absolute():
            feed["url"] = str((path.parent / url).resolve())


def load_settings(path: Path | str, env: Mapping[str, str] | None = None) -> Settings:
    """Read, expand and validate the config at ``path``; raise ConfigError saying file and key."""
    path = Path(path)
    env = os.environ if env is None else env
    data = _read_yaml(path)
    try:
        _merge_includes(path, data)
    except ConfigError as exc:
        raise with_line(exc) from exc
    data = _expand_env(data, env)
    unclosed = _unclosed_reference(data)
    if unclosed is not None:
        file, key = _locate(path, data, unclosed[0])
        message = f"{unclosed[1]!r}: '${{' without its closing '}}' (write ${{VAR}})"
        raise ConfigError(message, file=file, key=key, line=key_line(file, key))
    _resolve_local_feeds(path, data)
    data["database"] = _database_beside(path, data.get("database", Settings.model_fields["database"].default))
    if env.get("MONITOR_DATABASE_URL"):
        data["database"] = env["MONITOR_DATABASE_URL"]
    data["source"] = str(path)
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        raise _config_error(exc, path, data) from exc
    try:
        _check_references(settings)
        _check_term_lists(settings)
    except ConfigError as exc:
        raise with_line(exc) from exc
    return settings


def _database_beside(path: Path, url: object) -> object:
    """A relative SQLite file is relative to the config file, like feed paths and includes: run
    from another directory, monitor must not start an empty database and alert everything
    again."""
    if not isinstance(url, str):
        return url
    try:
        parsed = make_url(url)
    except ArgumentError:
        return url  # the validator says what is wrong with it
    file = parsed.database
    if parsed.get_backend_name() != "sqlite" or not file or file == ":memory:" or file.startswith("file:"):
        return url
    if Path(file).is_absolute():
        return url
    beside = (path.parent / file).resolve()
    here = Path(file).resolve()
    if here != beside and here.exists() and not beside.exists():
        log.warning(
            "database: %s is not used: a relative SQLite file is now beside the config, %s; "
            "move it there to keep what it holds",
            here,
            beside,
        )
    return parsed.set(database=str(beside)).render_as_string(hide_password=False)


def _config_error(exc: ValidationError, path: Path, data: Mapping[str, Any]) -> ConfigError:
    """Every problem pydantic found, one per line, each with its file and key: the first alone
    can mislead (``ulr:`` for ``url:`` is first "url is missing", then "unknown key ulr")."""
    problems: list[tuple[str, str, int | None, str]] = []  # file, key, line, message
    for error in exc.errors()[:10]:
        file, key = _locate(path, data, tuple(error["loc"]))
        if error["type"] == "extra_forbidden":
            name = str(error["loc"][-1])
            homes = [where for where, model in _SECTIONS.items() if name in _keys(model)]
            close = difflib.get_close_matches(name, _FIELD_NAMES, n=1)
            if homes:  # a real key in the wrong place ("timezone" at the top level)
                message = f"{name!r} is not a key here; it belongs " + " or ".join(homes)
            else:
                message = f"unknown key {name!r}" + (f" (did you mean {close[0]!r}?)" if close else "")
        elif error["type"] == "missing":
            message = "required key is missing"
        elif error["type"] in ("tuple_type", "list_type"):  # "rules: relos" for "rules: [relos]"
            message = f"should be a list, e.g. [a, b], not {error['input']!r}"
        else:
            message = str(error["msg"]).removeprefix("Value error, ")
        problems.append((file, key, key_line(file, key), message))
    rest = [f"{f}:{n}: {k}: {m}" if n else f"{f}: {k}: {m}" for f, k, n, m in problems[1:]]
    if len(exc.errors()) > 10:
        rest.append(f"… and {len(exc.errors()) - 10} more")
    file, key, line, message = problems[0]
    return ConfigError(message + "".join(f"\n  {r}" for r in rest), file=file, key=key, line=line)


def _locate(path: Path, data: Mapping[str, Any], loc: tuple[int | str, ...]) -> tuple[str, str]:
    """The file and key of a problem: a rule or term list may come from an included file."""
    sources = data.get("rule_sources") or []
    if len(loc) >= 2 and loc[0] == "rules" and isinstance(loc[1], int) and loc[1] < len(sources):
        file, index = sources[loc[1]]
        return file, _key_path(("rules", index, *loc[2:]))
    lists = data.get("list_sources") or {}
    if len(loc) >= 2 and loc[0] == "term_lists" and loc[1] in lists:
        return lists[loc[1]], _key_path(loc)
    return str(path), _key_path(loc)


def format_duration(value: timedelta) -> str:
    """``3d``, ``12h``, ``90s``: a duration as the config writes it."""
    seconds = int(value.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


#: Query syntax written into a term list entry, which would be searched for as words: an entry
#: is one word or phrase ("-Pakistan" would find Pakistan, "Bharat OR Hindustan" three words).
_ENTRY_SYNTAX: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^\s*[-+!]"), "an entry cannot exclude or require: write that in the rule: @list -Pakistan"),
    (
        re.compile(r"(?:^|\s)(?:AND|OR|NOT|NEAR/\d+)(?=\s|$)"),
        "AND, OR, NOT and NEAR are operators, not words of an entry: write each alternative as an "
        "entry of its own, and other operators in the rule",
    ),
    (
        re.compile(r"^\s*=?\s*(?:title|summary|body|url|site|lang|feed|source)\s*:", re.IGNORECASE),
        "a field goes in the rule, before the list: title:@list",
    ),
    (re.compile(r"~\s*\d"), "a proximity (~n) goes in the rule: use the list inside NEAR/n there"),
    (re.compile(r'["\u201c\u201d]'), "an entry is a phrase already: write it without quotes"),
    (re.compile(r"(?:^|\s)@\w"), "a list cannot name another list: use both in the rule, (@a OR @b)"),
)


def _check_term_lists(settings: Settings) -> None:
    """Term list entries are words or phrases: an entry written like a query is refused, with
    the list's file and the entry's key, rather than searched for as words."""
    for name, entries in settings.term_lists.items():
        for index, entry in enumerate(entries):
            for pattern, why in _ENTRY_SYNTAX:
                if pattern.search(entry):
                    problem = why
                    break
            else:
                problem = "its parentheses do not pair" if entry.count("(") != entry.count(")") else ""
            if problem:
                raise ConfigError(
                    f"{entry!r}: {problem}",
                    file=settings.list_sources.get(name, settings.source),
                    key=f"term_lists.{name}[{index}]",
                )


def _location(settings: Settings, kind: str, index: int) -> tuple[str, str]:
    """(file, key) of item ``index`` of ``kind``: rules may come from included files."""
    return settings.rule_location(index) if kind == "rules" else (settings.source, f"{kind}[{index}]")


def _check_references(settings: Settings) -> None:
    """Names must be unique and notifications may only route rules that exist."""
    named: tuple[tuple[str, Sequence[FeedConfig | RuleConfig | NotificationConfig]], ...] = (
        ("feeds", settings.feeds),
        ("rules", settings.rules),
        ("notifications", settings.notifications),
    )
    for kind, items in named:
        seen: dict[str, int] = {}
        for index, item in enumerate(items):
            if item.name in seen:
                file, key = _location(settings, kind, index)
                first_file, first_key = _location(settings, kind, seen[item.name])
                first_line = key_line(first_file, f"{first_key}.name")
                if first_file != file:
                    at = f"{first_file}:{first_line}" if first_line else first_file
                    also = f"{at}: {first_key}.name"
                else:
                    also = f"{first_key}.name" + (f", line {first_line}" if first_line else "")
                message = f"duplicate name {item.name!r} (also at {also})"
                raise ConfigError(message, file=file, key=f"{key}.name")
            seen[item.name] = index
    if settings.retention is not None and settings.retention < settings.dedup.window:
        raise ConfigError(
            f"must be at least dedup.window ({format_duration(settings.dedup.window)} here): forgetting a"
            " story whose news event is still open would alert that event again",
            file=settings.source,
            key="retention",
        )
    target_names = [target.name for target in settings.notifications]
    if settings.admin is not None and settings.admin not in target_names:
        known = f"known: {', '.join(target_names)}" if target_names else "no notifications are configured"
        raise ConfigError(
            f"unknown notification target {settings.admin!r} ({known})",
            file=settings.source,
            key="admin",
        )
    urls: dict[str, str] = {}
    for index, feed in enumerate(settings.feeds):
        first = urls.setdefault(feed.url.strip(), feed.name)
        if first != feed.name:
            raise ConfigError(
                f"{feed.url!r} is already the URL of feed {first!r}: each feed once (two names for one"
                " feed would poll it twice and split its history)",
                file=settings.source,
                key=f"feeds[{index}].url",
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


#: Fields the loader fills in, never written in a config file.
_INTERNAL = frozenset({"source", "rule_sources", "list_sources"})


def _keys(model: type[_Strict]) -> set[str]:
    return set(model.model_fields) - _INTERNAL


#: Where each kind of key lives, to say where a key written in the wrong place belongs.
_SECTIONS: dict[str, type[_Strict]] = {
    "at the top level": Settings,
    "in a feed (feeds:)": FeedConfig,
    "in a rule (rules:)": RuleConfig,
    "in a notification target (notifications:)": NotificationConfig,
    "under fetch:": FetchSettings,
    "under fulltext:": FulltextSettings,
    "under dedup:": DedupSettings,
    "under delivery:": DeliverySettings,
    "under health:": HealthSettings,
    "in a target's rate_limit:": RateLimit,
}
#: Every key a config can hold, for "did you mean" on an unknown one.
_FIELD_NAMES = sorted(set().union(*(_keys(model) for model in _SECTIONS.values())))

