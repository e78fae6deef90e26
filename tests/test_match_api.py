"""The public API of monitor.match: matches, spans, terms, candidates, explanations, snippets."""

from __future__ import annotations

import html
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from monitor.match import Explanation, compile_query, compile_rules, snippet
from monitor.models import Match, Rule, Span, Story

_NOW = datetime(2026, 3, 1, tzinfo=UTC)


def story(title: str, summary: str = "", body: str | None = None) -> Story:
    """A story with the given text."""
    return Story(feed="TASS", guid="g", url="https://tass.com/defense/1", title=title,
                 summary=summary, published=_NOW, fetched=_NOW, body=body, lang="en")


RULES = [
    Rule("relos", '=RELOS OR "logistics support agreement"', priority=2),
    Rule("defence", "(India NEAR/5 Russia) AND (defence OR military OR S-400)"),
    Rule("not-sport", "NOT (cricket OR football)"),
    Rule("hindu-only", "site:thehindu.com"),
]


def test_match_returns_one_match_per_rule_in_rule_order() -> None:
    """match() lists every matching rule once, in the order the rules were given."""
    ruleset = compile_rules(RULES, {})
    s = story("India and Russia: RELOS signed", "S-400 deliveries and RELOS")
    assert [m.rule for m in ruleset.match(s)] == ["relos", "defence", "not-sport"]
    assert ruleset.rules == tuple(RULES)


def test_spans_point_into_each_field_and_terms_are_distinct() -> None:
    """Spans give field and offsets of every positive match; terms are distinct, as written."""
    s = story("India and Russia: RELOS signed", "S-400 deliveries and RELOS")
    match = compile_rules(RULES, {}).match(s)[0]
    assert match == Match(
        "relos",
        ("RELOS",),
        (Span("title", 18, 23, "RELOS"), Span("summary", 21, 26, "RELOS")),
    )
    defence = compile_rules(RULES, {}).match(s)[1]
    assert defence.terms == ("India", "Russia", "S-400")
    for span in defence.spans:
        text = s.title if span.field == "title" else s.summary
        assert text[span.start : span.end] == span.term


def test_spans_survive_text_whose_folding_changes_length() -> None:
    """Offsets stay right in text with ligatures, ß or decomposed accents before the match."""
    title = "Straße ﬁnal: Ме\u0301дведев visits India"
    m = compile_query("India OR Медведев").match(story(title))[0]
    assert [title[s.start : s.end] for s in m.spans] == ["Ме\u0301дведев", "India"]
    assert [s.term for s in m.spans] == ["Ме\u0301дведев", "India"]


def test_negated_words_are_not_spans() -> None:
    """Words under NOT never appear among a match's terms or spans."""
    m = compile_query("India -cricket -Pakistan").match(story("India beat Australia"))[0]
    assert m.terms == ("India",)


def test_or_records_every_true_branch() -> None:
    """When several OR branches are true, all their words are recorded."""
    m = compile_query("RELOS OR India").match(story("India signs RELOS"))[0]
    assert m.terms == ("India", "RELOS")


def test_is_candidate_only_when_a_required_word_occurs() -> None:
    """is_candidate() is true when a rule's required words occur, false otherwise."""
    ruleset = compile_rules(RULES[:2], {})
    assert ruleset.is_candidate(story("Logistics support agreement"))
    assert ruleset.is_candidate(story("Russia says"))
    assert not ruleset.is_candidate(story("Monsoon arrives in Kerala"))


def test_is_candidate_evaluates_rules_without_words() -> None:
    """Rules that need no word (site:, pure NOT) count when they already match."""
    assert compile_query("NOT cricket").is_candidate(story("Monsoon arrives"))
    assert not compile_query("site:thehindu.com").is_candidate(story("Monsoon arrives"))


def test_explain_match_renders_terms_in_context() -> None:
    """A matching explanation says MATCH and shows each term marked in its field."""
    ruleset = compile_rules(RULES, {})
    s = story("India and Russia agree", "Talks on S-400 deliveries and military ties")
    explanation = ruleset.explain("defence", s)
    assert isinstance(explanation, Explanation)
    assert explanation.matched
    assert explanation.failed == ()
    text = explanation.render(s)
    assert text.startswith("MATCH: rule 'defence'")
    assert "«India» and «Russia» agree" in text
    assert "«S-400»" in text


