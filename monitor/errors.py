"""The one exception tree of monitor.

Every message names the stage and the subject, e.g. ``fetch: https://x/rss: timed out after 20 s``::

    MonitorError
    ├── ConfigError            bad YAML, unknown key, bad value (carries file and key)
    │   ├── RuleError          a query that does not parse (carries rule, position, expected)
    │   └── UsageError         a bad command-line option or argument (key names the option)
    ├── FetchError             network or HTTP trouble for one URL
    │   ├── FetchTimeout
    │   ├── HTTPStatusError    carries status and Retry-After seconds
    │   └── TooLarge           body over the limit (after decompression)
    ├── ParseError             a feed with no entries and a parser error
    ├── StoreError             database trouble (unreachable, migration failed)
    └── DeliveryError          a notification target refused or failed
"""

from __future__ import annotations

from monitor.terminal import display_width


class MonitorError(Exception):
    """Base of every error monitor raises on purpose."""


class ConfigError(MonitorError):
    """The configuration cannot be used; ``str()`` says file, key and what is wrong."""

    #: What the message starts with: what kind of input was wrong.
    kind = "config"

    def __init__(
        self, message: str, *, file: str | None = None, key: str | None = None, line: int | None = None
    ) -> None:
        self.file = file
        self.key = key
        self.line = line
        self.message = message
        # ``file:line``, as compilers write it: editors and terminals open the file there.
        at = f"{file}:{line}" if file and line else file
        where = ": ".join(part for part in (at, key) if part)
        super().__init__(f"{self.kind}: {where}: {message}" if where else f"{self.kind}: {message}")


class UsageError(ConfigError):
    """A command-line option or argument cannot be used; ``key`` names it. Exits like a config
    problem (2), but is not one."""

    kind = "usage"


class RuleError(ConfigError):
    """A rule's query is invalid: says which rule, at which character, and what was expected."""

    def __init__(
        self, rule: str, query: str, position: int, message: str, term_list: tuple[str, int] | None = None
    ) -> None:
        self.rule = rule
        self.query = query
        self.position = position
        self.detail = message
        #: The term list and entry index at fault, when the fault is in an entry the rule uses.
        self.term_list = term_list
        super().__init__(f"rule {rule!r}: {self.located}")

    @property
    def located(self) -> str:
        """``position N: what was expected``, then the query's line with a caret under the place.

        A query written over several YAML lines shows only the line at fault, with its number;
        a long line only the part around the place. The caret is placed by what a terminal
        shows: Devanagari vowel signs and other combining marks take no column. An error at
        the end of a query (``AND`` with nothing after it) is shown after its last word, not on
        the empty line a YAML block leaves at the end."""
        position = self.position
        if not self.query[position:].strip():
            position = min(position, len(self.query.rstrip()))
        start = self.query.rfind("\n", 0, position) + 1
        end = self.query.find("\n", position)
        line = self.query[start : len(self.query) if end < 0 else end]
        column = position - start
        where = f"position {position}"
        if "\n" in self.query.strip():
            where += f" (line {self.query.count(chr(10), 0, position) + 1} of the query)"
        if column > _WINDOW:  # keep the place in view
            cut = column - _WINDOW // 2
            line, column = "…" + line[cut:], column - cut + 1
        if len(line) > column + _WINDOW:
            line = line[: column + _WINDOW] + "…"
        shown = line.replace("\t", " ")
        caret = " " * display_width(shown[:column])
        return f"{where}: {self.detail}\n    {shown}\n    {caret}^"


#: How much of a long query line is shown on each side of the place of an error.
_WINDOW = 60



class FetchError(MonitorError):
    """Fetching one URL failed."""

    def __init__(self, url: str, message: str) -> None:
        self.url = url
        self.detail = message
        super().__init__(f"fetch: {url}: {message}")


class FetchTimeout(FetchError):
    """The server did not answer within the timeout."""


class HTTPStatusError(FetchError):
    """The server answered with an error status."""

    def __init__(self, url: str, status: int, retry_after: float | None = None) -> None:
        self.status = status
        self.retry_after = retry_after
        extra = f" (Retry-After {retry_after:.0f} s)" if retry_after is not None else ""
        super().__init__(url, f"HTTP {status}{extra}")


class TooLarge(FetchError):
    """The body exceeded the configured size limit."""


class PrivateAddressError(FetchError):
    """A link from a feed points at a loopback, private or link-local address."""


class ParseError(MonitorError):
    """A feed could not be parsed into any entries."""

    def __init__(self, feed: str, message: str) -> None:
        self.feed = feed
        super().__init__(f"parse: {feed}: {message}")


class StoreError(MonitorError):
    """The database is unreachable or its schema cannot be brought up to date."""


class DeliveryError(MonitorError):
    """A notification target could not be reached or refused the message."""
