"""A story as the matcher sees it: its fields folded into one text, and where each query word occurs.

Folded text holds only words separated by spaces. The fields are joined with " NUL " before
folding, so a phrase or a NEAR can never reach from the title into the summary: the evaluator
refuses any gap that holds a NUL.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field
from typing import Any

from monitor.match.tokens import fold_text
from monitor.models import Span, Story

#: Text fields in the order they are joined. ``feed:`` is the feed's name; ``source:`` the
#: outlet (the publisher named inside an aggregator's entry, else the feed's name).
TEXT_FIELDS = ("title", "summary", "body", "url", "feed", "source")
FIELD_INDEX = {name: i for i, name in enumerate(TEXT_FIELDS)}
#: No field named: the story's text, i.e. title, summary and body (indices 0..2).
DEFAULT_FIELDS = (0, 2)
BARRIER = "\x00"
_JOIN = f" {BARRIER} "

Occurrences = dict[int, list[tuple[int, int]]]


@dataclass(slots=True)
class StoryView:
    """The folded text of one story and the occurrences of query words found in it.

    ``text`` is ``original`` folded: the fields joined by " NUL ", padded with a space at each
    end. Offsets are into ``text``; ``offsets`` maps them to ``original`` when folding changed
    the length (rare)."""

    story: Story
    original: str
    text: str
    starts: tuple[int, ...]  # offset in ``original`` where each field starts, and the end
    offsets: tuple[int, ...] | None
    #: ``starts`` as offsets in ``text``: every node asks for its fields' range, so map once.
    bounds: tuple[int, ...]
    occurrences: Occurrences = field(default_factory=dict)
    #: Literal ids the prefilter scan looked for: absent from ``occurrences`` means absent.
    scanned: frozenset[int] = frozenset()
    cache: dict[Any, Any] = field(default_factory=dict)

    def find(self, literal: int, key: str, prefix: bool) -> list[tuple[int, int]]:
        """Occurrences ``(start, end)`` of a folded word (or word prefix), found on demand."""
        found = self.occurrences.get(literal)
        if found is None:
            found = [] if literal in self.scanned else find_word(self.text, key, prefix)
            self.occurrences[literal] = found
        return found

    def has(self, literal: int, needle: str, lo: int, hi: int) -> bool:
        """Whether a word occurs starting between folded offsets ``lo`` and ``hi``.

        Cheaper than ``find`` for a word not seen yet: one bounded search that stops at the
        first hit and stores nothing. ``needle`` is the word padded as in ``find_word``."""
        found = self.occurrences.get(literal)
        if found is None:
            # The needle's leading space sits just before ``lo``; its end must stay inside.
            return literal not in self.scanned and self.text.find(needle, lo - 1, hi) >= 0
        for start, _ in found:  # noqa: SIM110 -- hot path: a loop is 3x faster than any()
            if lo <= start < hi:
                return True
        return False

    def field_range(self, first: int, last: int) -> tuple[int, int]:
        """Folded offsets (lo, hi) spanning fields ``first`` to ``last``."""
        bounds = self.bounds
        return bounds[first], bounds[last + 1]

    def gap_words(self, start: int, end: int) -> int | None:
        """Words strictly between two matches, or None when the gap crosses a field boundary."""
        if end <= start:
            return 0
        gap = self.text[start:end]
        if BARRIER in gap:
            return None
        return len(gap.split())

    def original_text(self, start: int, end: int) -> str:
        """The original characters behind a folded range."""
        if self.offsets is not None:
            start, end = self.offsets[start], self.offsets[end - 1] + 1
        return self.original[start:end]

    def span(self, start: int, end: int) -> Span:
        """A ``Span`` (field name and offsets in that field's text) for a folded range."""
        if self.offsets is not None:
            start, end = self.offsets[start], self.offsets[end - 1] + 1
        f = bisect_right(self.starts, start) - 1
        base = self.starts[f]
        return Span(TEXT_FIELDS[f], start - base, end - base, self.original[start:end])


def needle(key: str, prefix: bool) -> str:
    """What to search folded text for: " word " finds exactly the whole words, " word" the
    words starting with it (folded text separates words by single spaces and is padded)."""
    return f" {key}" if prefix else f" {key} "


def find_word(text: str, key: str, prefix: bool) -> list[tuple[int, int]]:
    """Every ``(start, end)`` of a folded word in folded text, or of words starting with it."""
    needle_ = needle(key, prefix)
    found: list[tuple[int, int]] = []
    i = text.find(needle_)
    while i >= 0:
        start = i + 1
        end = text.find(" ", start + len(key)) if prefix else start + len(key)
        found.append((start, end))
        # The space after this word can be the space before the next occurrence.
        i = text.find(needle_, start + len(key))
    return found


def make_view(story: Story) -> StoryView:
    """Join a story's fields and fold them in one pass."""
    fields = (story.title, story.summary, story.body or "", story.url, story.feed, story.outlet)
    original = " " + _JOIN.join(fields) + " "
    starts = [1]
    for text in fields:
        starts.append(starts[-1] + len(text) + len(_JOIN))
    folded = fold_text(original)
    offsets = folded.offsets
    bounds = starts if offsets is None else [bisect_left(offsets, start) for start in starts]
    return StoryView(story, original, folded.text, tuple(starts), offsets, tuple(bounds))