def test_explain_no_match_names_the_failed_clauses() -> None:
    """A failing explanation lists the false sub-clauses as written, and what was found."""
    ruleset = compile_rules(RULES, {})
    s = story("India and Russia discuss oil prices")
    explanation = ruleset.explain("defence", s)
    assert not explanation.matched
    assert explanation.failed == ("(defence OR military OR S-400)",)
    text = explanation.render(s)
    assert text.startswith("NO MATCH: rule 'defence'")
    assert "failed: (defence OR military OR S-400)" in text
    assert "«India»" in text


def test_explain_a_failed_or_shows_what_each_alternative_fails_on() -> None:
    """A rule that is one OR of several ways to match says, per way, which part was missing:
    quoting the whole OR back would not tell the rule writer anything."""
    query = 'RELOS OR ("logistics pact" AND Russia) OR (=LEMOA AND India -oil)'
    s = story("India and Russia sign a logistics agreement; oil prices fall")
    explanation = compile_query(query).explain("query", s)
    assert explanation.alternatives == (
        ("RELOS", ("RELOS",)),
        ('("logistics pact" AND Russia)', ('"logistics pact"',)),
        ("(=LEMOA AND India -oil)", ("=LEMOA", "-oil — excluded, and it occurs: oil")),
    )
    text = explanation.render(s)
    assert "failed: none of the 3 alternatives holds" in text
    assert '- ("logistics pact" AND Russia)  fails on: "logistics pact"' in text
    assert "- (=LEMOA AND India -oil)  fails on: =LEMOA; -oil — excluded, and it occurs: oil" in text
    # An OR inside an AND is still quoted whole: the AND says which of its parts failed.
    inner = compile_query("India AND (defence OR military)").explain("query", s)
    assert inner.alternatives == () and inner.failed == ("(defence OR military)",)


def test_explain_shows_words_found_when_near_fails() -> None:
    """When a NEAR fails, the explanation still shows where its operands occur."""
    s = story("India buys wheat, while far away and much later Russia sells gas")
    explanation = compile_query("India NEAR/3 Russia").explain("query", s)
    assert explanation.failed == ("India NEAR/3 Russia — both occur, but not within 3 words of each other",)
    assert [sp.term for sp in explanation.spans] == ["India", "Russia"]


def test_explain_unknown_rule_raises_key_error() -> None:
    """Asking to explain a rule that does not exist names the known rules."""
    with pytest.raises(KeyError, match="relos"):
        compile_rules(RULES, {}).explain("nope", story("x"))


def test_explain_not_failure_quotes_the_negation() -> None:
    """A NOT that failed is reported with its operator."""
    explanation = compile_query("India -oil").explain("query", story("India buys oil"))
    assert explanation.failed == ("-oil — excluded, and it occurs: oil",)


def test_explain_quotes_fields_with_their_clause() -> None:
    """A failed field clause is quoted with its field, as written."""
    explanation = compile_query("title:RELOS site:thehindu.com").explain("query", story("x"))
    assert explanation.failed == ("title:RELOS", "site:thehindu.com — the story is from tass.com")
    russian = compile_query("lang:ru RELOS")
    assert russian.explain("query", story("RELOS")).failed == ("lang:ru — the story is in en",)
    untagged = replace(story("RELOS"), lang=None)
    assert russian.explain("query", untagged).failed == ("lang:ru — the story has no language",)


