"""Boolean nodes: AND, OR, NOT, fields, ``site:`` and ``lang:``, evaluated against a story.

Besides ``test``, each node can say which positive words made it true (``collect``, for a
match's spans), which occur at all (``partial``, for explaining a non-match) and which of its
sub-clauses failed (``failed``), and what it requires for the prefilter (``requirement``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from monitor.match.positional import Occ, Positional, Range
from monitor.match.prefilter import Requirement, all_of, any_of
from monitor.match.view import TEXT_FIELDS, StoryView


class Test:
    """A boolean node; ``src`` is its text in the query, quoted when explaining a failure."""

    __slots__ = ("src",)

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

    def alternatives(self, view: StoryView) -> list[tuple[str, list[str]]]:
        """For a false OR: each alternative with the sub-clauses it fails on. A rule is often
        one OR of several ways to match; quoting the whole of it would explain nothing."""
        return []

    def requirement(self) -> Requirement | None:
        """What must occur for this to be true; None when it can be true without any word."""
        return None


#: Separates a failed clause from why it failed: ``title:India — found only in summary``.
REASON = " — "


class InFields(Test):
    """A positional node occurring in a range of fields (by default title, summary, body)."""

    __slots__ = ("first", "last", "node")

    def __init__(self, node: Positional, first: int, last: int, src: str) -> None:
        super().__init__(src)
        self.node, self.first, self.last = node, first, last

    def _occs(self, view: StoryView) -> list[Occ]:
        lo, hi = view.field_range(self.first, self.last)
        return [o for o in self.node.occurrences(view) if lo <= o[0] < hi]

    def test(self, view: StoryView) -> bool:
        lo, hi = view.field_range(self.first, self.last)
        return self.node.exists(view, lo, hi)

    def collect(self, view: StoryView, out: list[Range]) -> None:
        for occ in self._occs(view):
            out.extend(occ[2])

    def partial(self, view: StoryView, out: list[Range]) -> None:
        lo, hi = view.field_range(self.first, self.last)
        out.extend(p for p in self.node.parts(view) if lo <= p[0] < hi)

    def failed(self, view: StoryView) -> list[str]:
        if self.test(view):
            return []
        lo, hi = view.field_range(self.first, self.last)
        elsewhere = {view.span(s, e).field for occ in self.node.occurrences(view) for s, e in occ[2]}
        if elsewhere:  # it occurs, in fields the clause does not look at
            fields = ", ".join(f for f in TEXT_FIELDS if f in elsewhere)
            return [f"{self.src}{REASON}found only in {fields}"]
        why = self.node.why_not(view, lo, hi)
        return [f"{self.src}{REASON}{why}" if why else self.src]

    def requirement(self) -> Requirement | None:
        return self.node.requirement()


class AllOf(Test):
    """AND: every child."""

    __slots__ = ("children",)

    def __init__(self, children: Sequence[Test], src: str) -> None:
        super().__init__(src)
        self.children = tuple(children)

    def test(self, view: StoryView) -> bool:
        for c in self.children:  # noqa: SIM110 -- hot path: a loop is 3x faster than all(genexpr)
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
        for c in self.children:  # noqa: SIM110 -- hot path, see AllOf.test
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

    def alternatives(self, view: StoryView) -> list[tuple[str, list[str]]]:
        if self.test(view):
            return []
        return [(c.src, c.failed(view)) for c in self.children]

    def requirement(self) -> Requirement | None:
        return any_of(c.requirement() for c in self.children)


class Negation(Test):
    """NOT / -: true when the child is false; its words never count as matched."""

    __slots__ = ("child",)

    def __init__(self, child: Test, src: str) -> None:
        super().__init__(src)
        self.child = child

    def test(self, view: StoryView) -> bool:
        return not self.child.test(view)

    def failed(self, view: StoryView) -> list[str]:
        if self.test(view):
            return []
        if isinstance(self.child, Negation):  # NOT NOT oil fails where oil fails
            return self.child.child.failed(view)
        ranges: list[Range] = []
        self.child.collect(view, ranges)
        words = list(dict.fromkeys(view.original_text(s, e) for s, e in sorted(set(ranges))))
        return [f"{self.src}{REASON}excluded, and it occurs" + (f": {', '.join(words)}" if words else "")]


class Site(Test):
    """``site:thehindu.com`` or ``site:@indian_outlets``: the story's host is one of the domains
    or a subdomain of one. A set lookup per label of the host, however long the list."""

    __slots__ = ("domains",)

    def __init__(self, domains: Iterable[str], src: str) -> None:
        super().__init__(src)
        self.domains = frozenset(domains)

    def test(self, view: StoryView) -> bool:
        host = view.cache.get(Site)
        if host is None:
            host = view.cache[Site] = view.story.site.lower()
        labels = host.split(".")
        for i in range(len(labels)):  # noqa: SIM110 -- hot path
            if ".".join(labels[i:]) in self.domains:
                return True
        return False

    def failed(self, view: StoryView) -> list[str]:
        if self.test(view):
            return []
        site = view.story.site
        return [f"{self.src}{REASON}" + (f"the story is from {site}" if site else "the story has no address")]


class Lang(Test):
    """``lang:ru``: the story's language tag is that language (``ru`` matches ``ru-RU``)."""

    __slots__ = ("code",)

    def __init__(self, code: str, src: str) -> None:
        super().__init__(src)
        self.code = code

    def test(self, view: StoryView) -> bool:
        lang = (view.story.lang or "").lower().replace("_", "-")
        return lang == self.code or lang.startswith(self.code + "-")

    def failed(self, view: StoryView) -> list[str]:
        if self.test(view):
            return []
        lang = view.story.lang
        return [f"{self.src}{REASON}" + (f"the story is in {lang}" if lang else "the story has no language")]
