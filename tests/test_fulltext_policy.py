"""The full-text policy: which stories' article pages are worth a request (monitor.fulltext.policy)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from monitor.fulltext import needs_full_text
from monitor.fulltext.policy import FULL_CONTENT_CHARS, FullTextMode, feed_text_length
from monitor.models import Story

NOW = datetime(2026, 12, 4, 16, 0, tzinfo=UTC)
HEADLINE = Story(
    feed="The Hindu",
    guid="g1",
    url="https://www.thehindu.com/news/national/putin-lands-in-new-delhi/article1.ece",
    title="Putin lands in New Delhi for two-day visit",
    summary="",
    published=NOW,
    fetched=NOW,
)
SUMMARY = replace(HEADLINE, summary="The Russian president was received at Palam airport. " * 8)
TEASER_BODY = replace(SUMMARY, body="Officials said the talks would cover deliveries. " * 15)
FULL_BODY = replace(SUMMARY, body="x" * FULL_CONTENT_CHARS)

CASES: list[tuple[FullTextMode, Story, bool, bool]] = [
    # mode, story, candidate, fetch?
    ("never", HEADLINE, True, False),
    ("never", SUMMARY, True, False),
    ("always", HEADLINE, False, True),
    ("always", FULL_BODY, False, True),
    ("auto", HEADLINE, False, True),  # the feed says too little either way
    ("auto", HEADLINE, True, True),
    ("auto", SUMMARY, False, False),  # a real summary with no rule term in it
    ("auto", SUMMARY, True, True),  # a rule term occurs: the article may complete the match
    ("auto", TEASER_BODY, True, True),
    ("auto", TEASER_BODY, False, False),
    ("auto", FULL_BODY, True, False),  # the feed already carries the article
    ("auto", FULL_BODY, False, False),
]


@pytest.mark.parametrize(("mode", "story", "candidate", "expected"), CASES)
def test_policy_table(mode: FullTextMode, story: Story, candidate: bool, expected: bool) -> None:
    """Each mode fetches exactly the stories the documented policy says it does."""
    assert needs_full_text(mode, story, candidate=candidate) is expected


def test_min_chars_is_the_short_threshold() -> None:
    """A feed text just under min_chars counts as short, one at min_chars does not."""
    story = replace(HEADLINE, summary="s" * (400 - len(HEADLINE.title)))
    assert feed_text_length(story) == 400
    assert not needs_full_text("auto", story, candidate=False)
    assert needs_full_text("auto", story, candidate=False, min_chars=401)


def test_feed_text_counts_the_longer_of_summary_and_body() -> None:
    """Summary and body are not added up, since a feed's content usually repeats its summary."""
    story = replace(HEADLINE, summary="a" * 300, body="b" * 200)
    assert feed_text_length(story) == len(HEADLINE.title) + 300


def test_unknown_mode_is_refused() -> None:
    """A mode outside auto/always/never raises rather than silently acting as auto."""
    with pytest.raises(ValueError, match="full_text"):
        needs_full_text("sometimes", HEADLINE, candidate=False)  # type: ignore[arg-type]