@pytest.mark.parametrize(
    ("query", "s", "failed", "nothing_found"),
    [
        ("NOT cricket", story("a cricket win"), "NOT cricket — excluded, and it occurs: cricket", False),
        ("title:India", story("Summit", "India and Russia"), "title:India — found only in summary", False),
        ("=RELOS", story("Relos scored twice"), "=RELOS — found as Relos: the case differs", False),
        (
            '"Indian and Russian"',
            story("Indian navy and Russian navy"),
            '"Indian and Russian" — its words occur, but not together as written',
            False,
        ),
        ('"Su-57" India', story("Su-35 for India"), '"Su-57"', False),
        (
            '="Indian Navy"',
            story("the indian navy"),
            '="Indian Navy" — found as indian navy: the case differs',
            False,
        ),
        ("=S-400", story("s-400 deliveries"), "=S-400 — found as s-400: the case differs", False),
        ("India NOT NOT oil", story("India gas"), "oil", False),
        (
            '"India Russia"~1',
            story("India x y Russia"),
            '"India Russia"~1 — its words occur, but not within 1 other word',
            False,
        ),
        ("RELOS", story("India and Russia"), "RELOS", True),
    ],
)
def test_explain_says_why_a_clause_failed_when_something_close_occurs(
    query: str, s: Story, failed: str, nothing_found: bool
) -> None:
    """A rule writer is told what is close: an excluded word that occurs, a word found in the
    wrong field or case, a phrase whose words occur apart. "None of the query's terms occur"
    only when that is true; the pieces of a failed phrase are not listed as found."""
    explanation = compile_query(query).explain("query", s)
    assert explanation.failed[-1] == failed
    text = explanation.render(s)
    assert ("none of the query's terms occur" in text) is nothing_found
    assert "found (not enough to match): 57" not in text


SNIPPETS = [
    ("India and Russia sign RELOS", [Span("summary", 22, 27, "RELOS")], 200,
     "India and Russia sign «RELOS»"),
    ("word " * 60 + "RELOS" + " tail" * 60, [Span("summary", 300, 305, "RELOS")], 60,
     "…word word word «RELOS» tail tail tail tail tail tail tail…"),
    ("no match here", [], 200, "no match here"),
    ("a  b\n\nRELOS", [Span("summary", 6, 11, "RELOS")], 200, "a b «RELOS»"),
]


@pytest.mark.parametrize(("text", "spans", "width", "expected"), SNIPPETS)
def test_snippet_marks_terms_in_a_window(text: str, spans: list[Span], width: int,
                                         expected: str) -> None:
    """snippet() cuts a window at word boundaries around the first span and marks the terms."""
    assert snippet(text, spans, width=width) == expected


def test_snippet_html_escapes_text_and_marks_terms() -> None:
    """With escape=html.escape, text and terms are escaped and only the marker is markup."""
    text = "<b>India</b> & Russia"
    spans = [Span("title", 3, 8, "India")]
    out = snippet(text, spans, mark=lambda t: f"<mark>{t}</mark>", escape=html.escape)
    assert out == "&lt;b&gt;<mark>India</mark>&lt;/b&gt; &amp; Russia"


def test_compile_query_makes_a_one_rule_set() -> None:
    """compile_query() names its rule 'query' unless told otherwise."""
    assert compile_query("RELOS").rules == (Rule("query", "RELOS"),)
    assert compile_query("RELOS", name="try").rules[0].name == "try"


def test_a_phrase_across_a_line_break_is_shown_on_one_line() -> None:
    """Terms and snippets are read in one line (a chat message, a log line, `monitor match`)."""
    s = story("Signed", "The RELOS\n\npact was signed")
    (m,) = compile_query('"RELOS pact"').match(s)
    assert m.terms == ("RELOS pact",)
    assert snippet(s.summary, m.spans) == "The «RELOS pact» was signed"
    assert "matched: RELOS pact\n" in compile_query('"RELOS pact"').explain("query", s).render(s)


def test_a_query_written_over_lines_is_explained_one_alternative_per_line() -> None:
    """Each alternative of a multi-line rule is one bullet line, not continued at its indent."""
    rule = compile_query("RELOS\n  OR (Duma AND\n      India)\n  OR Volodin")
    s = story("Russia and China")
    lines = rule.explain("query", s).render(s).splitlines()
    assert "    - (Duma AND India)  fails on: Duma; India" in lines
    after = lines[lines.index("  failed: none of the 3 alternatives holds") + 1 :]
    assert len(after) == 3 and all(line.startswith("    - ") for line in after)
