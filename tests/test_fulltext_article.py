"""Fetching article pages from a real local HTTP server (monitor.fulltext.article).

The server listens on 127.0.0.1 only; "localhost" reaches the same server under a second host
name, which is how the tests tell hosts apart.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from itertools import pairwise
from pathlib import Path
from typing import Any

import httpx
import pytest

from monitor.errors import PrivateAddressError
from monitor.fetch import FetchLimits, make_client, refuse_private_addresses
from monitor.fulltext import ArticleFetcher, ArticleOutcome
from monitor.models import Story

ARTICLES = Path(__file__).parent / "fixtures" / "articles"
NOW = datetime(2026, 12, 4, 16, 0, tzinfo=UTC)
SLOW_SECONDS = 1.0
WORK_SECONDS = 0.3
HUGE = b"<html><body><article>" + b"<p>" + b"padding " * 20_000 + b"</p></article></body></html>"

PAGES: dict[str, tuple[str, bytes]] = {
    "/world/putin-delhi": ("text/html; charset=utf-8", (ARTICLES / "news_nav_footer.html").read_bytes()),
    "/navy/logistics": ("text/html", (ARTICLES / "article_tag.html").read_bytes()),
    "/defence/s400-delays": ("text/html; charset=utf-8", (ARTICLES / "paywall.html").read_bytes()),
    "/defence/su57-offer": ("text/html", (ARTICLES / "cookie_banner.html").read_bytes()),
    "/ru/putin-delhi": ("text/html; charset=windows-1251", (ARTICLES / "cyrillic_cp1251.html").read_bytes()),
    "/live/app": ("text/html", (ARTICLES / "js_shell.html").read_bytes()),
    "/untyped/putin-delhi": ("", (ARTICLES / "news_nav_footer.html").read_bytes()),
    "/report.pdf": ("application/pdf", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj <<>> endobj\n"),
    "/api/story.json": ("application/json", b'{"title": "Putin lands in New Delhi"}'),
    "/huge": ("text/html", HUGE),
}


@dataclass
class Traffic:
    """What the server saw: every path requested, and the concurrency and start times per host."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    paths: list[str] = field(default_factory=list)
    active: dict[str, int] = field(default_factory=dict)
    peak: dict[str, int] = field(default_factory=dict)
    peak_overall: int = 0
    starts: dict[str, list[float]] = field(default_factory=dict)

    def enter(self, host: str, path: str) -> None:
        with self.lock:
            self.paths.append(path)
            self.active[host] = self.active.get(host, 0) + 1
            self.peak[host] = max(self.peak.get(host, 0), self.active[host])
            self.peak_overall = max(self.peak_overall, sum(self.active.values()))
            self.starts.setdefault(host, []).append(time.monotonic())

    def leave(self, host: str) -> None:
        with self.lock:
            self.active[host] -= 1


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        host = (self.headers.get("Host") or "").rsplit(":", 1)[0]
        self.server.traffic.enter(host, self.path)
        try:
            self._respond()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (the timeout test): nothing to answer
        finally:
            self.server.traffic.leave(host)

    def _respond(self) -> None:
        if self.path in PAGES:
            content_type, body = PAGES[self.path]
            self._send(200, body, content_type)
        elif self.path == "/slow":
            self.server.stopping.wait(SLOW_SECONDS)
            self._send(200, PAGES["/world/putin-delhi"][1], "text/html")
        elif self.path.startswith("/work/"):
            time.sleep(WORK_SECONDS)
            self._send(200, PAGES["/navy/logistics"][1], "text/html")
        elif self.path == "/huge-streamed":
            # No Content-Length: the limit must be enforced while reading, not from a header.
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(HUGE)
            self.close_connection = True
        elif self.path == "/moved":
            self.send_response(301)
            self.send_header("Location", "/navy/logistics")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif self.path == "/busy":
            self._send(429, b"slow down", "text/plain", {"Retry-After": "120"})
        elif self.path == "/members-only":
            self._send(403, b"<html><body>Forbidden</body></html>", "text/html")
        else:
            self._send(404, b"<html><body>Not found</body></html>", "text/html")

    def _send(
        self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        if content_type:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Keep the test output quiet."""


class _Server(ThreadingHTTPServer):
    traffic: Traffic
    stopping: threading.Event  # set at teardown, so a slow handler does not outlive its test


@dataclass(frozen=True)
class Site:
    """The running server: its two host names and what it has seen."""

    url: str  # http://127.0.0.1:PORT
    other_host_url: str  # http://localhost:PORT, the same server under another host name
    traffic: Traffic


@pytest.fixture
def site() -> Iterator[Site]:
    """A threaded HTTP server on 127.0.0.1 serving the fixture pages, shut down after the test."""
    server = _Server(("127.0.0.1", 0), _Handler)
    server.traffic = Traffic()
    server.stopping = threading.Event()
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    port = server.server_address[1]
    try:
        yield Site(f"http://127.0.0.1:{port}", f"http://localhost:{port}", server.traffic)
    finally:
        server.stopping.set()
        server.shutdown()
        server.server_close()
        thread.join()


LIMITS = FetchLimits(connect_timeout=2.0, read_timeout=0.3, max_bytes=100_000)
#: For the concurrency tests, whose pages take WORK_SECONDS: a timeout well above that.
PATIENT = replace(LIMITS, read_timeout=5.0)


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    """The shared HTTP client, as the pipeline makes it, closed after the test."""
    with make_client(LIMITS) as client:
        yield client


@pytest.fixture
def patient_client() -> Iterator[httpx.Client]:
    """A client whose read timeout outlasts the WORK_SECONDS pages."""
    with make_client(PATIENT) as client:
        yield client


def story(url: str, summary: str = "") -> Story:
    """A headline-only story pointing at ``url``."""
    return Story(
        feed="test", guid=url, url=url, title="Putin lands in New Delhi for two-day visit",
        summary=summary, published=NOW, fetched=NOW,
    )


def fetch_one(client: httpx.Client, url: str) -> ArticleOutcome:
    """One story's outcome from a fresh fetcher, politeness delay off."""
    return ArticleFetcher(client, LIMITS, delay=0.0).fetch(story(url))


def test_news_article_text_without_menus(site: Site, client: httpx.Client) -> None:
    """A news page gives its article text, and no menu, sidebar or footer words."""
    outcome = fetch_one(client, f"{site.url}/world/putin-delhi")
    assert outcome.ok and outcome.status == "ok" and outcome.error is None
    assert outcome.text is not None
    assert "S-400 air defence squadrons" in outcome.text
    assert "RELOS" not in outcome.text
    assert "India-Russia defence" not in outcome.text


def test_article_element_page(site: Site, client: httpx.Client) -> None:
    """A page with the story in <article> gives that story."""
    outcome = fetch_one(client, f"{site.url}/navy/logistics")
    assert outcome.status == "ok"
    assert outcome.text is not None and "Port Blair" in outcome.text


def test_cookie_banner_page(site: Site, client: httpx.Client) -> None:
    """A page behind a cookie banner gives the article, not the consent text."""
    outcome = fetch_one(client, f"{site.url}/defence/su57-offer")
    assert outcome.status == "ok"
    assert outcome.text is not None and "Su-57" in outcome.text and "partners" not in outcome.text


def test_legacy_charset_from_header(site: Site, client: httpx.Client) -> None:
    """A windows-1251 page is decoded with the charset its server declares."""
    outcome = fetch_one(client, f"{site.url}/ru/putin-delhi")
    assert outcome.status == "ok"
    assert outcome.text is not None and "Нью-Дели" in outcome.text


def test_redirect_is_followed(site: Site, client: httpx.Client) -> None:
    """A moved article is fetched from where it moved to."""
    outcome = fetch_one(client, f"{site.url}/moved")
    assert outcome.status == "ok"
    assert outcome.text is not None and "Port Blair" in outcome.text


def test_untyped_html_is_accepted(site: Site, client: httpx.Client) -> None:
    """A response without Content-Type that starts like HTML is treated as HTML."""
    assert fetch_one(client, f"{site.url}/untyped/putin-delhi").status == "ok"


def test_paywall_stub_falls_back(site: Site, client: httpx.Client) -> None:
    """A paywall stub gives no text and says "paywall", so the story keeps its feed text."""
    outcome = fetch_one(client, f"{site.url}/defence/s400-delays")
    assert outcome == ArticleOutcome(None, "paywall", outcome.error)
    assert outcome.error is not None and "teaser" in outcome.error


def test_script_only_page_has_no_text(site: Site, client: httpx.Client) -> None:
    """A JavaScript-rendered page gives "no text"."""
    outcome = fetch_one(client, f"{site.url}/live/app")
    assert (outcome.text, outcome.status) == (None, "no text")


def test_text_no_longer_than_the_feed_is_not_used(site: Site, client: httpx.Client) -> None:
    """When the page has no more text than the feed already gave, the outcome is "short text"."""
    fetcher = ArticleFetcher(client, LIMITS, delay=0.0)
    outcome = fetcher.fetch(story(f"{site.url}/navy/logistics", summary="s" * 5_000))
    assert (outcome.text, outcome.status) == (None, "short text")
    assert outcome.error is not None and "5000" in outcome.error


@pytest.mark.parametrize(("path", "status"), [("/gone", "http 404"), ("/members-only", "http 403")])
def test_http_errors(site: Site, client: httpx.Client, path: str, status: str) -> None:
    """An error status becomes "http NNN" with the stage and URL in the error."""
    outcome = fetch_one(client, f"{site.url}{path}")
    assert (outcome.text, outcome.status) == (None, status)
    assert outcome.error is not None and outcome.error.startswith(f"fetch: {site.url}{path}")


def test_slow_page_times_out(site: Site, client: httpx.Client) -> None:
    """A page slower than the read timeout gives "timeout" without waiting for it."""
    started = time.monotonic()
    outcome = fetch_one(client, f"{site.url}/slow")
    assert (outcome.text, outcome.status) == (None, "timeout")
    assert time.monotonic() - started < SLOW_SECONDS


@pytest.mark.parametrize("path", ["/huge", "/huge-streamed"])
def test_huge_page_is_too_large(site: Site, client: httpx.Client, path: str) -> None:
    """A page over the size limit gives "too large", whether or not it declares its length."""
    outcome = fetch_one(client, f"{site.url}{path}")
    assert (outcome.text, outcome.status) == (None, "too large")


@pytest.mark.parametrize("path", ["/report.pdf", "/api/story.json"])
def test_non_html_is_refused(site: Site, client: httpx.Client, path: str) -> None:
    """A PDF or JSON response gives "not html" and names the type it was."""
    outcome = fetch_one(client, f"{site.url}{path}")
    assert (outcome.text, outcome.status) == (None, "not html")
    assert outcome.error is not None and "application/" in outcome.error


def test_connection_refused_is_an_error(client: httpx.Client) -> None:
    """A host that refuses connections gives "error", not an exception."""
    with ThreadingHTTPServer(("127.0.0.1", 0), _Handler) as closed:
        port = closed.server_address[1]  # bound then closed: nothing listens there now
    outcome = fetch_one(client, f"http://127.0.0.1:{port}/world/putin-delhi")
    assert (outcome.text, outcome.status) == (None, "error")


@pytest.mark.parametrize(
    ("url", "status"),
    [
        ("https://news.google.com/rss/articles/CBMiWkFVX3lxTE9vZkZ0?oc=5", "skipped: google news link"),
        ("file:///etc/passwd", "skipped: not a web link"),
        ("/etc/passwd", "skipped: not a web link"),
        ("urn:monitor:test:guid-1", "skipped: not a web link"),
        ("https://www.thehindu.com/", "skipped: home page, not an article"),
        ("http://[::1/x", "skipped: bad link"),
    ],
)
def test_unfetchable_links_are_skipped(client: httpx.Client, url: str, status: str) -> None:
    """Links that must not or cannot be fetched are skipped without any request."""
    assert fetch_one(client, url) == ArticleOutcome(None, status)


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "127.9.9.9", "[::1]", "10.0.0.7"])
def test_links_to_private_addresses_are_refused(site: Site, host: str) -> None:
    """With the client the daemon uses for article links, a feed cannot make us request the
    machine itself or the private network: no request reaches the server."""
    port = site.url.rsplit(":", 1)[1]
    with make_client(LIMITS, public_only=True) as guarded:
        outcome = fetch_one(guarded, f"http://{host}:{port}/world/putin-delhi")
    assert (outcome.text, outcome.status) == (None, "skipped: private address")
    assert outcome.error is not None and "not a public address" in outcome.error
    assert site.traffic.paths == []


