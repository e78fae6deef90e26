"""Positional nodes: where a word, phrase, @list, proximity or NEAR occurs in a story.

They return *occurrences* ``(start, end, parts)`` in folded-text offsets; ``parts`` are the
ranges of the words that actually matched (a NEAR's two operands, not the words between), which
become the ``Span``s of a match. Words are looked up in the folded text (see ``view``), never by
tokenising the story.
"""

from __future__ import annotations

import itertools
import unicodedata
from bisect import bisect_left
from collections.abc import Sequence
from itertools import pairwise

from monitor.match.prefilter import Literal, Requirement, all_of, any_of, choose_clause
from monitor.match.tokens import HYPHENS
from monitor.match.view import StoryView

Range = tuple[int, int]
Occ = tuple[int, int, tuple[Range, ...]]


class Positional:
    """Something that occurs at places in the text: a word, phrase, list, proximity or NEAR."""

    __slots__ = ()

    def occurrences(self, view: StoryView) -> list[Occ]:
        """Every place this occurs, sorted by start; cached per story."""
        found: list[Occ] | None = view.cache.get(self)
        if found is None:
            found = self._find(view)
            view.cache[self] = found
        return found

    def _find(self, view: StoryView) -> list[Occ]:
        raise NotImplementedError

    def exists(self, view: StoryView, lo: int, hi: int) -> bool:
        """Whether this occurs starting between folded offsets ``lo`` and ``hi``."""
        for occ in self.occurrences(view):  # noqa: SIM110 -- hot path: 3x faster than any()
            if lo <= occ[0] < hi:
                return True
        return False

    def requirement(self) -> Requirement | None:
        """What must occur for this to occur (see ``prefilter``)."""
        raise NotImplementedError

    def parts(self, view: StoryView) -> list[Range]:
        """Where any of the words inside occur, even where this node as a whole does not:
        shows a rule writer what was found when a phrase or NEAR failed."""
        return [p for occ in self.occurrences(view) for p in occ[2]]

    def why_not(self, view: StoryView, lo: int, hi: int) -> str | None:
        """For an explanation, when this does not occur between ``lo`` and ``hi`` although
        something close does: what is missing (None: nothing close occurs)."""
        return None


class WordLeaf(Positional):
    """One word: a folded literal, optionally a prefix, optionally in exact case."""

    __slots__ = ("exact", "literal")

    def __init__(self, literal: Literal, exact: str | None) -> None:
        self.literal = literal
        self.exact = exact  # the word as written, NFC, when case must match exactly

    def _find(self, view: StoryView) -> list[Occ]:
        lit = self.literal
        ranges = view.find(lit.id, lit.key, lit.prefix)
        if self.exact is not None:
            exact = self.exact
            prefix = self.literal.prefix
            ranges = [(s, e) for s, e in ranges if _same_case(view.original_text(s, e), exact, prefix)]
        return [(s, e, ((s, e),)) for s, e in ranges]

    def exists(self, view: StoryView, lo: int, hi: int) -> bool:
        if self.exact is not None:
            # Checking the case needs every occurrence; most stories lack the word entirely.
            lit = self.literal
            return view.has(lit.id, lit.needle, lo, hi) and super().exists(view, lo, hi)
        # The common case, kept cheap: a plain word tested for presence in some fields.
        return view.has(self.literal.id, self.literal.needle, lo, hi)

    def requirement(self) -> Requirement | None:
        return self.literal

    def why_not(self, view: StoryView, lo: int, hi: int) -> str | None:
        if self.exact is None:
            return None
        lit = self.literal
        found = [view.original_text(s, e) for s, e in view.find(lit.id, lit.key, lit.prefix) if lo <= s < hi]
        if not found:
            return None
        return f"found as {', '.join(dict.fromkeys(found))}: the case differs"


def _same_case(found: str, exact: str, prefix: bool) -> bool:
    if not found.isascii():
        found = unicodedata.normalize("NFC", found)
    return found.startswith(exact) if prefix else found == exact


def _only_hyphens(gap: str) -> bool:
    return bool(gap) and all(c in HYPHENS for c in gap)


def _each_exists(parts: Sequence[Positional], view: StoryView, lo: int, hi: int) -> bool:
    for part in parts:  # noqa: SIM110 -- hot path: a loop is 3x faster than all(genexpr)
        if not part.exists(view, lo, hi):
            return False
    return True


