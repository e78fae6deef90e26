"""normalise: raw entries → Story with canonical URL, plain text and UTC dates."""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime, timedelta, timezone

import pytest

from monitor.match import compile_query
from monitor.models import RawEntry
from monitor.normalise import canonical_url, html_to_text, normalise

FETCHED = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("HTTPS://WWW.Example.COM/a/b?utm_source=x&id=3#frag", "https://www.example.com/a/b?id=3"),
        ("https://example.com/x?fbclid=1&gclid=2&utm_medium=rss", "https://example.com/x"),
        ("http://example.com:80/x", "http://example.com/x"),
        ("https://example.com:8443/x?b=2&a=1", "https://example.com:8443/x?b=2&a=1"),
        ("https://example.com", "https://example.com/"),
        ("https://example.com/Path/Keeps/Case", "https://example.com/Path/Keeps/Case"),
        ("mailto:someone@example.com", "mailto:someone@example.com"),
    ],
)
def test_canonical_url(url: str, expected: str) -> None:
    """Host lower-cased, fragment, default port and tracking parameters dropped, the rest kept."""
    assert canonical_url(url) == expected


@pytest.mark.parametrize(
    ("markup", "expected"),
    [
        ("<p>One &amp; two</p><p>three</p>", "One & two\nthree"),
        ("<b>bold</b> <script>alert(1)</script>text", "bold text"),
        ("AT&amp;T &lt;b&gt;", "AT&T <b>"),
        ("&amp;lt;kept escaped&amp;gt;", "&lt;kept escaped&gt;"),
        ("plain   text\u00a0with  spaces", "plain text with spaces"),
        ("<div>भारत-रूस <i>रक्षा</i></div>", "भारत-रूस रक्षा"),
        ("<p>unclosed <b>tag", "unclosed tag"),
    ],
)
def test_html_to_text(markup: str, expected: str) -> None:
    """HTML becomes plain text with entities decoded exactly once and scripts removed."""
    assert html_to_text(markup) == expected


def test_story_from_entry() -> None:
    """An entry becomes a Story with canonical URL, clean text, UTC date and its feed."""
    entry = RawEntry(
        guid=None,
        link="https://News.example.in/a?utm_source=rss",
        title="Duma &amp; RELOS",
        summary_html="<p>Ratified <b>today</b></p>",
        published=datetime(2026, 11, 20, 15, 30, tzinfo=timezone(timedelta(hours=5, minutes=30))),
        content_html="<p>" + "Long article text. " * 20 + "</p>",
        language="en-IN",
    )
    story = normalise(entry, feed="Herald", fetched=FETCHED)
    assert story.url == "https://news.example.in/a"
    assert story.guid == "https://news.example.in/a"
    assert story.title == "Duma & RELOS"
    assert story.summary == "Ratified today"
    assert story.published == datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
    assert story.body is not None and story.body.startswith("Long article text.")
    assert story.feed == "Herald"
    assert story.lang == "en"


def test_decomposed_letters_are_composed_so_rules_find_them() -> None:
    """A feed writing "й" as "и" + combining breve (NFD) still matches a query written with
    "й"; without composing, folding drops the mark and "российский" finds nothing."""
    decomposed = unicodedata.normalize("NFD", "Российский фрегат прибыл в Индию")
    assert decomposed != unicodedata.normalize("NFC", decomposed)
    entry = RawEntry(
        guid="g",
        link="https://ria.example/a",
        title=decomposed,
        summary_html=f"<p>{decomposed}</p>",
        published=FETCHED,
        content_html=f"<p>{decomposed * 3}</p>",
        source_title=decomposed,
    )
    story = normalise(entry, feed="РИА", fetched=FETCHED)
    composed = unicodedata.normalize("NFC", decomposed)
    assert (story.title, story.summary, story.source) == (composed, composed, composed)
    assert story.body == composed * 3
    assert [m.rule for m in compile_query("российский", name="ru").match(story)] == ["ru"]


def test_undated_entry_gets_fetch_time_and_linkless_entry_a_unique_url() -> None:
    """No date → fetch time; no link → a URL scoped to feed and GUID so it can still be stored."""
    entry = RawEntry(guid="g-1", link=None, title="t", summary_html="", published=None)
    story = normalise(entry, feed="F", fetched=FETCHED)
    assert story.published == FETCHED
    assert story.url == "urn:monitor:F:g-1"


@pytest.mark.parametrize(
    ("ahead", "kept"), [(timedelta(minutes=5), True), (timedelta(hours=5, minutes=30), False)]
)
def test_a_date_ahead_of_the_fetch_is_taken_as_wrong(ahead: timedelta, kept: bool) -> None:
    """A few minutes ahead is clock skew and kept; hours or years ahead (IST written as UTC, a
    scheduled post) would sit atop `monitor hits` for days, so the fetch time is used."""
    entry = RawEntry(
        guid="g-1", link="https://a.example/1", title="t", summary_html="", published=FETCHED + ahead
    )
    story = normalise(entry, feed="F", fetched=FETCHED)
    assert story.published == (FETCHED + ahead if kept else FETCHED)


def test_aggregator_entry_uses_publisher_url_and_name() -> None:
    """A Google-News-style entry carrying the publisher's URL and name is stored under them."""
    entry = RawEntry(
        guid="gn-1",
        link="https://news.google.com/rss/articles/CBMi?oc=5",
        title="t",
        summary_html="",
        published=None,
        source_title="The Hindu",
        source_url="https://www.thehindu.com/news/x.ece?utm_source=gn",
    )
    story = normalise(entry, feed="Google News", fetched=FETCHED)
    assert story.url == "https://www.thehindu.com/news/x.ece"
    assert story.outlet == "The Hindu"
