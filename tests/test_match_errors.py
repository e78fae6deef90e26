"""Bad queries are rejected at compile time with the rule, the position and what was expected."""

from __future__ import annotations

import pytest

from monitor.errors import ConfigError, RuleError
from monitor.match import compile_query, compile_rules
from monitor.models import Rule

LISTS = {"india_names": ["India"], "russia_names": ["Russia"], "empty": []}

ERRORS = [
    ("RELOS AND", 9, "expected a term or '(' after AND"),
    ("RELOS AND OR India", 10, "expected a term or '(' after AND"),
    ("AND RELOS", 0, "expected a term or '(' at the start of the query"),
    ("RELOS OR", 8, "expected a term or '(' after OR"),
    ("NOT", 3, "expected a term or '(' after NOT"),
    ("", 0, "empty query"),
    ("   ", 0, "empty query"),
    ("RELOS)", 5, "unbalanced ')'"),
    ("(RELOS OR India", 0, "unbalanced '(': no matching ')'"),
    ("RELOS ()", 7, "empty parentheses"),
    ('"India Russia', 0, "unterminated phrase"),
    ('""', 0, "empty phrase"),
    ('"India Russia"~', 14, "expected a number after '~'"),
    ("India NEAR Russia", 6, "NEAR needs a distance, e.g. NEAR/5"),
    ("India NEAR/x Russia", 6, "NEAR needs a distance, e.g. NEAR/5"),
    ("India NEAR/5", 12, "expected a term or '(' after NEAR/5"),
    ("India NEAR/5 NOT Russia", 13, "NEAR works on terms, phrases, @lists"),
    ("India NEAR/5 (Russia AND oil)", 13, "not on AND or NOT"),
    ("India NEAR/5 title:Russia", 13, "a field inside NEAR is not supported"),
    ("@rusia_names", 0, "unknown term list @rusia_names (did you mean @russia_names?)"),
    ("India @nope", 6, "unknown term list @nope"),
    ("@empty", 0, "term list @empty is empty"),
    ("@ India", 0, "expected a term list name after '@'"),
    ("titel:RELOS", 0, "unknown field 'titel:' (known: body, feed, lang, site, source, summary,"),
    ("title: RELOS", 6, "expected a term, phrase or '(' after title:"),
    ("title:NOT RELOS", 6, "expected a term or '(' after title:"),
    ("*ist", 0, "wildcards are only supported at the end of a word"),
    ("lo*gist", 2, "wildcards are only supported at the end of a word"),
    ("Su-*", 3, "'*' must follow a letter or digit"),
    ("logist?cs", 6, "'?' wildcards are not supported"),
    ("India~2", 5, "'~' works only after a phrase"),
    ("India && Russia", 6, "write AND"),
    ("India - Russia", 6, "'-' must be directly followed by what to exclude"),
    ("= RELOS", 0, "'=' must be directly followed by a word or phrase"),
    ("India —", 6, "has no letters or digits"),
    ("India \u200d\u0301", 6, "has no letters or digits"),
    ("site:\"the hindu\"", 5, "site: takes a single value"),
    ("site:the_hindu", 5, "site: takes a domain name"),
    ("lang:russian-language-x", 5, "lang: takes a language code"),
    ("India !Russia", 6, "'!' is not an operator here: write NOT, or - before the word"),
    ("India^2", 5, "boosts ('^') are not supported"),
    ('"India Russia"~1.5', 15, "expected a whole number of words after '~'"),
    ('"India Russia" ~8', 15, "no space between a phrase and its '~'"),
    ("[a TO b]", 0, "ranges ([a TO b]) are not supported"),
    ("{a TO b}", 0, "ranges ([a TO b]) are not supported"),
    ("=title:RELOS", 0, "the field comes first: write title:=RELOS"),
    ("\u201cIndia Russia", 0, "unterminated phrase: missing closing '\u201d'"),
    ("India\u201d", 5, "unterminated phrase: missing closing '\u201d'"),
    ("India NEAR/0.5 Russia", 6, "NEAR needs a whole number of words"),
    ("India NEAR5 Russia", 6, "write NEAR/5, with a slash"),
    ("India NEAR/999999999 Russia", 11, "at most NEAR/100 (for anywhere in the story, use AND)"),
    ("title:summary:India", 6, "summary: inside title:, but each clause looks in one field"),
    ("title:(summary:India OR x)", 7, "summary: inside title:, but each clause looks in one field"),
    ("title:(site:rt.com)", 6, "site: inside title:"),
    ("site:thehindu.com/news", 5, "site: takes a whole site, not a section"),
    ("@india:x", 6, "@india is a term list, not a field: write title:@india"),
    ("India \u00bbx", 6, "unterminated phrase: missing closing '\u00ab'"),
]


@pytest.mark.parametrize(("query", "position", "message"), ERRORS)
def test_bad_query_reports_position_and_expectation(query: str, position: int, message: str) -> None:
    """Each malformed query raises RuleError at the right character with a helpful message."""
    with pytest.raises(RuleError) as caught:
        compile_rules([Rule(name="bad-rule", query=query)], LISTS)
    error = caught.value
    assert error.rule == "bad-rule"
    assert error.query == query
    assert error.position == position, error.detail
    assert message in error.detail
    assert "rule 'bad-rule'" in str(error)


def test_a_multi_line_query_shows_the_line_at_fault() -> None:
    """A query written over YAML lines shows the line holding the error, with its number."""
    with pytest.raises(RuleError) as caught:
        compile_query("RELOS\nOR (India AND AND Russia)\nOR Duma\n")
    assert str(caught.value).endswith(
        "position 20 (line 2 of the query): expected a term or '(' after AND\n"
        "    OR (India AND AND Russia)\n"
        "                  ^"
    )


def test_an_error_at_the_end_of_a_yaml_block_points_after_the_last_word() -> None:
    """``query: |`` leaves a newline at the end: an AND with nothing after it is shown on its
    own line, after the AND, not on an empty line below."""
    with pytest.raises(RuleError) as caught:
        compile_query("RELOS\nOR (India AND\n")
    assert str(caught.value).endswith(
        "(line 2 of the query): expected a term or '(' after AND\n    OR (India AND\n                 ^"
    )


def test_rule_error_is_a_config_error() -> None:
    """A bad rule is a configuration problem, so the config loader's handler catches it."""
    with pytest.raises(ConfigError):
        compile_query("RELOS AND")


def test_bad_list_entry_names_the_list_and_entry() -> None:
    """An unusable term-list entry is reported at the @list, naming list and entry."""
    with pytest.raises(RuleError) as caught:
        compile_query("RELOS @bad", {"bad": ["India", "*ist"]})
    assert caught.value.position == 6
    assert "term list @bad, entry '*ist'" in caught.value.detail


def test_duplicate_rule_names_are_rejected() -> None:
    """Two rules with one name would make explain() and stored hits ambiguous."""
    with pytest.raises(RuleError, match="already has this name"):
        compile_rules([Rule("relos", "RELOS"), Rule("relos", "India")], {})


def test_lists_may_be_named_with_or_without_at_sign() -> None:
    """Term lists from the config may be keyed 'india_names' or '@india_names'."""
    ruleset = compile_query("@india_names", {"@india_names": ["India"]})
    assert ruleset.rules[0].query == "@india_names"


def test_lower_case_operators_are_words() -> None:
    """'and', 'or', 'not' and 'near/5' are ordinary words, so they never raise."""
    compile_query("India and or not near/5 Russia")