class Seq(Positional):
    """Elements directly after one another (only non-words between): a phrase or ``Su-57``.

    ``hyphenated``: only a hyphen or dash may stand between them. A designation found through
    the other alphabet needs it: "С-400" is the missile, "с 400" is Russian for "with 400".
    """

    __slots__ = ("elements", "hyphenated")

    def __init__(self, elements: Sequence[Positional], hyphenated: bool = False) -> None:
        self.elements = tuple(elements)
        self.hyphenated = hyphenated

    def _find(self, view: StoryView) -> list[Occ]:
        first = self.elements[0].occurrences(view)
        if not first:
            return []
        rest: list[list[Occ]] = []
        for element in self.elements[1:]:
            occs = element.occurrences(view)
            if not occs:
                return []
            rest.append(occs)
        found: list[Occ] = []
        for start, first_end, _ in first:
            ends = {first_end}
            for occs in rest:
                # Only occurrences starting at the first word after the previous end can
                # follow it (anything later has that word in between); several may start
                # there ("New" and "New Delhi" from one @list).
                following: set[int] = set()
                for end in ends:
                    i = bisect_left(occs, end, key=lambda o: o[0])
                    if i == len(occs) or view.gap_words(end, occs[i][0]) != 0:
                        continue
                    if self.hyphenated and not _only_hyphens(view.original_text(end, occs[i][0])):
                        continue
                    at = occs[i][0]
                    while i < len(occs) and occs[i][0] == at:
                        following.add(occs[i][1])
                        i += 1
                ends = following
                if not ends:
                    break
            found.extend((start, end, ((start, end),)) for end in sorted(ends))
        return found

    def exists(self, view: StoryView, lo: int, hi: int) -> bool:
        # A phrase lies inside one field, so each word must occur in the range: a cheap test
        # that rejects most stories before the words' positions are lined up.
        return _each_exists(self.elements, view, lo, hi) and super().exists(view, lo, hi)

    def requirement(self) -> Requirement | None:
        return all_of(e.requirement() for e in self.elements)

    # ``parts`` is only where the whole occurs: the pieces of "S-400" or the "and" of
    # "Indian and Russian" found elsewhere would be noise; ``why_not`` says they occur.

    def why_not(self, view: StoryView, lo: int, hi: int) -> str | None:
        if any(isinstance(e, WordLeaf) and e.exact is not None for e in self.elements):
            # ="Indian Navy" against "indian navy": say so, as for a single word.
            loose = Seq([_any_case(e) for e in self.elements], self.hyphenated)
            found = [view.original_text(s, e) for s, e, _ in loose.occurrences(view) if lo <= s < hi]
            if found:
                return f"found as {', '.join(dict.fromkeys(found))}: the case differs"
        if len(self.elements) > 1 and _each_exists(self.elements, view, lo, hi):
            return "its words occur, but not together as written"
        return None


def _any_case(element: Positional) -> Positional:
    return WordLeaf(element.literal, None) if isinstance(element, WordLeaf) else element


def _words(count: int, kind: str = "") -> str:
    return f"{count} {kind}word" + ("" if count == 1 else "s")


class AnyOf(Positional):
    """Any of several alternatives: an @list, a spelling variant, an OR inside NEAR."""

    __slots__ = ("alternatives",)

    def __init__(self, alternatives: Sequence[Positional]) -> None:
        self.alternatives = tuple(alternatives)

    def _find(self, view: StoryView) -> list[Occ]:
        found: set[Occ] = set()
        for alt in self.alternatives:
            found.update(alt.occurrences(view))
        return sorted(found)

    def exists(self, view: StoryView, lo: int, hi: int) -> bool:
        for alt in self.alternatives:  # noqa: SIM110 -- hot path
            if alt.exists(view, lo, hi):
                return True
        return False

    def requirement(self) -> Requirement | None:
        return any_of(a.requirement() for a in self.alternatives)

    def parts(self, view: StoryView) -> list[Range]:
        return [p for a in self.alternatives for p in a.parts(view)]

    def why_not(self, view: StoryView, lo: int, hi: int) -> str | None:
        return next((why for a in self.alternatives if (why := a.why_not(view, lo, hi))), None)


class TermList(AnyOf):
    """An @list: any of its entries. Lists run to hundreds of entries and a story holds few of
    them, so every word of a list is found by the prefilter's one pass (see ``RuleSet``) and an
    entry is looked at only when a word it needs occurred."""

    __slots__ = ("_by_literal", "_gate")

    def __init__(self, alternatives: Sequence[Positional]) -> None:
        super().__init__(alternatives)
        by_literal: dict[int, list[Positional]] = {}
        for alt in self.alternatives:
            requirement = alt.requirement()
            if requirement is None:  # pragma: no cover - every entry has a word (compile checks)
                raise ValueError("a term list entry without words")
            for lit in choose_clause(requirement, _uniform):
                by_literal.setdefault(lit.id, []).append(alt)
        self._by_literal = {lit: tuple(alts) for lit, alts in by_literal.items()}
        self._gate = frozenset(by_literal)

    def _present(self, view: StoryView) -> list[Positional]:
        """The entries whose needed words occurred (relies on all of them being scanned)."""
        found = self._gate.intersection(view.occurrences)
        if len(found) == 1:
            return list(self._by_literal[next(iter(found))])
        return list({id(alt): alt for lit in found for alt in self._by_literal[lit]}.values())

    def _find(self, view: StoryView) -> list[Occ]:
        found: set[Occ] = set()
        for alt in self._present(view):
            found.update(alt.occurrences(view))
        return sorted(found)

    def exists(self, view: StoryView, lo: int, hi: int) -> bool:
        for alt in self._present(view):  # noqa: SIM110 -- hot path
            if alt.exists(view, lo, hi):
                return True
        return False


