"""Run rules over stored stories, to judge a rule change before it goes live. Pure."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Protocol

from monitor.models import Match, Story


class _Matcher(Protocol):
    """The part of monitor.match.RuleSet used here."""

    def match(self, story: Story) -> list[Match]: ...


@dataclass
class BacktestResult:
    """What a set of rules would have caught."""

    scanned: int = 0
    caught: list[tuple[Story, list[Match]]] = field(default_factory=list)
    per_rule: Counter[str] = field(default_factory=Counter)
    per_feed: Counter[str] = field(default_factory=Counter)
    per_term: Counter[str] = field(default_factory=Counter)


def backtest(
    stories: Iterable[Story],
    matcher: _Matcher,
    *,
    rule: str | None = None,
    progress: Callable[[int], object] | None = None,
) -> BacktestResult:
    """Match every story; keep those that ``rule`` (or any rule) catches, with counts."""
    result = BacktestResult()
    for story in stories:
        result.scanned += 1
        matches = [m for m in matcher.match(story) if rule is None or m.rule == rule]
        if matches:
            result.caught.append((story, matches))
            result.per_feed[story.feed] += 1
            for m in matches:
                result.per_rule[m.rule] += 1
                result.per_term.update(set(m.terms))
        if progress is not None:
            progress(1)
    return result
