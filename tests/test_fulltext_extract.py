"""Main-text extraction from article pages in real-world shapes (monitor.fulltext.extract)."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.fulltext import extract_text
from monitor.fulltext.extract import MIN_TEXT_CHARS, declares_paywall

ARTICLES = Path(__file__).parent / "fixtures" / "articles"
URL = "https://news.example/world/2026/12/04/story"


def page(name: str) -> bytes:
    return (ARTICLES / name).read_bytes()


def test_news_page_keeps_the_article_body() -> None:
    """The paragraphs of a news article survive extraction from a page full of site furniture."""
    text = extract_text(page("news_nav_footer.html"), URL)
    assert text is not None
    assert "arrived in New Delhi on Thursday evening" in text
    assert "S-400 air defence squadrons" in text
    assert "business forum in Mumbai" in text


@pytest.mark.parametrize(
    "leak",
    [
        "RELOS",  # menu, tag list, related links, footer and a reader comment
        "India-Russia defence",  # sidebar and related links
        "Most read",
        "Sensex",  # breaking-news ticker
        "Morning Brief",  # newsletter box
        "All rights reserved",  # footer
        "Chabahar",  # reader comment
        "Share on X",
    ],
)
def test_news_page_drops_boilerplate(leak: str) -> None:
    """Words from menus, sidebars, related links, comments and the footer never reach the text."""
    text = extract_text(page("news_nav_footer.html"), URL)
    assert text is not None
    assert leak not in text


def test_article_element_page() -> None:
    """A page with the story in <article> gives its paragraphs and subheading, not its nav or aside."""
    text = extract_text(page("article_tag.html"), URL)
    assert text is not None
    assert "refuelled two visiting frigates off Port Blair" in text
    assert "What changes for the fleet" in text
    assert "dockyard on the east coast" in text
    assert "RELOS" not in text
    assert "Quad partners" not in text
    assert "Independent maritime journalism" not in text


def test_cookie_banner_is_not_text() -> None:
    """A long consent banner ahead of the article does not leak into the extracted text."""
    text = extract_text(page("cookie_banner.html"), URL)
    assert text is not None
    assert "Su-57 fifth-generation fighter" in text
    assert "partners" not in text
    assert "India-Russia defence" not in text


def test_paywall_stub_yields_only_a_teaser() -> None:
    """A paywall stub gives at most its teaser, never the subscription pitch, and says it is paywalled."""
    html = page("paywall.html")
    text = extract_text(html, URL)
    assert text is None or len(text) < 400
    assert "Subscribe" not in (text or "")
    assert declares_paywall(html)


def test_free_article_is_not_flagged_paywalled() -> None:
    """A page whose schema.org data says it is free (or says nothing) is not a paywall."""
    assert not declares_paywall(page("article_tag.html"))
    assert not declares_paywall(page("news_nav_footer.html"))


def test_script_only_page_has_no_text() -> None:
    """A page rendered by JavaScript has no main text, not its <noscript> notice."""
    assert extract_text(page("js_shell.html"), URL) is None


def test_empty_and_garbage_input_give_none() -> None:
    """Empty bytes, a fragment and binary junk give None rather than raising."""
    assert extract_text(b"", URL) is None
    assert extract_text(b"<p>Hi</p>", URL) is None
    assert extract_text(bytes(range(256)) * 40, URL) is None


def test_legacy_charset_from_meta() -> None:
    """A windows-1251 page that declares its charset only in <meta> is decoded correctly."""
    text = extract_text(page("cyrillic_cp1251.html"), URL)
    assert text is not None
    assert "Президент России Владимир Путин" in text
    assert "С-400" in text
    assert "RELOS" not in text


def test_declared_charset_used_when_bytes_are_not_utf8() -> None:
    """The server's declared charset decodes a page that has no <meta> charset of its own."""
    body = (
        "<html><body><article><p>"
        + "Президент России прибыл в Нью-Дели с двухдневным государственным визитом. " * 4
        + "</p></article></body></html>"
    ).encode("koi8-r")
    text = extract_text(body, URL, encoding="koi8-r")
    assert text is not None
    assert text.startswith("Президент России прибыл")


def test_wrong_declared_charset_loses_to_valid_utf8() -> None:
    """UTF-8 bytes served as ISO-8859-1 (a common server default) are still read as UTF-8."""
    body = (
        "<html><body><article><p>"
        + "राष्ट्रपति पुतिन दो दिन की यात्रा पर नई दिल्ली पहुंचे और रक्षा सहयोग पर बातचीत हुई। " * 4
        + "</p></article></body></html>"
    ).encode()
    text = extract_text(body, URL, encoding="iso-8859-1")
    assert text is not None
    assert "राष्ट्रपति पुतिन" in text


def test_text_is_bounded_at_a_word_boundary() -> None:
    """Text longer than max_chars is cut to at most max_chars, without splitting a word."""
    paragraphs = "".join(
        f"<p>In meeting {n} the naval logistics officers reviewed the refuelling schedule again, "
        f"and item {n} of the agenda was the berthing plan for the winter deployment.</p>"
        for n in range(100)
    )
    body = f"<html><body><article>{paragraphs}</article></body></html>".encode()
    full = extract_text(body, URL)
    cut = extract_text(body, URL, max_chars=1_000)
    assert full is not None and len(full) > 10_000
    assert cut is not None
    assert MIN_TEXT_CHARS < len(cut) <= 1_000
    assert full.startswith(cut)
    assert full[len(cut)] in " \n"
