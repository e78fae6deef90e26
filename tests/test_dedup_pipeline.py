"""One alert per news event, end to end through the real CLI: several outlets carrying the same
event (wire copy, rewrite, the same article in two feeds) give one email and one webhook post;
a different event gives its own. On SQLite and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

from tests.feeds import Item, rss
from tests.servers import HTTPServer, Route, SMTPServer, body_text
from tests.test_cli import monitor

PTI = ("Russia's State Duma on Tuesday ratified the Reciprocal Exchange of Logistic Support agreement "
       "with India, clearing the way for warships of both navies to use each other's ports a week "
       "before President Putin's visit to New Delhi, Speaker Vyacheslav Volodin said.")
WIRE = Item("pti-881", "Russia's Duma ratifies RELOS military logistics pact with India", PTI,
            "https://wire.example.in/national/duma-ratifies-relos-881")
SYNDICATED = Item("dh-12", "Duma clears RELOS logistics pact with India ahead of Putin visit", PTI,
                  "https://herald.example.com/world/duma-clears-relos-pact?utm_source=rss")
SAME_ARTICLE = Item("dh-feed2-12", "Duma clears RELOS logistics pact with India ahead of Putin visit", PTI,
                    "https://www.herald.example.com/world/duma-clears-relos-pact/?utm_medium=rss&fbclid=x")
REWRITE = Item("mt-5", "Russian lawmakers approve RELOS defence logistics deal with India",
               "The lower house of Russia's parliament voted on Tuesday to approve the RELOS agreement "
               "on reciprocal logistic support with India; Volodin called ties with New Delhi strategic "
               "ahead of Putin's visit.",
               "https://moscow.example.ru/politics/relos-approved")
OTHER_EVENT = Item("mt-6", "INS Tamal arrives in Vladivostok for RELOS-backed drills with Pacific Fleet",
                   "The Indian Navy's newest frigate docked on Saturday for a five-day exercise, the first "
                   "port call planned under the logistics agreement.",
                   "https://moscow.example.ru/defence/ins-tamal-vladivostok")


def test_each_event_alerts_once_however_many_outlets_carry_it(
    tmp_path: Path, db_url: str, http_server: HTTPServer, smtp_server: SMTPServer
) -> None:
    """Four feeds, three outlets, two events → exactly two emails and two webhook posts."""
    http_server.routes["/wire"] = Route(rss([WIRE], title="Wire India"))
    http_server.routes["/herald"] = Route(rss([SYNDICATED], title="Daily Herald"))
    http_server.routes["/herald-world"] = Route(rss([SAME_ARTICLE], title="Daily Herald World"))
    http_server.routes["/moscow"] = Route(rss([REWRITE, OTHER_EVENT], title="Moscow Daily"))
    config = tmp_path / "monitor.yaml"
    config.write_text(f"""
database: {db_url}
full_text: never
feeds:
  - {{name: Wire India, url: "{http_server.url('/wire')}"}}
  - {{name: Daily Herald, url: "{http_server.url('/herald')}"}}
  - {{name: Daily Herald World, url: "{http_server.url('/herald-world')}"}}
  - {{name: Moscow Daily, url: "{http_server.url('/moscow')}"}}
rules:
  - name: relos
    query: RELOS OR "logistic support"
notifications:
  - name: email
    url: {smtp_server.url()}
  - name: chat
    url: json://127.0.0.1:{http_server.port}/hook
""", encoding="utf-8")
    result = monitor(config, "run", "--once")
    assert result.returncode == 0, result.stderr
    assert "new stories: 4; matching a rule: 4; notifications: 4 sent" in result.stdout
    subjects = sorted(m["Subject"] for m in smtp_server.messages)
    assert len(subjects) == 2, subjects
    assert any("INS Tamal" in s for s in subjects)
    assert len(http_server.posts("/hook")) == 2
    hits = [json.loads(line) for line in monitor(config, "hits", "--format", "jsonl").stdout.splitlines()]
    by_title = {h["title"]: h["cluster"] for h in hits}
    duma = {by_title[WIRE.title], by_title[SYNDICATED.title], by_title[REWRITE.title]}
    assert len(duma) == 1, "the three outlets' Duma stories form one cluster"
    assert by_title[OTHER_EVENT.title] not in duma
    assert SAME_ARTICLE.guid not in {h["url"] for h in hits}
    # `hits` says which story alerted each event, so one merged by mistake is seen, not lost.
    (first,) = [h for h in hits if h["cluster"] in duma and h["alerted"]]
    joined = [h for h in hits if h["cluster"] in duma and not h["alerted"]]
    assert [h["joined"] for h in joined] == [{"title": first["title"], "url": first["url"]}] * 2
    assert [h["alerted"] for h in hits if h["title"] == OTHER_EVENT.title] == [True]
    table = monitor(config, "hits").stdout
    assert table.count("joined: ") == 2, table
    clusters = monitor(config, "clusters").stdout
    assert "3 stories, 3 outlets: " in clusters
    for outlet in ("Wire India", "Daily Herald", "Moscow Daily"):
        assert outlet in clusters
    again = monitor(config, "run", "--once")
    assert "notifications: 0 sent" in again.stdout
    assert len(smtp_server.messages) == 2
    (duma_mail,) = [m for m in smtp_server.messages if "INS Tamal" not in m["Subject"]]
    assert any(title in duma_mail["Subject"] for title in (WIRE.title, SYNDICATED.title, REWRITE.title))
    assert "RELOS" in body_text(duma_mail)


BOILERPLATE = "Read the full story at Example Times."


def test_a_feeds_boilerplate_summary_does_not_merge_its_stories_into_one_event(
    tmp_path: Path, http_server: HTTPServer, smtp_server: SMTPServer
) -> None:
    """A feed that writes the same description under every headline: its different events are
    alerted each (the shared sentence made them one event, and all but the first went unsent)."""
    heads = ["Brent oil jumps after OPEC cut", "Oil spill off Goa coast", "ONGC finds new oil field in Assam",
             "Kohli scores century in Perth"]
    items = [Item(f"t-{i}", head, BOILERPLATE, f"https://times.example/{i}") for i, head in enumerate(heads)]
    http_server.routes["/times"] = Route(rss(items, title="Example Times"))
    config = tmp_path / "monitor.yaml"
    config.write_text(f"""
database: sqlite:///{tmp_path}/m.db
full_text: never
feeds:
  - {{name: Example Times, url: "{http_server.url('/times')}"}}
rules:
  - name: oil
    query: oil
notifications:
  - name: email
    url: {smtp_server.url()}
""", encoding="utf-8")
    result = monitor(config, "run", "--once")
    assert result.returncode == 0, result.stderr
    assert "new stories: 4; matching a rule: 3; notifications: 3 sent" in result.stdout
    assert len({m["Subject"] for m in smtp_server.messages}) == 3
    stored = monitor(config, "story", "https://times.example/1").stdout
    assert BOILERPLATE in stored, "the story itself keeps its summary"
