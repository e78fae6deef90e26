"""Article page → main text, through trafilatura. Pure: bytes in, text out, no I/O.

Boilerplate (menus, footers, related links, comments, cookie banners) must not reach the rules,
where one menu item such as "RELOS explained" would make every page of a site match. So the
extractor runs in trafilatura's precision mode with comments off: it may drop a heading or a
standfirst (the feed carries those anyway) but keeps the page furniture out.
"""

from __future__ import annotations

import codecs
import re

import trafilatura
from trafilatura.settings import use_config

from monitor.normalise import nfc

#: Fewer characters than this is a fragment ("Enable JavaScript", a cookie notice), not an article.
MIN_TEXT_CHARS = 100

_CONFIG = use_config()
_CONFIG.set("DEFAULT", "MIN_OUTPUT_SIZE", str(MIN_TEXT_CHARS))

# The HTML spec's prescan looks for the declared encoding in the first 1024 bytes; pages with a
# long <head> put it later, so look a little further.
_META_CHARSET = re.compile(rb"""<meta[^>]{0,200}?charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.I)
_PAYWALLED = re.compile(rb""""isAccessibleForFree"\s*:\s*"?false""", re.I)


def extract_text(
    html: bytes, url: str, max_chars: int = 100_000, *, encoding: str | None = None
) -> str | None:
    """The page's main text, at most ``max_chars`` long, or None when it has none.

    ``encoding`` is the charset the server declared, if any; it is used only when the bytes
    are not valid UTF-8 (a server that says ISO-8859-1 over UTF-8 bytes is a common mistake).
    """
    document = _decode(html, encoding)
    text = trafilatura.extract(
        document,
        url=url,
        favor_precision=True,
        include_comments=False,
        include_tables=True,
        include_images=False,
        include_links=False,
        deduplicate=False,
        with_metadata=False,
        config=_CONFIG,
    )
    if not text or len(text.strip()) < MIN_TEXT_CHARS:
        return None
    return _truncate(nfc(text.strip()), max_chars)


_HTML_LANG = re.compile(rb"""<html\b[^>]{0,500}?\blang\s*=\s*["']?\s*([A-Za-z]{2,3})\b""", re.I)


def page_title_and_language(html: bytes, url: str) -> tuple[str | None, str | None]:
    """The article's headline (its og:title or <title>, as trafilatura finds it) and the
    page's declared language (``<html lang="ru">`` → ``ru``): what a feed would have given as
    the story's title and language, for trying rules on a page (``monitor match --url``)."""
    found = _HTML_LANG.search(html, 0, 8192)
    lang = found.group(1).decode("ascii").lower() if found else None
    document = trafilatura.load_html(_decode(html, None))
    meta = trafilatura.extract_metadata(document, default_url=url) if document is not None else None
    title = meta.title.strip() if meta is not None and meta.title else None
    return (nfc(title) if title else None), lang


def declares_paywall(html: bytes) -> bool:
    """True when the page's schema.org data says its content is not free to read.

    News sites mark paywalled articles this way for search engines; it tells a teaser from a
    short article, which text length alone cannot.
    """
    return _PAYWALLED.search(html) is not None


def _decode(html: bytes, declared: str | None) -> str | bytes:
    """Text of the page: UTF-8 when valid, else the declared or <meta> charset.

    Returns the bytes unchanged when nothing is known, for trafilatura's own guess.
    """
    try:
        return html.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    meta = _META_CHARSET.search(html, 0, 4096)
    candidates = [declared, meta.group(1).decode("ascii") if meta else None]
    for name in candidates:
        if name and _known_codec(name):
            return html.decode(name, errors="replace")
    return html


def _known_codec(name: str) -> bool:
    try:
        codecs.lookup(name)
    except LookupError:
        return False
    return True


def _truncate(text: str, max_chars: int) -> str:
    """Cut ``text`` to ``max_chars`` at a paragraph break, else a space, so no word is split."""
    if len(text) <= max_chars:
        return text
    cut = text.rfind("\n", 0, max_chars + 1)
    if cut < max_chars // 2:
        cut = text.rfind(" ", 0, max_chars + 1)
    if cut <= 0:
        cut = max_chars
    return text[:cut].rstrip()
