"""Full text end to end through the real CLI: a story whose only mention of the pact is in the
article body is alerted; a page's menu text never makes a story match."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import FIXTURES
from tests.feeds import Item, rss
from tests.servers import HTTPServer, Route, SMTPServer, body_text
from tests.test_cli import monitor

ARTICLE = b"""<!doctype html><html><head><title>Putin lands in New Delhi</title></head><body>
<nav><a href="/">Home</a> <a href="/defence">Defence</a> <a href="/cricket">Cricket</a></nav>
<article><h1>Putin lands in New Delhi for two-day visit</h1>
<p>Russian President Vladimir Putin arrived in New Delhi on Thursday for a two-day state visit,
his first in four years, and was received at the airport by the external affairs minister.</p>
<p>Officials said the talks would cover the Reciprocal Exchange of Logistic Support (RELOS)
agreement, which Russia's parliament ratified this week, the remaining S-400 squadrons and an
offer of Su-57 fighters. The pact lets warships of both navies refuel at each other's ports.</p>
<p>Both sides are also expected to discuss payments for oil imports and a new shipping corridor
from Chennai to Vladivostok, the foreign secretary told reporters on Wednesday evening.</p>
</article><footer>Copyright Test Herald. All rights reserved.</footer></body></html>"""


def test_story_caught_only_by_its_article_body_is_alerted_and_menus_never_match(
    tmp_path: Path, http_server: HTTPServer, smtp_server: SMTPServer
) -> None:
    """auto full text: the body-only RELOS story alerts once; the menu-only page does not match."""
    http_server.routes["/article/putin-visit"] = Route(ARTICLE, headers={"Content-Type": "text/html"})
    http_server.routes["/article/menu-only"] = Route(
        (FIXTURES / "articles" / "news_nav_footer.html").read_bytes(),
        headers={"Content-Type": "text/html; charset=utf-8"},
    )
    http_server.routes["/rss"] = Route(
        rss(
            [
                Item(
                    "v-1",
                    "Putin lands in New Delhi for two-day visit",
                    "The Russian president is on his first visit in four years.",
                    http_server.url("/article/putin-visit"),
                ),
                Item(
                    "v-2",
                    "Leaders meet ahead of summit",
                    "Talks begin on Friday.",
                    http_server.url("/article/menu-only"),
                ),
            ]
        )
    )
    config = tmp_path / "monitor.yaml"
    config.write_text(
        f"""
database: sqlite:///{tmp_path}/m.db
fulltext:
  delay: 0s
  allow_private: true               # the test's news site is on 127.0.0.1
feeds:
  - name: Test Herald
    url: {http_server.url("/rss")}
    full_text: auto
rules:
  - name: relos
    query: RELOS
notifications:
  - name: email
    url: {smtp_server.url()}
""",
        encoding="utf-8",
    )
    result = monitor(config, "run", "--once")
    assert result.returncode == 0, result.stderr
    assert "new stories: 2; matching a rule: 1; notifications: 1 sent" in result.stdout
    (mail,) = smtp_server.messages
    assert "Putin lands in New Delhi" in mail["Subject"]
    assert "RELOS" in body_text(mail)
    shown = monitor(config, "story", http_server.url("/article/putin-visit"))
    assert shown.returncode == 0, shown.stderr
    assert "full text:  ok" in shown.stdout and "Chennai to Vladivostok" in shown.stdout
    assert "Copyright Test Herald" not in shown.stdout
    menu = monitor(config, "story", http_server.url("/article/menu-only"))
    assert "rules:      -" in menu.stdout and "RELOS explained" not in menu.stdout
    article_requests = [r for r in http_server.requests if r.path.startswith("/article/")]
    assert len(article_requests) == 2
    monitor(config, "run", "--once")
    assert len([r for r in http_server.requests if r.path.startswith("/article/")]) == 2


def test_article_links_to_private_addresses_are_not_followed_by_default(
    tmp_path: Path, http_server: HTTPServer
) -> None:
    """A feed's article link to this machine (or any private address) is not requested unless
    the config allows it: the story keeps its feed text and says why."""
    http_server.routes["/article/putin-visit"] = Route(ARTICLE, headers={"Content-Type": "text/html"})
    link = http_server.url("/article/putin-visit")
    http_server.routes["/rss"] = Route(
        rss([Item("p-1", "Putin lands in New Delhi for two-day visit", "The visit begins.", link)])
    )
    config = tmp_path / "monitor.yaml"
    config.write_text(
        f"""
database: sqlite:///{tmp_path}/m.db
fulltext:
  delay: 0s
feeds:
  - name: Test Herald
    url: {http_server.url("/rss")}
    full_text: always
rules:
  - name: relos
    query: RELOS
""",
        encoding="utf-8",
    )
    result = monitor(config, "run", "--once")
    assert result.returncode == 0, result.stderr
    assert "new stories: 1; matching a rule: 0" in result.stdout
    assert [r.path for r in http_server.requests] == ["/rss"]  # the feed itself is allowed
    shown = monitor(config, "story", link)
    assert "full text:  skipped: private address" in shown.stdout
