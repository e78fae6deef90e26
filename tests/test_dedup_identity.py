"""Identity keys: which entries are the same article (monitor.dedup.identity)."""

from __future__ import annotations

import base64
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from monitor.dedup import article_url, identity_keys
from monitor.models import Story
from monitor.normalise import canonical_url

WHEN = datetime(2025, 12, 2, 11, 35, tzinfo=UTC)
LEAD = (
    "The lower house of the Russian Parliament on Tuesday ratified a key military logistics "
    "agreement with India, days ahead of President Vladimir Putin's visit to New Delhi."
)
ARTICLE = "https://theprint.in/world/russian-duma-ratifies-relos-pact/2793001/"


def make_story(
    url: str = ARTICLE,
    *,
    feed: str = "theprint-world",
    guid: str | None = None,
    title: str = "Russian Duma ratifies key military logistics pact with India",
    summary: str = LEAD,
) -> Story:
    """A Story as the normaliser builds it (canonical URL, GUID defaulting to the URL)."""
    canonical = canonical_url(url)
    return Story(
        feed=feed,
        guid=guid or canonical,
        url=canonical,
        title=title,
        summary=summary,
        published=WHEN,
        fetched=WHEN,
        link=url,
    )


def google_news_id(target: str) -> str:
    """An old-style Google News article id wrapping ``target`` (protobuf field 4, base64)."""
    payload = target.encode()
    blob = b"\x08\x13\x22" + bytes([len(payload)]) + payload + b"\xd2\x01\x00"
    return base64.urlsafe_b64encode(blob).decode().rstrip("=")


SAME_URL = [
    ("tracking parameters", ARTICLE + "?utm_source=rss&utm_medium=feed", ARTICLE),
    ("trailing slash", ARTICLE.rstrip("/"), ARTICLE),
    ("http and https", ARTICLE.replace("https://", "http://"), ARTICLE),
    ("fragment", ARTICLE + "#comments", ARTICLE),
    ("www. host", "https://www.theprint.in/world/russian-duma-ratifies-relos-pact/2793001/", ARTICLE),
    ("m. host", "https://m.thehindu.com/news/a/article70352114.ece",
     "https://www.thehindu.com/news/a/article70352114.ece"),
    ("mobile. host", "https://mobile.example.org/2025/12/02/story", "https://example.org/2025/12/02/story"),
    ("amp. host", "https://amp.example.org/news/story-1", "https://www.example.org/news/story-1"),
    ("/amp/ prefix segment", "https://example.org/amp/news/story-1", "https://example.org/news/story-1"),
    ("/amp suffix segment", "https://example.org/news/story-1/amp/", "https://example.org/news/story-1"),
    ("?amp flag", "https://www.livemint.com/news/india/story-11764.html?amp",
     "https://www.livemint.com/news/india/story-11764.html"),
    ("?amp=1 among other parameters", "https://example.org/story?id=7&amp=1", "https://example.org/story?id=7"),
    (".amp.html", "https://example.org/news/story-1.amp.html", "https://example.org/news/story-1.html"),
    ("outputType=amp", "https://example.org/news/story?outputType=amp", "https://example.org/news/story"),
    ("AMP cache", "https://theprint-in.cdn.ampproject.org/c/s/theprint.in/world/russian-duma-ratifies-relos-pact/2793001/?amp",
     ARTICLE),
    ("Google News id with the target inside",
     "https://news.google.com/rss/articles/" + google_news_id(ARTICLE) + "?oc=5", ARTICLE),
    ("Google News redirect with url=", "https://news.google.com/news/url?sa=t&url=" + ARTICLE, ARTICLE),
]

DIFFERENT_URL = [
    ("another article on the site", ARTICLE, "https://theprint.in/world/fed-council-approves-relos/2799876/"),
    ("a parameter that selects the article", "https://example.org/story?id=7", "https://example.org/story?id=8"),
    ("another site with the same path", "https://example.org/news/1", "https://example.com/news/1"),
]


@pytest.mark.parametrize(("case", "left", "right"), SAME_URL, ids=[c[0] for c in SAME_URL])
def test_url_variants_are_one_article(case: str, left: str, right: str) -> None:
    """AMP, mobile, tracking, slash and wrapper variants of one URL give one identity key."""
    assert article_url(left) == article_url(right) is not None
    assert set(identity_keys(make_story(left, summary=""))) & set(
        identity_keys(make_story(right, summary="", feed="other-feed"))
    )


@pytest.mark.parametrize(("case", "left", "right"), DIFFERENT_URL, ids=[c[0] for c in DIFFERENT_URL])
def test_different_urls_are_different_articles(case: str, left: str, right: str) -> None:
    """Distinct articles keep distinct keys when only their URLs could tie them."""
    left_keys = identity_keys(make_story(left, summary=""))
    right_keys = identity_keys(make_story(right, summary="", feed="other-feed"))
    assert not set(left_keys) & set(right_keys)


