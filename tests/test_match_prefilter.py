"""The prefilter never changes results: it only skips rules that cannot match."""

from __future__ import annotations

import random
from datetime import UTC, datetime

from monitor.match import compile_rules
from monitor.models import Rule, Story

_NOW = datetime(2026, 3, 1, tzinfo=UTC)
VOCABULARY = [
    "India", "Russia", "RELOS", "Relos", "logistics", "support", "agreement", "defence",
    "oil", "S-400", "S400", "Su-57", "frigate", "frigates", "navy", "Россия", "России",
    "Индия", "भारत", "रूस", "रक्षा", "pact", "cricket", "the", "and",
]
QUERY_WORDS = [
    "India", "Russia", "=RELOS", "relos", "logist*", "support", "defence", "oil", "S-400",
    "Su-57", "frigate*", "Росси*", "भारत", "रक्षा", '"logistics support"',
    '"India Russia"~3', "@india", "@russia", "pact", "the",
]
LISTS = {"india": ["India", "Индия", "भारत", "Indo*"], "russia": ["Russia", "Росси*", "रूस"]}


def _query(rng: random.Random, depth: int = 0) -> str:
    roll = rng.random()
    if depth > 2 or roll < 0.35:
        word = rng.choice(QUERY_WORDS)
        field = rng.choice(["", "", "", "title:", "summary:"])
        return field + word
    if roll < 0.55:
        return f"{_query(rng, depth + 1)} AND {_query(rng, depth + 1)}"
    if roll < 0.75:
        return f"({_query(rng, depth + 1)} OR {_query(rng, depth + 1)})"
    if roll < 0.85:
        return f"NOT {_query(rng, depth + 1)}"
    if roll < 0.95:
        a, b = rng.choice(QUERY_WORDS[:14]), rng.choice(QUERY_WORDS[:14])
        return f"{a} NEAR/{rng.randint(0, 4)} {b}"
    return f"{_query(rng, depth + 1)} -{rng.choice(QUERY_WORDS[:12])}"


def _text(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(VOCABULARY) for _ in range(n))


def test_match_equals_full_evaluation_on_random_rules_and_stories() -> None:
    """For 200 random rules and 150 random stories, match() agrees with evaluating every rule."""
    rng = random.Random(20260301)
    rules = [Rule(f"r{i}", _query(rng)) for i in range(200)]
    ruleset = compile_rules(rules, LISTS)
    for i in range(150):
        story = Story(feed="f", guid=str(i), url="https://example.org/x", title=_text(rng, 6),
                      summary=_text(rng, 12), published=_NOW, fetched=_NOW,
                      body=_text(rng, 20) if i % 2 else None)
        matched = {m.rule for m in ruleset.match(story)}
        expected = {r.name for r in rules if ruleset.explain(r.name, story).matched}
        assert matched == expected, story


def _story(title: str) -> Story:
    return Story(feed="f", guid="g", url="https://example.org/x", title=title, summary="",
                 published=_NOW, fetched=_NOW)


def test_rule_is_skipped_when_its_rarest_required_word_is_absent() -> None:
    """A word many rules share (here 'defence') is not what a rule is filtered on."""
    rules = [Rule("relos", "RELOS AND defence")]
    ports = ["Karwar", "Vizag", "Kochi", "Mumbai", "Chennai"]
    rules += [Rule(port.lower(), f"defence AND {port}") for port in ports]
    ruleset = compile_rules(rules, {})
    assert not ruleset.is_candidate(_story("defence ministers meet"))
    assert ruleset.is_candidate(_story("RELOS ratified"))


def test_pure_negation_rules_are_always_evaluated() -> None:
    """A rule with no required word (NOT …) is evaluated for every story."""
    ruleset = compile_rules([Rule("quiet", "NOT cricket"), Rule("relos", "RELOS")], {})
    assert [m.rule for m in ruleset.match(_story("Monsoon arrives"))] == ["quiet"]
    assert [m.rule for m in ruleset.match(_story("RELOS and cricket"))] == ["relos"]


def test_or_with_an_unfilterable_branch_is_always_evaluated() -> None:
    """RELOS OR site:… can match without any word, so it must not be skipped."""
    rules = [Rule("r", "RELOS OR site:example.org")]
    assert compile_rules(rules, {}).match(_story("nothing here"))[0].rule == "r"
