"""Compiled queries: positional nodes find where words, phrases and NEARs occur; boolean nodes
combine them. Everything works from the occurrences the scanner found, never from the raw text.

Positional nodes return *occurrences* ``(start, end, parts)`` in folded-text offsets; ``parts`` are
the ranges of the words that actually matched (a NEAR's two operands, not the words between),
which become the ``Span``s of a match.
"""

from __future__ import annotations

import unicodedata
from bisect import bisect_left
from collections.abc import Sequence
from itertools import pairwise
from typing import ClassVar

from monitor.match.prefilter import Literal, Requirement, all_of, any_of
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
        for occ in self.occurrences(view):
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
            return super().exists(view, lo, hi)
        # The common case, kept cheap: a plain word tested for presence in some fields.
        lit = self.literal
        for start, _ in view.find(lit.id, lit.key, lit.prefix):
            if lo <= start < hi:
                return True
        return False

    def requirement(self) -> Requirement | None:
        return self.literal


def _same_case(found: str, exact: str, prefix: bool) -> bool:
    if not found.isascii():
        found = unicodedata.normalize("NFC", found)
    return found.startswith(exact) if prefix else found == exact


class Seq(Positional):
    """Elements directly after one another (only non-words between): a phrase or ``Su-57``."""

    __slots__ = ("elements",)

    def __init__(self, elements: Sequence[Positional]) -> None:
        self.elements = tuple(elements)

    def _find(self, view: StoryView) -> list[Occ]:
        first, *rest = (e.occurrences(view) for e in self.elements)
        if not first or not all(rest):
            return []
        found: list[Occ] = []
        for start, first_end, _ in first:
            end = first_end
            for occs in rest:
                # The first occurrence starting at or after the previous end is the only
                # candidate: anything later has that one (a word) in between.
                i = bisect_left(occs, end, key=lambda o: o[0])
                if i == len(occs) or view.gap_words(end, occs[i][0]) != 0:
                    break
                end = occs[i][1]
            else:
                found.append((start, end, ((start, end),)))
        return found

    def requirement(self) -> Requirement | None:
        return all_of(e.requirement() for e in self.elements)

    def parts(self, view: StoryView) -> list[Range]:
        return super().parts(view) or [p for e in self.elements for p in e.parts(view)]


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
        for alt in self.alternatives:
            if alt.exists(view, lo, hi):
                return True
        return False

    def requirement(self) -> Requirement | None:
        return any_of(a.requirement() for a in self.alternatives)

    def parts(self, view: StoryView) -> list[Range]:
        return [p for a in self.alternatives for p in a.parts(view)]


class Near(Positional):
    """Both operands with at most ``distance`` words between them, in either order."""

    __slots__ = ("distance", "left", "right")

    def __init__(self, left: Positional, right: Positional, distance: int) -> None:
        self.left, self.right, self.distance = left, right, distance

    def _find(self, view: StoryView) -> list[Occ]:
        rights = self.right.occurrences(view)
        if not rights:
            return []
        found: set[Occ] = set()
        for ls, le, lp in self.left.occurrences(view):
            for rs, re_, rp in rights:
                gap = view.gap_words(le, rs) if le <= rs else view.gap_words(re_, ls)
                if gap is not None and gap <= self.distance and (ls, le) != (rs, re_):
                    found.add((min(ls, rs), max(le, re_), lp + rp))
        return sorted(found)

    def requirement(self) -> Requirement | None:
        return all_of((self.left.requirement(), self.right.requirement()))

    def parts(self, view: StoryView) -> list[Range]:
        return super().parts(view) or self.left.parts(view) + self.right.parts(view)


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

    def requirement(self) -> Requirement | None:
        return all_of(u.requirement() for u in self.units)

    def parts(self, view: StoryView) -> list[Range]:
        return super().parts(view) or [p for u in self.units for p in u.parts(view)]


