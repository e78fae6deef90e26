"""Fetch one story's article page politely and extract its main text.

Every failure becomes an ``ArticleOutcome`` with a short status, never an exception: the caller
keeps the feed's own text, records the status, and moves on. Nothing here retries; the pipeline
asks once per new story.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

from monitor.errors import FetchError, FetchTimeout, HTTPStatusError, PrivateAddressError, TooLarge
from monitor.fetch import Fetched, FetchLimits, fetch
from monitor.fulltext.extract import declares_paywall, extract_text
from monitor.fulltext.politeness import HostDeferredError, HostGate
from monitor.models import Story

log = logging.getLogger(__name__)

_ACCEPT = "text/html, application/xhtml+xml;q=0.9, */*;q=0.1"
_HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
#: A page that declares itself paywalled and yields less than this is a teaser.
_TEASER_CHARS = 1_000
#: Keep away this long from a host that said 429/503 without a Retry-After, or timed out:
#: asking again at once would only add to its load and hold our thread for another timeout.
_BACKOFF_SECONDS = 60.0
#: Retry-After values beyond this are taken as "a day": the gate table must not hold hosts forever.
_MAX_BACKOFF_SECONDS = 86_400.0


@dataclass(frozen=True, slots=True)
class ArticleOutcome:
    """What fetching one article gave: the text (when ``status == "ok"``) or why not.

    ``status`` is short and stable, for storing and counting: ``ok``, ``http 404``, ``timeout``,
    ``too large``, ``not html``, ``no text``, ``short text``, ``paywall``, ``error``,
    ``extract error`` or ``skipped: <reason>``. ``error`` is the human-readable detail.
    """

    text: str | None
    status: str
    error: str | None = None

    @property
    def ok(self) -> bool:
        """True when ``text`` holds the article's main text."""
        return self.status == "ok"


class ArticleFetcher:
    """Fetches article pages through the shared HTTP stack behind one per-host gate.

    Create one per process and share it between threads: the gate only protects a host if every
    request to it goes through the same instance.
    """

    def __init__(
        self,
        client: httpx.Client,
        limits: FetchLimits,
        *,
        per_host: int = 2,
        delay: float = 1.0,
        max_chars: int = 100_000,
    ) -> None:
        self._client = client
        self._limits = limits
        self._max_chars = max_chars
        self._gate = HostGate(per_host, delay)

    def fetch(self, story: Story) -> ArticleOutcome:
        """Fetch and extract ``story``'s article; never raises for network, HTTP or page trouble."""
        url = story.url
        reason = _skip_reason(url)
        if reason:
            return ArticleOutcome(None, f"skipped: {reason}")
        host = (urlsplit(url).hostname or "").lower()
        try:
            with self._gate.slot(host):
                page = fetch(self._client, url, self._limits, accept=_ACCEPT)
        except HostDeferredError as exc:
            return ArticleOutcome(None, "skipped: host asked to wait", f"fulltext: {url}: {exc}")
        except FetchError as exc:
            return self._failed(host, exc)
        except (httpx.InvalidURL, ValueError) as exc:  # monitor.fetch lets malformed URLs through
            return ArticleOutcome(None, "error", f"fulltext: {url}: bad link: {exc}")
        return self._extract(story, page)

    def _failed(self, host: str, exc: FetchError) -> ArticleOutcome:
        """The outcome for a failed request; a host that is overloaded or said 429 is left alone."""
        if isinstance(exc, HTTPStatusError):
            if exc.retry_after is not None or exc.status in (429, 503):
                wait = exc.retry_after if exc.retry_after is not None else _BACKOFF_SECONDS
                self._gate.defer(host, min(wait, _MAX_BACKOFF_SECONDS))
            return ArticleOutcome(None, f"http {exc.status}", str(exc))
        if isinstance(exc, FetchTimeout):
            self._gate.defer(host, _BACKOFF_SECONDS)
            return ArticleOutcome(None, "timeout", str(exc))
        if isinstance(exc, TooLarge):
            return ArticleOutcome(None, "too large", str(exc))
        if isinstance(exc, PrivateAddressError):
            return ArticleOutcome(None, "skipped: private address", str(exc))
        return ArticleOutcome(None, "error", str(exc))

    def _extract(self, story: Story, page: Fetched) -> ArticleOutcome:
        """Turn a fetched page into an outcome: check it is HTML, extract, judge the text."""
        mime, charset = _content_type(page)
        if not _is_html(mime, page.body):
            return ArticleOutcome(
                None, "not html", f"fulltext: {page.url}: response is {mime or 'untyped'}, not HTML"
            )
        try:
            text = extract_text(page.body, page.url, self._max_chars, encoding=charset)
        except Exception as exc:  # a parser bug on one hostile page must not fail the whole feed
            log.exception("fulltext: %s: extraction failed", page.url)
            return ArticleOutcome(None, "extract error", f"fulltext: {page.url}: {exc!r}")
        if declares_paywall(page.body) and len(text or "") < _TEASER_CHARS:
            return ArticleOutcome(
                None, "paywall", f"fulltext: {page.url}: paywalled page, only a teaser is readable"
            )
        if text is None:
            return ArticleOutcome(None, "no text", f"fulltext: {page.url}: no main text found")
        feed_chars = max(len(story.summary), len(story.body or ""))
        if len(text) <= feed_chars:
            return ArticleOutcome(
                None,
                "short text",
                f"fulltext: {page.url}: extracted {len(text)} characters, "
                f"no more than the feed's own {feed_chars}",
            )
        return ArticleOutcome(text, "ok")


def _skip_reason(url: str) -> str | None:
    """Why ``url`` must not be fetched at all, or None.

    Only http(s): ``monitor.fetch`` also reads local files, and a feed must not be able to make
    us read ``file:///etc/passwd``. Google News article links can be resolved only by asking
    Google, so they keep the feed text. A site's front page is never the article.
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return "bad link"
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return "not a web link"
    if parts.hostname.lower() == "news.google.com":
        return "google news link"
    if parts.path in ("", "/") and not parts.query:
        return "home page, not an article"
    return None


def _content_type(page: Fetched) -> tuple[str, str | None]:
    """The response's media type (lower case, no parameters) and declared charset, if any."""
    value = next((v for k, v in page.headers.items() if k.lower() == "content-type"), "")
    mime, _, params = value.partition(";")
    charset = None
    for param in params.split(";"):
        name, _, raw = param.partition("=")
        if name.strip().lower() == "charset" and raw.strip():
            charset = raw.strip().strip("\"'")
    return mime.strip().lower(), charset


def _is_html(mime: str, body: bytes) -> bool:
    """HTML by its declared type; an untyped response counts when it starts like HTML."""
    if mime:
        return mime in _HTML_TYPES
    head = body[:1024].lstrip().lower()
    return head.startswith((b"<!doctype html", b"<html")) or b"<html" in head
