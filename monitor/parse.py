"""Feed bytes → raw entries, with feedparser. Pure: never touches the network or files.

feedparser is always given a BytesIO: handed a bare string or bytes it may open a file or fetch
a URL (see shared/LIBRARY-NOTES.md).
"""

from __future__ import annotations

import calendar
import io
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import feedparser

from monitor.errors import ParseError
from monitor.models import RawEntry


def _when(entry: Any) -> datetime | None:
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        value = entry.get(key)
        if value:
            try:
                return datetime.fromtimestamp(calendar.timegm(value), tz=UTC)
            except (OverflowError, ValueError, TypeError):
                continue
    return None


def _publisher_url(entry: Any) -> str | None:
    """The publisher's article URL when an aggregator link carries it (``…?url=https://…``)."""
    link = entry.get("link") or ""
    parts = urlsplit(link)
    if parts.hostname and parts.hostname.endswith("news.google.com"):
        target = parse_qs(parts.query).get("url")
        if target and target[0].startswith(("http://", "https://")):
            return target[0]
    return None


def _content(entry: Any) -> str:
    contents = entry.get("content") or []
    return max((str(c.get("value") or "") for c in contents), key=len, default="")


#: An entry with none of these is not a story (e.g. the stub of a feed cut off mid-entry).
_SUBSTANCE = ("title", "link", "summary", "content")
_HTML_START = re.compile(rb"^\s*(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html)\b", re.IGNORECASE | re.DOTALL)


def _looks_like_html(body: bytes, headers: Mapping[str, str] | None) -> bool:
    content_type = next((v for k, v in (headers or {}).items() if k.lower() == "content-type"), "")
    return "text/html" in content_type.lower() or bool(_HTML_START.match(body[:2048].lstrip(b"\xef\xbb\xbf")))


def parse_feed(body: bytes, *, feed: str, headers: Mapping[str, str] | None = None) -> list[RawEntry]:
    """Entries of a feed document. A feed that is ill-formed but has entries is still read;
    one with no entries and an error raises ParseError (an empty, well-formed feed is fine)."""
    if not body.strip():
        raise ParseError(feed, "empty response body")
    parsed = feedparser.parse(io.BytesIO(body), response_headers=dict(headers or {}))
    # A feed cut off mid-entry leaves an entry with nothing in it: no story to make of it.
    entries = [e for e in parsed.get("entries") or [] if any(e.get(k) for k in _SUBSTANCE)]
    if not entries:
        if _looks_like_html(body, headers):
            raise ParseError(
                feed,
                "the server sent an HTML page, not a feed (the site's address rather than its "
                "feed's? the page usually links to its RSS feed)",
            )
        reason = parsed.get("bozo_exception")
        # feedparser also flags what does not stop it reading a feed (a missing or text/plain
        # Content-Type, an overridden charset): an empty feed served so is still just empty.
        benign = isinstance(reason, feedparser.ThingsNobodyCaresAboutButMe) and parsed.get("version")
        if parsed.get("bozo") and not benign:
            raise ParseError(feed, f"not a readable feed: {reason}")
        if not parsed.get("version"):
            raise ParseError(feed, "not an RSS, Atom or RDF feed")
        return []
    language = (parsed.get("feed") or {}).get("language")
    result = []
    for entry in entries:
        source = entry.get("source") or {}
        result.append(
            RawEntry(
                guid=entry.get("id") or None,
                link=entry.get("link") or None,
                title=str(entry.get("title") or ""),
                summary_html=str(entry.get("summary") or ""),
                published=_when(entry),
                language=(entry.get("language") or language or None),
                author=entry.get("author") or None,
                content_html=_content(entry),
                source_title=source.get("title") or None,
                source_url=_publisher_url(entry),
            )
        )
    return result
