"""Whether a story's article page is worth a request. Pure: decides from the story alone.

``auto`` (the default) spends requests where the feed's text cannot settle the question:

1. **Short feed text → fetch.** A headline and a sentence ("Putin lands in New Delhi for two-day
   visit") says nothing either way about a rule on RELOS; only the article can. Most news feeds
   are like this, so this rule carries most of the recall.
2. **The feed already carries the article (a long ``body``) → do not fetch.** The page would
   repeat it, wrapped in boilerplate.
3. **Otherwise fetch only candidates.** With a real summary and no prefilter term of any rule in
   it, the article is very unlikely to match; when some term occurs, the full text may complete
   an AND or a NEAR that the summary alone leaves open.

``always`` fetches every new story (a small set of feeds that must not miss anything);
``never`` fetches none (full-content feeds, or sites that forbid crawling).
"""

from __future__ import annotations

from typing import Literal

from monitor.models import Story

FullTextMode = Literal["auto", "always", "never"]

#: A feed body this long is the article itself rather than a teaser (about 300 words).
FULL_CONTENT_CHARS = 2_000


def feed_text_length(story: Story) -> int:
    """Characters of text the feed itself gave: title plus the longer of summary and body.

    The longer one rather than the sum, because a feed's content usually repeats its summary.
    """
    return len(story.title) + max(len(story.summary), len(story.body or ""))


def needs_full_text(mode: FullTextMode, story: Story, *, candidate: bool, min_chars: int = 400) -> bool:
    """True when the article page of ``story`` should be fetched under ``mode``.

    ``candidate`` says whether some rule's prefilter terms occur in the feed's text;
    ``min_chars`` is the feed-text length below which the feed is taken to say too little.
    """
    if mode == "never":
        return False
    if mode == "always":
        return True
    if mode != "auto":
        raise ValueError(f"full_text must be auto, always or never, not {mode!r}")
    if feed_text_length(story) < min_chars:
        return True
    if len(story.body or "") >= FULL_CONTENT_CHARS:
        return False
    return candidate
