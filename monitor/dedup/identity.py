"""Identity keys: two stories that share any key are the same article. Pure.

Three kinds of key, each a short fixed-length string so the store can keep them in one
unique-indexed column:

* ``guid:`` the entry's GUID, scoped to its feed (GUIDs are only unique within a feed);
* ``url:``  the article URL folded harder than ``canonical_url``: AMP variants, ``m.``/``www.``
  hosts, trailing slashes, AMP-cache and Google News wrappers all give the same key;
* ``text:`` the normalised headline and lead, so the same text under two URLs is one article.

An edited headline keeps the GUID and URL keys, so the store sees an update, not a new story.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

from monitor.dedup.text import headline_and_lead, is_google_news, words
from monitor.models import Story
from monitor.normalise import canonical_url

#: Host prefixes that name the same site (mobile and AMP editions).
_HOST_PREFIXES = ("www.", "m.", "mobile.", "amp.")
#: Query parameters that only select the AMP rendering of the same article.
_AMP_PARAMS = frozenset({"amp", "_amp", "usqp", "amp_js_v", "amp_gsa"})
#: A lead shorter than this (in words) is too generic to identify an article by its text alone.
_MIN_LEAD_WORDS = 8
#: Words of the summary that make up the lead in the text key.
_LEAD_WORDS = 30


def identity_keys(story: Story, *, publisher_url: str | None = None) -> tuple[str, ...]:
    """The identity keys of ``story``, most specific first; never empty.

    ``publisher_url`` is the article's own URL when the entry carries it (a Google News
    ``<source url=…>``); it is also read from ``story.source_url`` if ``Story`` grows that field.
    It is used only for Google News links, and only when it points at an article, not a homepage.
    """
    keys = [_key("guid", f"{story.feed}\n{story.guid}")]
    url = article_url(story.url or story.link)
    if url is None and is_google_news(story.url or story.link):
        publisher = publisher_url or getattr(story, "source_url", None)
        url = article_url(publisher) if publisher else None
    if url is not None:
        keys.append(_key("url", url))
    text = content_text(story)
    if text is not None:
        keys.append(_key("text", text))
    return tuple(keys)


def article_url(url: str) -> str | None:
    """The comparable form of an article URL (no scheme), or None when ``url`` cannot identify an
    article: not http(s), a site's front page, or a Google News link whose target is unknown."""
    url = _unwrap(canonical_url(url))
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    if is_google_news(url):
        return None
    host = parts.hostname
    while host.startswith(_HOST_PREFIXES) and host.count(".") > 1:
        host = host.split(".", 1)[1]
    path = _strip_amp_path(parts.path)
    query = [
        (k, v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if k.lower() not in _AMP_PARAMS and not (k.lower() == "outputtype" and v.lower() == "amp")
    ]
    if path == "/" and not query:
        return None  # a homepage (e.g. Google News <source url>) names a site, not an article
    netloc = f"{host}:{parts.port}" if parts.port else host
    return netloc + path + ("?" + urlencode(query) if query else "")


def content_text(story: Story) -> str | None:
    """Normalised headline and lead of ``story``, or None when the lead is too short to be
    specific (headline-only entries, Google News stubs): a shared headline alone is not proof."""
    headline, lead = headline_and_lead(story.title, story.summary, story.url or story.link)
    lead_words = words(lead[: 20 * _LEAD_WORDS])[:_LEAD_WORDS]
    if len(lead_words) < _MIN_LEAD_WORDS:
        return None
    return " ".join(words(headline)) + "\n" + " ".join(lead_words)


def _key(kind: str, value: str) -> str:
    digest = hashlib.blake2b(value.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()
    return f"{kind}:{digest}"


def _strip_amp_path(path: str) -> str:
    segments = [s for s in path.split("/") if s and s.lower() != "amp"]
    if segments:
        last = segments[-1]
        lowered = last.lower()
        if lowered.endswith(".amp.html"):
            last = last[: -len(".amp.html")] + ".html"
        elif lowered.endswith(".amp"):
            last = last[: -len(".amp")]
        segments[-1] = last
    return "/" + "/".join(segments)


def _unwrap(url: str) -> str:
    """The publisher URL inside an AMP-cache or Google News wrapper, else ``url`` unchanged."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    host = parts.hostname or ""
    if host.endswith(".cdn.ampproject.org"):
        # /c/s/example.com/path (https) or /c/example.com/path (http); /v/ is the viewer form
        rest = parts.path.split("/")[2:]
        if rest and rest[0] == "s":
            return canonical_url("https://" + "/".join(rest[1:]))
        return canonical_url("http://" + "/".join(rest)) if rest else url
    if host == "news.google.com":
        target = dict(parse_qsl(parts.query)).get("url")
        if target and target.startswith(("http://", "https://")):
            return canonical_url(unquote(target))
        if "/articles/" in parts.path:
            decoded = _google_news_target(parts.path.rsplit("/articles/", 1)[1])
            if decoded:
                return canonical_url(decoded)
    return url


def _google_news_target(article_id: str) -> str | None:
    """The URL encoded in an old-style Google News article id (``CBMi…``), if any.

    Those ids are base64 of a small protobuf whose first string field is the target URL. Newer
    ids (``CBMi…AU_yqL…``) are opaque and need a request to Google to resolve: we do not make it.
    """
    try:
        raw = base64.urlsafe_b64decode(article_id + "=" * (-len(article_id) % 4))
    except (binascii.Error, ValueError):
        return None
    start = raw.find(b"\x22")  # field 4, length-delimited
    if start < 0:
        return None
    length, pos, shift = 0, start + 1, 0
    while pos < len(raw) and shift < 35:  # a protobuf varint
        byte = raw[pos]
        length |= (byte & 0x7F) << shift
        pos += 1
        shift += 7
        if not byte & 0x80:
            break
    target = raw[pos : pos + length]
    if len(target) != length or not target.startswith((b"http://", b"https://")):
        return None
    try:
        return target.decode("utf-8")
    except UnicodeDecodeError:
        return None