@pytest.mark.parametrize("no_proxy", [None, "localhost,.internal"])
def test_a_name_that_changes_its_answer_is_refused(
    site: Site, monkeypatch: pytest.MonkeyPatch, no_proxy: str | None
) -> None:
    """DNS rebinding: a name that resolves to a public address when checked and to this machine
    when connected to. The connection is made to the address that was checked, so nothing
    reaches the local server; a NO_PROXY setting (common in containers) is no proxy and changes
    nothing. (The resolver is the one stand-in here: no real DNS server can be made to answer
    this way on a test machine.)"""
    for name in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    if no_proxy:
        monkeypatch.setenv("NO_PROXY", no_proxy)
    port = int(site.url.rsplit(":", 1)[1])
    real = socket.getaddrinfo
    answers = {"public": 0}

    def rebinding(host: str, *args: object, **kwargs: object) -> list[Any]:
        if host != "rebind.test":
            return real(host, *args, **kwargs)  # type: ignore[arg-type]
        answers["public"] += 1
        address = "93.184.215.14" if answers["public"] == 1 else "127.0.0.1"
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    with make_client(LIMITS, public_only=True) as guarded:
        outcome = fetch_one(guarded, f"http://rebind.test:{port}/world/putin-delhi")
    assert (outcome.text, outcome.status) == (None, "skipped: private address")
    link = f"http://rebind.test:{port}/world/putin-delhi"
    assert outcome.error == (
        f"fetch: {link}: rebind.test is at 127.0.0.1, not a public address"
        " (fulltext.allow_private: true allows it)"
    )
    assert answers["public"] == 2  # checked before the request, then resolved once to connect
    assert site.traffic.paths == []