@pytest.mark.parametrize(
    "url",
    [
        "https://www.thehindu.com/",
        "https://news.google.com/rss/articles/CBMiqAFBVV95cUxQX2R1bWEtcmVsb3M?oc=5",
        "tag:example.org,2025:story-1",
        "",
    ],
    ids=["front page", "opaque Google News id", "not http", "empty"],
)
def test_urls_that_cannot_identify_an_article(url: str) -> None:
    """Front pages, opaque Google News links and non-http ids give no URL key."""
    assert article_url(url) is None


def test_google_news_link_uses_the_publisher_article_url() -> None:
    """A Google News entry whose publisher article URL is known shares the publisher's key."""
    gnews = make_story("https://news.google.com/rss/articles/CBMiqAFBVV95cUxQ?oc=5",
                       feed="gnews", summary="")
    direct = make_story(ARTICLE + "?utm_source=rss", summary="")
    assert set(identity_keys(gnews, publisher_url=ARTICLE)) & set(identity_keys(direct))


def test_google_news_publisher_front_page_is_not_a_key() -> None:
    """Two Google News entries citing the same outlet's front page stay two articles."""
    first = make_story("https://news.google.com/rss/articles/CBMiAAA?oc=5", feed="gnews",
                       title="Russia ratifies RELOS - ThePrint", summary="")
    second = make_story("https://news.google.com/rss/articles/CBMiBBB?oc=5", feed="gnews",
                        title="RBI cuts repo rate - ThePrint", summary="")
    keys = identity_keys(first, publisher_url="https://theprint.in/")
    assert not set(keys) & set(identity_keys(second, publisher_url="https://theprint.in/"))
    assert len(keys) == 1  # only the feed-scoped GUID


def test_same_guid_in_one_feed_is_one_article() -> None:
    """An entry keeps its identity when the feed changes its URL but not its GUID."""
    first = make_story(ARTICLE, guid="post-2793001")
    moved = make_story(ARTICLE.replace("relos-pact", "relos-pact-updated"), guid="post-2793001")
    assert set(identity_keys(first)) & set(identity_keys(moved))


def test_same_guid_in_two_feeds_is_not_one_article() -> None:
    """GUIDs are only unique within a feed: the same GUID elsewhere is another article."""
    first = make_story("https://a.example/1", feed="a", guid="12345", summary="")
    other = make_story("https://b.example/9", feed="b", guid="12345", summary="")
    assert not set(identity_keys(first)) & set(identity_keys(other))


def test_edited_headline_keeps_identity() -> None:
    """A headline edited an hour later on the same URL is the same article (an update)."""
    first = make_story()
    edited = replace(first, title="Russian Duma ratifies RELOS pact with India days before Putin's visit")
    assert set(identity_keys(first)) & set(identity_keys(edited))
    assert identity_keys(first) != identity_keys(edited)  # the text key changes with it


def test_same_text_under_two_urls_is_one_article() -> None:
    """The same headline and lead under two URLs share the text key, even when one feed cuts
    the summary short after the lead or punctuates the headline differently."""
    full = LEAD + " The RELOS agreement was approved by the State Duma at its plenary session."
    first = make_story("https://www.business-standard.com/world-news/relos-125120200745_1.html",
                       summary=full)
    second = make_story("https://www.deccanherald.com/world/relos-3817245", feed="dh",
                        title="Russian Duma ratifies key military-logistics pact with India!",
                        summary=full[:200] + " […]")
    assert set(identity_keys(first)) & set(identity_keys(second))


@pytest.mark.parametrize(
    ("case", "title", "summary"),
    [
        ("headline only", "Sensex, Nifty live updates", ""),
        ("short lead", "Sensex, Nifty live updates", "Markets open higher."),
    ],
)
def test_short_text_is_not_an_identity(case: str, title: str, summary: str) -> None:
    """Identical headlines with no real lead are not proof of one article."""
    first = make_story("https://example.org/markets/1", title=title, summary=summary)
    second = make_story("https://example.org/markets/2", title=title, summary=summary)
    assert not set(identity_keys(first)) & set(identity_keys(second))


def test_wire_copy_under_other_headlines_is_not_one_article() -> None:
    """Agency copy carried under each outlet's own headline is clustered, not merged as one article."""
    first = make_story("https://theprint.in/world/a/1/")
    second = make_story("https://www.deccanherald.com/world/b-2", feed="dh",
                        title="Days before Putin's India trip, Russian Duma clears RELOS pact")
    assert not set(identity_keys(first)) & set(identity_keys(second))


def test_keys_are_short_and_typed() -> None:
    """Keys fit a unique-indexed column: a kind prefix and a 32-character digest."""
    keys = identity_keys(make_story(ARTICLE + "x" * 3000))
    assert [k.split(":")[0] for k in keys] == ["guid", "url", "text"]
    assert all(len(k) <= 37 for k in keys)
