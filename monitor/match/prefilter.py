"""The prefilter: per-rule clauses, and one Aho–Corasick automaton over all their words.

Each rule also gets a *clause*: a set of its words of which at least one must occur for the rule
to be true at all (the words of one AND-branch, the union over an OR's branches; nothing under a
NOT). A story is only evaluated against the rules whose clause words occur in it; rules without
a clause (pure negations, ``site:``/``lang:`` only) are always evaluated. Of an AND's branches
the one expected to occur least is chosen (see ``literal_cost``).

One pass of one automaton over a story's folded text finds every clause word of every rule, so
the cost of rejecting a story hardly grows with the number of rules. ``Automaton.iter`` reports
overlapping matches (``iter_long`` would hide a word inside a longer key and lose matches).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Set
from dataclasses import dataclass

import ahocorasick

from monitor.match.view import Occurrences, needle


@dataclass(frozen=True, slots=True)
class Literal:
    """A folded query word; ``prefix`` for a trailing wildcard (``logist*``)."""

    id: int
    key: str
    prefix: bool
    #: The padded search string (see ``view.needle``).
    needle: str


@dataclass(frozen=True, slots=True)
class AllOfReq:
    """Every part is required (an AND, a phrase, a NEAR)."""

    parts: tuple[Requirement, ...]


@dataclass(frozen=True, slots=True)
class AnyOfReq:
    """One of the parts is required (an OR, an @list, spelling variants)."""

    parts: tuple[Requirement, ...]


#: What a node needs to occur in a story: a word, or a combination of requirements.
Requirement = Literal | AllOfReq | AnyOfReq
#: A prefilter clause: at least one of these literals must occur.
Clause = frozenset[Literal]


def all_of(parts: Iterable[Requirement | None]) -> Requirement | None:
    """Requirement of an AND: the parts that require something (None if none does)."""
    known = tuple(p for p in parts if p is not None)
    if not known:
        return None
    return known[0] if len(known) == 1 else AllOfReq(known)


def any_of(parts: Iterable[Requirement | None]) -> Requirement | None:
    """Requirement of an OR: None as soon as one branch requires nothing."""
    known: list[Requirement] = []
    for p in parts:
        if p is None:
            return None
        known.append(p)
    return known[0] if len(known) == 1 else AnyOfReq(tuple(known))


def choose_clause(req: Requirement, cost: Callable[[Literal], float]) -> Clause:
    """The cheapest set of literals of which one must occur for ``req`` to hold: for an AND
    one part suffices (take the cheapest), for an OR every branch must be covered."""
    if isinstance(req, Literal):
        return frozenset((req,))
    clauses = [choose_clause(p, cost) for p in req.parts]
    if isinstance(req, AnyOfReq):
        return frozenset().union(*clauses)
    return min(clauses, key=lambda c: sum(cost(lit) for lit in c))


def literal_cost(uses: Mapping[int, int], names: Set[int]) -> Callable[[Literal], float]:
    """Expected work if a literal is chosen, from what the rules themselves reveal: how likely
    it occurs (short words and prefixes occur more often; words written with a capital, like
    RELOS or Lavrov, are names, rarer than lower-case "defence") times how many rules use it
    (a word many rules share is a topic word, common in news)."""

    def cost(lit: Literal) -> float:
        chance = (1.0 + 8.0 / len(lit.key)) * (2.0 if lit.prefix else 1.0)
        if lit.id in names:
            chance /= 2
        return chance * (1 + uses.get(lit.id, 0))

    return cost


class Literals:
    """Registry of the query words of a rule set, shared by all rules: one id per word."""

    def __init__(self) -> None:
        self._by_key: dict[tuple[str, bool], Literal] = {}
        #: Every literal, by id.
        self.all: list[Literal] = []

    def add(self, key: str, prefix: bool) -> Literal:
        """The literal for a folded word (registering it on first use)."""
        lit = self._by_key.get((key, prefix))
        if lit is None:
            lit = Literal(len(self._by_key), key, prefix, needle(key, prefix))
            self._by_key[(key, prefix)] = lit
            self.all.append(lit)
        return lit


class Scanner:
    """Finds every literal in folded text in one automaton pass.

    Folded text has exactly one kind of separator, the space, and is padded with one, so a
    key " word " can only match a whole word and " prefix" only the start of one: no match
    needs a boundary check, and none is lost to overlapping keys.
    """

    def __init__(self, literals: list[Literal]) -> None:
        self._automaton: ahocorasick.Automaton | None = None
        if literals:
            automaton = ahocorasick.Automaton()
            for lit in literals:
                automaton.add_word(lit.needle, (lit.id, len(lit.needle), lit.prefix))
            automaton.make_automaton()
            self._automaton = automaton

    def scan(self, text: str) -> Occurrences:
        """Occurrences ``(start, end)`` of each literal id in ``text`` (padded with spaces)."""
        found: Occurrences = {}
        if self._automaton is None:
            return found
        for end, (lit, length, prefix) in self._automaton.iter(text):
            start = end - length + 2
            # A prefix match ends where its word ends, at the next space.
            stop = text.find(" ", end) if prefix else end
            if lit in found:
                found[lit].append((start, stop))
            else:
                found[lit] = [(start, stop)]
        return found
