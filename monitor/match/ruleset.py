"""A compiled set of rules: the one object the rest of monitor matches stories with."""

from __future__ import annotations

import types
from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass

from monitor.errors import RuleError
from monitor.match.compile import CompileError, Compiler
from monitor.match.evaluate import Test
from monitor.match.explain import Explanation
from monitor.match.positional import Range
from monitor.match.prefilter import Literal, Literals, Scanner, choose_clause, literal_cost
from monitor.match.syntax import QuerySyntaxError
from monitor.match.view import StoryView, make_view
from monitor.models import Match, Rule, Span, Story

_NO_LISTS: Mapping[str, Sequence[str]] = types.MappingProxyType({})


@dataclass(frozen=True, slots=True)
class _Compiled:
    rule: Rule
    test: Test


class RuleSet:
    """Rules compiled once; ``match`` evaluates a story only against rules whose words occur."""

    __slots__ = ("_always", "_by_literal", "_by_name", "_compiled", "_scanned", "_scanner")

    def __init__(
        self,
        compiled: Sequence[_Compiled],
        uses: Mapping[int, int],
        names: Set[int],
        list_literals: Sequence[Literal] = (),
    ) -> None:
        self._compiled = tuple(compiled)
        self._by_name = {c.rule.name: i for i, c in enumerate(self._compiled)}
        by_literal: dict[Literal, list[int]] = {}
        always: list[int] = []
        cost = literal_cost(uses, names)
        for i, c in enumerate(self._compiled):
            requirement = c.test.requirement()
            if requirement is None:
                always.append(i)
                continue
            for lit in choose_clause(requirement, cost):
                by_literal.setdefault(lit, []).append(i)
        self._by_literal = {lit.id: tuple(rules) for lit, rules in by_literal.items()}
        self._always = tuple(always)
        # The clause literals are scanned for up front, and the words of term lists (a
        # ``TermList`` skips the entries whose words did not occur); other words of a candidate
        # rule are looked up when it is evaluated.
        scanned = {lit.id: lit for lit in [*by_literal, *list_literals]}
        self._scanner = Scanner(list(scanned.values()))
        self._scanned = frozenset(scanned)

    @property
    def rules(self) -> tuple[Rule, ...]:
        """The rules, in the order given."""
        return tuple(c.rule for c in self._compiled)

    def wordless(self) -> tuple[str, ...]:
        """Rules that can match a story holding none of their words (``NOT oil``, or only
        ``site:``/``lang:``): evaluated for every story, they alert on whatever gets past them."""
        return tuple(self._compiled[i].rule.name for i in self._always)

    def _view(self, story: Story) -> StoryView:
        view = make_view(story)
        view.occurrences = self._scanner.scan(view.text)
        view.scanned = self._scanned
        return view

    def _candidates(self, view: StoryView) -> list[int]:
        by_literal = self._by_literal
        found: set[int] = set(self._always)
        for lit in view.occurrences:
            rules = by_literal.get(lit)
            if rules:
                found.update(rules)
        return sorted(found)

    def match(self, story: Story) -> list[Match]:
        """One ``Match`` per rule the story satisfies, in rule order."""
        view = self._view(story)
        if not view.occurrences and not self._always:
            return []  # the common case: no rule's required words occur
        matches: list[Match] = []
        for i in self._candidates(view):
            compiled = self._compiled[i]
            if compiled.test.test(view):
                ranges: list[Range] = []
                compiled.test.collect(view, ranges)
                spans = _spans(view, ranges)
                matches.append(Match(compiled.rule.name, _distinct_terms(spans), spans))
        return matches

    def is_candidate(self, story: Story) -> bool:
        """Cheap: could any rule match this story? True when a rule's required words occur in
        it, or a rule that needs no words (e.g. ``site:`` only) already matches it. Used to
        decide whether fetching the full text is worth it."""
        view = self._view(story)
        by_literal = self._by_literal
        if any(lit in by_literal for lit in view.occurrences):
            return True
        return any(self._compiled[i].test.test(view) for i in self._always)

    def explain(self, rule_name: str, story: Story) -> Explanation:
        """Why one rule does or does not match a story (evaluated in full, without prefilter)."""
        index = self._by_name.get(rule_name)
        if index is None:
            known = ", ".join(sorted(self._by_name))
            raise KeyError(f"unknown rule {rule_name!r} (known: {known})")
        compiled = self._compiled[index]
        view = self._view(story)
        ranges: list[Range] = []
        if compiled.test.test(view):
            compiled.test.collect(view, ranges)
            return Explanation(compiled.rule, True, _spans(view, ranges), ())
        compiled.test.partial(view, ranges)
        failed = tuple(compiled.test.failed(view))
        alternatives = tuple((src, tuple(why)) for src, why in compiled.test.alternatives(view))
        return Explanation(compiled.rule, False, _spans(view, ranges), failed, alternatives)


def _spans(view: StoryView, ranges: list[Range]) -> tuple[Span, ...]:
    """Distinct ranges as ``Span``s, in field order then text order."""
    return tuple(view.span(s, e) for s, e in sorted(set(ranges)))


def _distinct_terms(spans: Sequence[Span]) -> tuple[str, ...]:
    """Matched words as written, each once (case-insensitively), in order of appearance."""
    seen: dict[str, str] = {}
    for span in spans:
        term = " ".join(span.term.split())  # a phrase across a line break, shown on one line
        seen.setdefault(term.casefold(), term)
    return tuple(seen.values())


def compile_rules(rules: Sequence[Rule], term_lists: Mapping[str, Sequence[str]]) -> RuleSet:
    """Compile rules once; raises ``RuleError`` (rule, position, what was expected) for a bad
    query or a duplicated rule name."""
    literals = Literals()
    compiler = Compiler(literals, term_lists)
    compiled: list[_Compiled] = []
    names: set[str] = set()
    for rule in rules:
        if rule.name in names:
            raise RuleError(rule.name, rule.query, 0, "another rule already has this name")
        names.add(rule.name)
        try:
            test = compiler.compile(rule.query)
        except (QuerySyntaxError, CompileError) as exc:
            term_list = exc.term_list if isinstance(exc, CompileError) else None
            raise RuleError(rule.name, rule.query, exc.position, exc.message, term_list) from None
        compiled.append(_Compiled(rule, test))
    list_literals = [literals.all[i] for i in sorted(compiler.in_lists)]
    return RuleSet(compiled, compiler.uses, compiler.capitalised, list_literals)


def compile_query(
    query: str, term_lists: Mapping[str, Sequence[str]] = _NO_LISTS, name: str = "query"
) -> RuleSet:
    """A one-rule set, for trying a query directly (``monitor match --query``)."""
    return compile_rules([Rule(name=name, query=query)], term_lists)
