"""Domain types shared by every stage: plain frozen dataclasses, no I/O.

The store converts these to and from its tables; the pure stages (parse, normalise, dedup,
match) take and return only these.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True, slots=True)
class RawEntry:
    """One feed entry as the parser saw it, before any cleaning."""

    guid: str | None
    link: str | None
    title: str
    summary_html: str
    published: datetime | None
    language: str | None = None
    author: str | None = None
    #: Full content (``content:encoded`` / Atom ``content``) when the feed carries it.
    content_html: str = ""
    #: Publisher name and article URL carried inside the entry (Google News ``<source>``), if any.
    source_title: str | None = None
    source_url: str | None = None


@dataclass(frozen=True, slots=True)
class Story:
    """A normalised news item: the unit that is deduplicated, matched, stored and alerted."""

    feed: str
    guid: str
    url: str  # canonical URL: lower-case host, no fragment, no tracking parameters
    title: str
    summary: str  # plain text, HTML removed
    published: datetime  # timezone-aware UTC
    fetched: datetime  # timezone-aware UTC
    link: str = ""  # the URL as the feed gave it
    body: str | None = None  # full article text, when fetched
    lang: str | None = None
    author: str | None = None
    #: The outlet that published it: the feed name, or the publisher named inside an aggregator's entry.
    source: str = ""

    @property
    def outlet(self) -> str:
        """Publisher to show users: ``source`` when known, else the feed's name."""
        return self.source or self.feed

    @property
    def site(self) -> str:
        """Host of the canonical URL without ``www.``, for ``site:`` queries."""
        from urllib.parse import urlsplit

        host = urlsplit(self.url).hostname or ""
        return host.removeprefix("www.")


@dataclass(frozen=True, slots=True)
class Rule:
    """A named query as written in the config (compiled by ``monitor.match``)."""

    name: str
    query: str
    description: str = ""
    priority: int = 0


@dataclass(frozen=True, slots=True)
class Span:
    """Where one query term matched: field name and character offsets in that field's text."""

    field: str
    start: int
    end: int
    term: str


@dataclass(frozen=True, slots=True)
class Match:
    """Why a story matched one rule: the distinct terms and every place they occur."""

    rule: str
    terms: tuple[str, ...]
    spans: tuple[Span, ...] = field(default=())