class Test:
    """A boolean node; ``src`` is its text in the query, quoted when explaining a failure."""

    __slots__ = ("src",)
    negated: ClassVar[bool] = False

    def __init__(self, src: str) -> None:
        self.src = src

    def test(self, view: StoryView) -> bool:
        """Whether the story satisfies this node."""
        raise NotImplementedError

    def collect(self, view: StoryView, out: list[Range]) -> None:
        """Add the ranges of positive words that made this (true) node true."""

    def partial(self, view: StoryView, out: list[Range]) -> None:
        """Add the ranges of every positive word that occurs, true or not (for explanations)."""

    def failed(self, view: StoryView) -> list[str]:
        """The sub-clauses, in query syntax, that are false and make this node false."""
        return [] if self.test(view) else [self.src]

    def requirement(self) -> Requirement | None:
        """What must occur for this to be true; None when it can be true without any word."""
        return None


class InFields(Test):
    """A positional node occurring in a range of fields (by default title, summary, body)."""

    __slots__ = ("first", "last", "node")

    def __init__(self, node: Positional, first: int, last: int, src: str) -> None:
        super().__init__(src)
        self.node, self.first, self.last = node, first, last

    def _occs(self, view: StoryView) -> list[Occ]:
        lo, hi = view.starts[self.first], view.starts[self.last + 1]
        return [o for o in self.node.occurrences(view) if lo <= o[0] < hi]

    def test(self, view: StoryView) -> bool:
        return self.node.exists(view, view.starts[self.first], view.starts[self.last + 1])

    def collect(self, view: StoryView, out: list[Range]) -> None:
        for occ in self._occs(view):
            out.extend(occ[2])

    def partial(self, view: StoryView, out: list[Range]) -> None:
        lo, hi = view.starts[self.first], view.starts[self.last + 1]
        out.extend(p for p in self.node.parts(view) if lo <= p[0] < hi)

    def requirement(self) -> Requirement | None:
        return self.node.requirement()


class AllOf(Test):
    """AND: every child."""

    __slots__ = ("children",)

    def __init__(self, children: Sequence[Test], src: str) -> None:
        super().__init__(src)
        self.children = tuple(children)

    def test(self, view: StoryView) -> bool:
        for c in self.children:  # a loop: measurably faster than all() on a generator
            if not c.test(view):
                return False
        return True

    def collect(self, view: StoryView, out: list[Range]) -> None:
        for c in self.children:
            c.collect(view, out)

    def partial(self, view: StoryView, out: list[Range]) -> None:
        for c in self.children:
            c.partial(view, out)

    def failed(self, view: StoryView) -> list[str]:
        return [src for c in self.children for src in c.failed(view)]

    def requirement(self) -> Requirement | None:
        return all_of(c.requirement() for c in self.children)


class OneOf(Test):
    """OR: any child."""

    __slots__ = ("children",)

    def __init__(self, children: Sequence[Test], src: str) -> None:
        super().__init__(src)
        self.children = tuple(children)

    def test(self, view: StoryView) -> bool:
        for c in self.children:
            if c.test(view):
                return True
        return False

    def collect(self, view: StoryView, out: list[Range]) -> None:
        for c in self.children:
            if c.test(view):
                c.collect(view, out)

    def partial(self, view: StoryView, out: list[Range]) -> None:
        for c in self.children:
            c.partial(view, out)

    def requirement(self) -> Requirement | None:
        return any_of(c.requirement() for c in self.children)


class Negation(Test):
    """NOT / -: true when the child is false; its words never count as matched."""

    __slots__ = ("child",)
    negated = True

    def __init__(self, child: Test, src: str) -> None:
        super().__init__(src)
        self.child = child

    def test(self, view: StoryView) -> bool:
        return not self.child.test(view)


class Site(Test):
    """``site:thehindu.com``: the story's host is that domain or a subdomain of it."""

    __slots__ = ("domain",)

    def __init__(self, domain: str, src: str) -> None:
        super().__init__(src)
        self.domain = domain

    def test(self, view: StoryView) -> bool:
        site = view.story.site.lower()
        return site == self.domain or site.endswith("." + self.domain)


class Lang(Test):
    """``lang:ru``: the story's language tag is that language (``ru`` matches ``ru-RU``)."""

    __slots__ = ("code",)

    def __init__(self, code: str, src: str) -> None:
        super().__init__(src)
        self.code = code

    def test(self, view: StoryView) -> bool:
        lang = (view.story.lang or "").lower().replace("_", "-")
        return lang == self.code or lang.startswith(self.code + "-")