def _uniform(_: Literal) -> float:
    return 1.0


class Near(Positional):
    """Both operands with at most ``distance`` words between them, in either order."""

    __slots__ = ("distance", "left", "right")

    def __init__(self, left: Positional, right: Positional, distance: int) -> None:
        self.left, self.right, self.distance = left, right, distance

    def _find(self, view: StoryView) -> list[Occ]:
        lefts = self.left.occurrences(view)
        rights = self.right.occurrences(view) if lefts else []
        if not rights:
            return []
        n = self.distance
        starts = [r[0] for r in rights]
        # Latest end among rights[:j + 1]: bounds how close any earlier right can come.
        max_end = list(itertools.accumulate((r[1] for r in rights), max))
        found: set[Occ] = set()
        for ls, le, lp in lefts:
            # Rights after this left, nearest first, until they are too far away.
            i = bisect_left(starts, le)
            for rs, re_, rp in rights[i:]:
                gap = view.gap_words(le, rs)
                if gap is None or gap > n:
                    break
                found.add((ls, re_, lp + rp))
            # Rights starting before this left ends, nearest first.
            for j in range(i - 1, -1, -1):
                reach = view.gap_words(max_end[j], ls)
                if reach is None or reach > n:
                    break
                rs, re_, rp = rights[j]
                gap = view.gap_words(re_, ls)
                if gap is not None and gap <= n and (rs, re_) != (ls, le):
                    found.add((min(ls, rs), max(le, re_), rp + lp))
        return sorted(found)

    def exists(self, view: StoryView, lo: int, hi: int) -> bool:
        if self in view.cache:
            return super().exists(view, lo, hi)
        # A test needs one pair, not all: for each left, look only at the nearest right after
        # it and at the latest end before it. A NEAR never crosses fields, so the left's
        # start decides the field.
        lefts = [o for o in self.left.occurrences(view) if lo <= o[0] < hi]
        rights = self.right.occurrences(view) if lefts else []
        if not rights:
            return False
        starts = [r[0] for r in rights]
        max_end = list(itertools.accumulate((r[1] for r in rights), max))
        for ls, le, _ in lefts:
            i = bisect_left(starts, le)
            if i < len(rights):
                gap = view.gap_words(le, rights[i][0])
                if gap is not None and gap <= self.distance:
                    return True
            if i and max_end[i - 1] > ls:
                return super().exists(view, lo, hi)  # operands overlap: enumerate in full
            if i:
                gap = view.gap_words(max_end[i - 1], ls)
                if gap is not None and gap <= self.distance:
                    return True
        return False

    def requirement(self) -> Requirement | None:
        return all_of((self.left.requirement(), self.right.requirement()))

    def parts(self, view: StoryView) -> list[Range]:
        return super().parts(view) or self.left.parts(view) + self.right.parts(view)

    def why_not(self, view: StoryView, lo: int, hi: int) -> str | None:
        if self.left.exists(view, lo, hi) and self.right.exists(view, lo, hi):
            return f"both occur, but not within {_words(self.distance)} of each other"
        return None


class Proximity(Positional):
    """``"w1 w2 …"~n``: every unit within a window holding at most ``slop`` other words."""

    __slots__ = ("slop", "units")

    def __init__(self, units: Sequence[Positional], slop: int) -> None:
        self.units, self.slop = tuple(units), slop

    def _find(self, view: StoryView) -> list[Occ]:
        lists = [u.occurrences(view) for u in self.units]
        if not all(lists):
            return []
        events = sorted((o, k) for k, occs in enumerate(lists) for o in occs)
        latest: dict[int, Occ] = {}
        found: set[Occ] = set()
        for occ, k in events:
            latest[k] = occ
            if len(latest) < len(self.units):
                continue
            # The tightest window ending here uses the latest occurrence of each unit.
            chosen = sorted(latest.values())
            if len(set(chosen)) < len(chosen):
                continue  # one place cannot stand for two words of the phrase
            other = 0
            for (_, prev_end, _), (start, _, _) in pairwise(chosen):
                words = view.gap_words(prev_end, start)
                if words is None:
                    other = self.slop + 1
                    break
                other += words
            if other <= self.slop:
                parts = tuple(p for o in chosen for p in o[2])
                found.add((chosen[0][0], max(o[1] for o in chosen), parts))
        return sorted(found)

    def exists(self, view: StoryView, lo: int, hi: int) -> bool:
        # Like a phrase, a proximity never crosses fields (see ``Seq.exists``).
        return _each_exists(self.units, view, lo, hi) and super().exists(view, lo, hi)

    def requirement(self) -> Requirement | None:
        return all_of(u.requirement() for u in self.units)

    def parts(self, view: StoryView) -> list[Range]:
        return super().parts(view) or [p for u in self.units for p in u.parts(view)]

    def why_not(self, view: StoryView, lo: int, hi: int) -> str | None:
        if _each_exists(self.units, view, lo, hi):
            return f"its words occur, but not within {_words(self.slop, 'other ')}"
        return None
