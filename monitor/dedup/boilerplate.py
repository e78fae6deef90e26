"""Boilerplate in a feed's summaries: the sentences it repeats under different headlines.

"Read the full story at Example Times.", "Comments", "The post … appeared first on Herald.",
a Google News entry's outlet name after its headline: left in, such text makes unrelated
stories of one feed look alike to the clustering, which joins them into one event whose later
stories are never alerted. A sentence found under at least ``MIN_REPEATS`` different headlines,
and in at least ``MIN_SHARE`` of the feed's entries, is boilerplate (three reports of one event
in a feed may well share their key sentence: that must stay); the story's own headline
inside a sentence does not count as a difference. Clustering leaves it out; the story keeps it
(a background sentence three articles share may be what a rule needs). Pure.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import replace

from monitor.models import Story

MIN_REPEATS = 4
MIN_SHARE = 0.5

_SENTENCE_BREAK = re.compile(r"(?<=[.!?…])\s+|\s*\n\s*")


def _sentences(text: str) -> list[str]:
    return [part for part in _SENTENCE_BREAK.split(text) if part.strip()]


def _key(sentence: str, title: str) -> str:
    text = sentence.replace(title, "\x00") if title.strip() else sentence
    return " ".join(text.casefold().split())


def boilerplate(stories: Sequence[Story]) -> frozenset[str]:
    """The boilerplate sentences (as keys for ``without_boilerplate``) of one feed document."""
    headlines: dict[str, set[str]] = {}
    for story in stories:
        for sentence in _sentences(story.summary):
            headlines.setdefault(_key(sentence, story.title), set()).add(story.title)
    needed = max(MIN_REPEATS, math.ceil(len(stories) * MIN_SHARE))
    return frozenset(key for key, titles in headlines.items() if len(titles) >= needed)


def without_boilerplate(story: Story, sentences: frozenset[str]) -> Story:
    """``story`` with the boilerplate sentences taken out of its summary."""
    if not sentences or not story.summary:
        return story
    parts = _sentences(story.summary)
    kept = [part for part in parts if _key(part, story.title) not in sentences]
    return story if len(kept) == len(parts) else replace(story, summary=" ".join(kept))
