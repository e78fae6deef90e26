"""Boilerplate: the sentences a feed writes under every headline, left out of clustering."""

from __future__ import annotations

from datetime import UTC, datetime

from monitor.dedup import boilerplate, without_boilerplate
from monitor.models import Story

_NOW = datetime(2026, 11, 22, tzinfo=UTC)


def _story(title: str, summary: str) -> Story:
    return Story(feed="f", guid=title, url="https://x.example/" + title.replace(" ", "-"), title=title,
                 summary=summary, published=_NOW, fetched=_NOW)


def test_a_sentence_under_many_headlines_is_boilerplate_and_the_rest_of_the_summary_stays() -> None:
    stories = [
        _story("Duma ratifies RELOS", "Lawmakers voted on Tuesday. Read the full story at Example Times."),
        _story("Oil spill off Goa", "A tanker ran aground.\nRead the full story at Example Times."),
        _story("Kohli scores century", "Read the full story at Example  Times."),
        _story("Budget passes", "The vote was close. Read the full story at Example Times."),
        _story("Monsoon arrives early", "Rain reached Kerala. Comments"),
    ]
    found = boilerplate(stories)
    assert found == {"read the full story at example times."}
    assert without_boilerplate(stories[0], found).summary == "Lawmakers voted on Tuesday."
    assert without_boilerplate(stories[2], found).summary == ""
    assert without_boilerplate(stories[4], found) is stories[4]


def test_a_sentence_that_names_its_own_headline_is_boilerplate_too() -> None:
    """WordPress: "The post <headline> appeared first on Herald." differs only by the headline."""
    heads = ["RELOS explained", "Navy gets new frigate", "Budget passes", "Rains lash Mumbai"]
    stories = [
        _story(h, f"Text of story {i}. The post {h} appeared first on Herald.") for i, h in enumerate(heads)
    ]
    found = boilerplate(stories)
    assert without_boilerplate(stories[1], found).summary == "Text of story 1."


def test_what_a_few_stories_share_is_not_boilerplate() -> None:
    """Two reports of one event sharing their lead, or a sentence in few of a long feed's
    entries, are not boilerplate: that is what clustering needs to see."""
    lead = "Russia's Duma ratified the RELOS pact with India on Tuesday."
    pair = [_story("Duma ratifies RELOS", lead), _story("RELOS: what it means", lead), _story("Other", "x.")]
    assert boilerplate(pair) == frozenset()
    heads = ["Duma ratifies RELOS", "RELOS: what it means", "Volodin on RELOS"]
    small_feed = [_story(h, f"{lead} Detail {i}.") for i, h in enumerate(heads)]
    small_feed += [_story(f"Other story {i}", f"Text {i}.") for i in range(7)]
    assert boilerplate(small_feed) == frozenset(), "three reports of one event in a feed of ten"
    long_feed = [_story(f"Story {i}", "Read more." if i < 3 else f"Text {i}.") for i in range(20)]
    assert boilerplate(long_feed) == frozenset()
