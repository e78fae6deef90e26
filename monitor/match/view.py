"""A story as the matcher sees it: its fields folded into one text, and where each query word occurs.

Folded text holds only words separated by spaces. The fields are folded separately and joined
with " NUL ", so a phrase or a NEAR can never reach from the title into the summary: the
evaluator refuses any gap that holds a NUL.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field
from typing import Any

from monitor.match.tokens import fold_field
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
    """The folded text of one story plus the occurrences of every query word found in it.

    Offsets are into ``text`` (folded, padded with a space at each end); ``offsets`` maps them
    back to the original fields when folding changed a field's length (rare)."""

    story: Story
    fields: tuple[str, ...]
    text: str
    starts: tuple[int, ...]  # folded offset where each field starts, plus one past the end
    offsets: tuple[int, ...] | None
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

    def field_of(self, pos: int) -> int:
        """Index (into ``TEXT_FIELDS``) of the field holding folded offset ``pos``."""
        return bisect_right(self.starts, pos) - 1

    def gap_words(self, start: int, end: int) -> int | None:
        """Words strictly between two matches, or None when the gap crosses a field boundary."""
        if end <= start:
            return 0
        gap = self.text[start:end]
        if BARRIER in gap:
            return None
        return len(gap.split())

    def original(self, start: int, end: int) -> tuple[int, int, int]:
        """(field index, start, end) in the original field text for a folded range."""
        f = self.field_of(start)
        if self.offsets is not None:
            start, end = self.offsets[start], self.offsets[end - 1] + 1
        else:
            # Without an offset map every folded field has its original's length.
            start, end = start - self.starts[f], end - self.starts[f]
        return f, start, end

    def original_text(self, start: int, end: int) -> str:
        """The original characters behind a folded range."""
        f, s, e = self.original(start, end)
        return self.fields[f][s:e]

    def span(self, start: int, end: int) -> Span:
        """A ``Span`` (field name and original offsets) for a folded range."""
        f, s, e = self.original(start, end)
        return Span(TEXT_FIELDS[f], s, e, self.fields[f][s:e])


def find_word(text: str, key: str, prefix: bool) -> list[tuple[int, int]]:
    """Every ``(start, end)`` of a folded word in folded text, or of words starting with it.

    Folded text separates words by spaces only and is padded with one, so a plain substring
    search for " word " finds exactly the whole words.
    """
    needle = f" {key}" if prefix else f" {key} "
    found: list[tuple[int, int]] = []
    i = text.find(needle)
    while i >= 0:
        start = i + 1
        end = text.find(" ", start + len(key)) if prefix else start + len(key)
        found.append((start, end))
        # The space after this word can be the space before the next occurrence.
        i = text.find(needle, start + len(key))
    return found


def make_view(story: Story) -> StoryView:
    """Fold a story's fields and join them, keeping a map to original offsets when needed."""
    fields = (story.title, story.summary, story.body or "", story.url, story.feed, story.outlet)
    folded = [fold_field(text) for text in fields]
    text = " " + _JOIN.join(f.text for f in folded) + " "
    starts: list[int] = []
    pos = 1
    for f in folded:
        starts.append(pos)
        pos += len(f.text) + len(_JOIN)
    starts.append(pos)
    offsets: tuple[int, ...] | None = None
    if any(f.offsets is not None for f in folded):
        # Map each folded offset to an offset *within its original field*; padding and
        # barriers map to 0 and are never part of a match.
        mapping = [0]
        for f in folded:
            mapping.extend(f.offsets if f.offsets is not None else range(len(f.text)))
            mapping.extend((0,) * len(_JOIN))
        offsets = tuple(mapping[: len(text)])
    return StoryView(story, fields, text, tuple(starts), offsets)