def test_public_addresses_pass_the_guard() -> None:
    """The guard only looks at the address: a public one passes (nothing is sent; the hook is
    called directly), so the guard does not block the news sites it is meant to let through."""
    for url in ("https://93.184.215.14/news/1", "http://[2606:2800:21f:cb07:6820:80da:af6b:8b2c]/a"):
        refuse_private_addresses(httpx.Request("GET", url))
    with pytest.raises(PrivateAddressError, match=r"169\.254\.169\.254"):
        refuse_private_addresses(httpx.Request("GET", "http://169.254.169.254/latest/meta-data/"))
    with pytest.raises(PrivateAddressError, match=r"127\.0\.0\.1"):
        refuse_private_addresses(httpx.Request("GET", "http://[::ffff:127.0.0.1]/"))


def test_malformed_host_is_an_error(client: httpx.Client) -> None:
    """A link whose host cannot even be encoded gives "error", not an exception."""
    outcome = fetch_one(client, "http://a..b/news/story")
    assert (outcome.text, outcome.status) == (None, "error")


def test_retry_after_keeps_us_away(site: Site, client: httpx.Client) -> None:
    """After a 429 with Retry-After, later stories from that host are skipped without a request."""
    fetcher = ArticleFetcher(client, LIMITS, delay=0.0)
    assert fetcher.fetch(story(f"{site.url}/busy")).status == "http 429"
    outcome = fetcher.fetch(story(f"{site.url}/world/putin-delhi"))
    assert outcome.status == "skipped: host asked to wait"
    assert site.traffic.paths == ["/busy"]
    assert fetcher.fetch(story(f"{site.other_host_url}/world/putin-delhi")).status == "ok"


