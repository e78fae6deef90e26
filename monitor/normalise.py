"""Raw feed entry → Story: canonical URL, plain text, UTC dates. Pure: no I/O."""

from __future__ import annotations

import hashlib
import html
import re
import unicodedata
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from monitor.models import RawEntry, Story

#: Query parameters that identify a campaign or click, never the article.
_TRACKING_PREFIXES = ("utm_", "at_", "pk_", "mtm_", "ga_")
_TRACKING_NAMES = frozenset(
    {
        "fbclid",
        "gclid",
        "dclid",
        "gclsrc",
        "msclkid",
        "yclid",
        "mc_cid",
        "mc_eid",
        "igshid",
        "_hsenc",
        "_hsmi",
        "ref",
        "ref_src",
        "cmpid",
        "ocid",
        "spm",
        "s_cid",
        "twclid",
        "ito",
        "ns_mchannel",
        "ns_source",
        "ns_campaign",
        "ns_linkname",
        "ns_fee",
        "sr_share",
        "__twitter_impression",
    }
)
_BLOCK_TAGS = frozenset(
    {
        "p",
        "div",
        "br",
        "li",
        "ul",
        "ol",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "tr",
        "table",
        "blockquote",
        "section",
        "article",
        "header",
        "footer",
        "figcaption",
        "pre",
        "hr",
    }
)
_SKIP_TAGS = frozenset({"script", "style", "noscript", "template", "svg", "iframe"})
_SPACES = re.compile(r"[ \t\r\f\v\u00a0\u2009\u200b]+")
_BLANK_LINES = re.compile(r"\s*\n\s*")


def _is_tracking(name: str) -> bool:
    lowered = name.lower()
    return lowered in _TRACKING_NAMES or lowered.startswith(_TRACKING_PREFIXES)


def canonical_url(url: str) -> str:
    """Return ``url`` with a lower-case scheme and host, no fragment, no default port and no
    tracking parameters, so the same article reached through different campaigns compares equal."""
    url = url.strip()
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if parts.scheme.lower() not in ("http", "https"):
        return url
    host = (parts.hostname or "").lower().rstrip(".")
    port = parts.port if parts.port not in (None, 80, 443) else None
    netloc = f"{host}:{port}" if port else host
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not _is_tracking(k)]
    path = parts.path or "/"
    return urlunsplit((parts.scheme.lower(), netloc, path, urlencode(query), ""))


class _TextExtractor(HTMLParser):
    """Collect visible text, turning block elements into line breaks."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP_TAGS:
            self._skip += 1
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP_TAGS:
            self._skip = max(0, self._skip - 1)
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def nfc(text: str) -> str:
    """``text`` in Unicode's composed form (NFC). Some feeds write "й" as "и" and a combining
    breve, or "é" as "e" and an accent; the matcher folds a lone mark away, which would make
    "российский" fail to find that text. Everything a story holds is composed once, here."""
    return text if text.isascii() else unicodedata.normalize("NFC", text)


def html_to_text(markup: str) -> str:
    """Plain text of an HTML fragment (entities decoded, scripts dropped, whitespace folded,
    composed: see ``nfc``)."""
    if "<" not in markup:
        text = html.unescape(markup)
    else:
        parser = _TextExtractor()
        parser.feed(markup)
        parser.close()
        text = "".join(parser.parts)
    text = _SPACES.sub(" ", text)
    return nfc(_BLANK_LINES.sub("\n", text).strip())


def to_utc(value: datetime | None, fallback: datetime) -> datetime:
    """A timezone-aware UTC datetime; naive values are taken as UTC, missing ones as ``fallback``."""
    if value is None:
        return fallback.astimezone(UTC)
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


#: How far ahead of our clock a feed's date may be before it is taken as wrong (clock skew).
_CLOCK_SLACK = timedelta(minutes=10)


def _not_after(published: datetime, fetched: datetime) -> datetime:
    """A story cannot be published after we fetched it: a date ahead (a wrong time zone, a
    scheduled post) would sort it above today's news for days. The fetch time is taken instead,
    as for an undated entry."""
    return fetched if published > fetched + _CLOCK_SLACK else published


def story_guid(entry: RawEntry, url: str, title: str) -> str:
    """The entry's own GUID, else its canonical link, else a hash of its title: stable across polls."""
    if entry.guid and entry.guid.strip():
        return entry.guid.strip()[:512]
    if url:
        return url[:512]
    return "sha1:" + hashlib.sha1(title.encode()).hexdigest()


def _language(tag: str | None) -> str | None:
    """Primary language subtag, lower-case (``en-IN`` → ``en``), for ``lang:`` queries."""
    primary = (tag or "").strip().replace("_", "-").split("-")[0].lower()
    return primary or None


def normalise(entry: RawEntry, *, feed: str, fetched: datetime, language: str | None = None) -> Story:
    """Turn one raw entry into a Story from feed ``feed`` fetched at ``fetched``; ``language``
    (the feed's, from the config) wins over the one the entry or feed declares."""
    link = (entry.link or "").strip()
    url = canonical_url(link) if link else ""
    title = html_to_text(entry.title)
    summary = html_to_text(entry.summary_html)
    if entry.source_url:  # an aggregator's entry naming the publisher's own article URL
        url = canonical_url(entry.source_url)
    guid = story_guid(entry, url, title)
    content = html_to_text(entry.content_html) if entry.content_html else ""
    return Story(
        feed=feed,
        guid=guid,
        # Link-less entries still need a unique URL: scope their GUID to the feed.
        url=url or f"urn:monitor:{feed}:{guid}",
        title=title,
        summary=summary,
        published=_not_after(to_utc(entry.published, fetched), to_utc(fetched, fetched)),
        fetched=to_utc(fetched, fetched),
        link=link,
        body=content if len(content) > len(summary) else None,
        lang=_language(language or entry.language),
        author=nfc(entry.author) if entry.author else entry.author,
        source=nfc(entry.source_title or ""),
    )
