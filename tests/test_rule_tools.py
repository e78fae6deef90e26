"""`monitor match` and `monitor backtest`: the rule writer's tools, through the real CLI on a
real database and a local web page."""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.feeds import NOISE_ITEM, RELOS_ITEM, rss
from tests.servers import HTTPServer, Route
from tests.test_cli import monitor

CONFIG = """
database: sqlite:///{db}
full_text: never
feeds:
  - name: Test Herald
    url: {feed}
term_lists:
  pact_names: ["=RELOS", "Reciprocal Exchange of Logistic* Support"]
rules:
  - name: relos
    query: '@pact_names OR ("logistics pact" AND Russia AND India)'
  - name: moves
    query: relocat*
"""


@pytest.fixture
def config(tmp_path: Path, http_server: HTTPServer) -> Path:
    http_server.routes["/rss"] = Route(rss([RELOS_ITEM, NOISE_ITEM]))
    path = tmp_path / "monitor.yaml"
    path.write_text(CONFIG.format(db=tmp_path / "m.db", feed=http_server.url("/rss")), encoding="utf-8")
    return path


def test_match_shows_the_terms_in_context(config: Path) -> None:
    """A matching text prints MATCH with the matched term marked in its sentence; exit 0."""
    result = monitor(config, "match", "--rule", "relos", "--text", "Russia's Duma ratified RELOS on Tuesday.")
    assert result.returncode == 0, result.stderr
    assert "MATCH: rule 'relos'" in result.stdout and "«RELOS»" in result.stdout


def test_no_match_says_what_was_found_and_what_failed(config: Path) -> None:
    """A near miss exits 1 and shows the terms found and the failing part; case matters for =RELOS."""
    result = monitor(
        config, "match", "--rule", "relos", "--text", "Mr Relos signed a logistics pact with Russia."
    )
    assert result.returncode == 1
    assert "NO MATCH" in result.stdout and "failed:" in result.stdout
    assert "logistics pact" in result.stdout


def test_match_a_query_directly_and_bad_queries_point_at_the_error(config: Path) -> None:
    """--query tries a query without editing the config; a broken one exits 2 with its position."""
    ok = monitor(config, "match", "--query", '"India Russia"~3', "--text", "India and Russia held talks.")
    assert ok.returncode == 0, ok.stderr
    bad = monitor(config, "match", "--query", "RELOS AND (India", "--text", "x")
    assert bad.returncode == 2
    assert "--query: position 10" in bad.stderr and "^" in bad.stderr
    unknown = monitor(config, "match", "--rule", "relso", "--text", "x")
    assert unknown.returncode == 2 and "unknown rule 'relso' (known: relos, moves)" in unknown.stderr


def test_match_a_file_and_a_url(config: Path, tmp_path: Path, http_server: HTTPServer) -> None:
    """Text comes from a file or from a web page's main text."""
    page = tmp_path / "story.html"
    page.write_text("<html><body><p>The Reciprocal Exchange of Logistics Support pact</p></body></html>")
    assert monitor(config, "match", "--rule", "relos", "--file", str(page)).returncode == 0
    http_server.routes["/article"] = Route(
        b"<html><body><nav>RELOS explained</nav><article><p>" + b"The company said it would relocate "
        b"its warehouse to the outskirts of the city next spring, citing rents. "
        * 4
        + b"</p></article></body></html>",
        headers={"Content-Type": "text/html"},
    )
    url = http_server.url("/article")
    assert monitor(config, "match", "--rule", "moves", "--url", url).returncode == 0
    assert monitor(config, "match", "--rule", "relos", "--url", url).returncode == 1, "menu text leaked"


def test_backtest_lists_what_a_rule_would_have_caught(config: Path) -> None:
    """After stories are stored, backtest runs a rule or a new query over them with counts."""
    assert monitor(config, "run", "--once").returncode == 0
    relos = monitor(config, "backtest", "--rule", "relos", "--since", "7d")
    assert relos.returncode == 0, relos.stderr
    assert "Duma ratifies RELOS" in relos.stdout and "relocation" not in relos.stdout
    header, row = relos.stdout.splitlines()[:2]
    assert header.split() == ["published", "(UTC)", "rules", "outlet", "title", "matched"]
    assert row.index("relos") == header.index("rules")
    assert row[header.index("matched") :].startswith("RELOS, ")
    assert "1 of 2 stories published within 7d would match" in relos.stdout
    query = monitor(config, "backtest", "--query", "warehouse OR relocat*")
    assert "Retail chain announces relocation" in query.stdout
    assert "by feed: Test Herald 1" in query.stdout


def test_match_can_try_language_site_and_title_clauses(
    config: Path, tmp_path: Path, http_server: HTTPServer
) -> None:
    """`lang:`, `site:` and `title:` clauses can be tried: --lang and --link give a text a language
    and an address, a page gives its own (<html lang>, its headline), and an HTML file is read
    like a page (menus left out)."""
    russian = unicodedata.normalize("NFD", "Российский фрегат прибыл в Мумбаи.")  # й decomposed
    query = "lang:ru российский"
    untagged = monitor(config, "match", "--query", query, "--text", russian)
    assert untagged.returncode == 1 and "lang:ru — the story has no language" in untagged.stdout
    assert monitor(config, "match", "--query", query, "--text", russian, "--lang", "ru").returncode == 0
    site = ("--query", "site:thehindu.com RELOS", "--text", "RELOS ratified")
    assert monitor(config, "match", *site).returncode == 1
    assert monitor(config, "match", *site, "--link", "https://www.thehindu.com/news/a.ece").returncode == 0

    article = (
        '<html lang="ru-RU"><head><title>Фрегат в Мумбаи</title></head><body><nav>RELOS объяснение</nav>'
        "<article><p>" + "Компания сообщила, что переедет в новый офис весной, сославшись на аренду. " * 4
        + "</p></article></body></html>"
    ).encode()
    http_server.routes["/ru"] = Route(article, headers={"Content-Type": "text/html; charset=utf-8"})
    page = monitor(config, "match", "--query", "lang:ru title:фрегат аренду", "--url", http_server.url("/ru"))
    assert page.returncode == 0, page.stdout
    saved = tmp_path / "ru.html"
    saved.write_bytes(article)
    assert monitor(config, "match", "--query", "аренду", "--file", str(saved)).returncode == 0
    menu = monitor(config, "match", "--query", "RELOS", "--file", str(saved))
    assert menu.returncode == 1, "the file's menu was matched"


def test_a_long_rule_is_shown_cut_with_its_length() -> None:
    """The shipped rules run to thousands of characters: `monitor match` shows the start of the
    query and of each failed branch, cut at a word, with the whole length, not 3 KB on a line."""
    from monitor.match import compile_rules
    from monitor.models import Rule, Story

    long_branch = " OR ".join(f"word{n}" for n in range(120))
    query = f"RELOS OR ({long_branch}) AND Russia"
    rules = compile_rules([Rule(name="long", query=query)], {})
    when = datetime(2026, 1, 1, tzinfo=UTC)
    story = Story(feed="f", guid="g", url="https://e.example/1", title="India and Russia", summary="",
                  published=when, fetched=when)
    report = rules.explain("long", story).render(story)
    (shown,) = [line for line in report.splitlines() if line.startswith("  query: ")]
    assert shown.endswith(f"… ({len(query):,} characters)") and len(shown) < 300
    assert "  query: RELOS OR (word0 OR word1" in shown
    assert all(len(line) < 600 for line in report.splitlines()), report