def test_per_host_limit_and_delay_seen_by_the_server(
    site: Site, patient_client: httpx.Client
) -> None:
    """Concurrent fetches to one host never exceed per_host at the server, and starts keep the delay."""
    delay = 0.2
    fetcher = ArticleFetcher(patient_client, PATIENT, per_host=2, delay=delay)
    outcomes = _fetch_all(fetcher, [f"{site.url}/work/{n}" for n in range(6)])
    assert {outcome.status for outcome in outcomes} == {"ok"}
    assert site.traffic.peak["127.0.0.1"] == 2
    starts = site.traffic.starts["127.0.0.1"]
    gaps = [later - earlier for earlier, later in pairwise(starts)]
    # Slack for when the server's thread notes each start: scheduling, not the gate, varies.
    assert min(gaps) >= delay * 0.75


def test_different_hosts_are_not_serialised(site: Site, patient_client: httpx.Client) -> None:
    """With one slot per host, two hosts are still fetched at the same time."""
    fetcher = ArticleFetcher(patient_client, PATIENT, per_host=1, delay=1.0)
    urls = [f"{site.url}/work/a", f"{site.other_host_url}/work/b"]
    outcomes = _fetch_all(fetcher, urls)
    assert [outcome.status for outcome in outcomes] == ["ok", "ok"]
    assert site.traffic.peak == {"127.0.0.1": 1, "localhost": 1}
    assert site.traffic.peak_overall == 2


def _fetch_all(fetcher: ArticleFetcher, urls: list[str]) -> list[ArticleOutcome]:
    """Fetch ``urls`` from one thread each, as the pipeline's pool would, in order of ``urls``."""
    outcomes: list[ArticleOutcome | None] = [None] * len(urls)

    def run(index: int) -> None:
        outcomes[index] = fetcher.fetch(story(urls[index]))

    threads = [threading.Thread(target=run, args=(index,)) for index in range(len(urls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return [outcome for outcome in outcomes if outcome is not None]
