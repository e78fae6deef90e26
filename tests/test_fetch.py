"""fetch: HTTP against a real local server — statuses, validators, limits, timeouts, files."""

from __future__ import annotations

import random
import socket
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from monitor.errors import FetchError, FetchTimeout, HTTPStatusError, TooLarge
from monitor.fetch import FetchLimits, backoff_delay, fetch, make_client, parse_retry_after
from tests.servers import HTTPServer, Route

LIMITS = FetchLimits(
    connect_timeout=2, read_timeout=0.5, max_bytes=50_000, max_redirects=3, user_agent="monitor-test/1"
)


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with make_client(LIMITS) as c:
        yield c


def test_200_returns_body_validators_and_sends_user_agent(
    http_server: HTTPServer, client: httpx.Client
) -> None:
    """A 200 gives the body and the ETag/Last-Modified to send next time, with our User-Agent."""
    http_server.routes["/feed"] = Route(
        b"<rss/>", headers={"Last-Modified": "Mon, 01 Jan 2026 00:00:00 GMT"}, etag='"v1"'
    )
    got = fetch(client, http_server.url("/feed"), LIMITS)
    assert (got.status, got.body, got.etag) == (200, b"<rss/>", '"v1"')
    assert got.last_modified == "Mon, 01 Jan 2026 00:00:00 GMT"
    assert http_server.requests[0].headers["User-Agent"] == "monitor-test/1"


def test_conditional_get_gives_304_not_modified(http_server: HTTPServer, client: httpx.Client) -> None:
    """Sending the ETag back yields a not-modified result with no body."""
    http_server.routes["/feed"] = Route(b"<rss/>", etag='"v1"')
    got = fetch(client, http_server.url("/feed"), LIMITS, etag='"v1"', last_modified="x")
    assert got.not_modified and got.body == b""
    assert http_server.requests[0].headers["If-None-Match"] == '"v1"'
    assert http_server.requests[0].headers["If-Modified-Since"] == "x"


@pytest.mark.parametrize("status", [404, 500, 503])
def test_error_status_raises_with_status(http_server: HTTPServer, client: httpx.Client, status: int) -> None:
    """4xx/5xx raise HTTPStatusError whose message names the URL and status."""
    http_server.routes["/feed"] = Route(b"no", status=status)
    with pytest.raises(HTTPStatusError, match=rf"fetch: http://127.0.0.1:\d+/feed: HTTP {status}") as info:
        fetch(client, http_server.url("/feed"), LIMITS)
    assert info.value.status == status


def test_retry_after_is_reported(http_server: HTTPServer, client: httpx.Client) -> None:
    """A 429 with Retry-After carries the wait so the scheduler honours it."""
    http_server.routes["/feed"] = Route(b"slow down", status=429, headers={"Retry-After": "120"})
    with pytest.raises(HTTPStatusError) as info:
        fetch(client, http_server.url("/feed"), LIMITS)
    assert info.value.retry_after == 120


def test_timeout(http_server: HTTPServer, client: httpx.Client) -> None:
    """A server slower than the read timeout raises FetchTimeout."""
    http_server.routes["/slow"] = Route(b"<rss/>", delay=2)
    with pytest.raises(FetchTimeout, match="timed out"):
        fetch(client, http_server.url("/slow"), LIMITS)


class _Dripper:
    """A raw TCP server that answers every connection one byte every 0.1 s, for 10 s: in its
    status line and headers (``head``) or, after complete headers, in its body."""

    def __init__(self, head: bool) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.closed = threading.Event()
        self.prefix = b"" if head else b"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\n\r\n"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while not self.closed.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._drip, args=(conn,), daemon=True).start()

    def _drip(self, conn: socket.socket) -> None:
        with conn:
            conn.recv(4096)
            data = self.prefix + (b"HTTP/1.1 200 OK\r\nX-Drip: " if not self.prefix else b"<rss>")
            try:
                conn.sendall(data)
                for _ in range(100):
                    if self.closed.wait(0.1):
                        return
                    conn.sendall(b"a")
            except OSError:
                return

    def close(self) -> None:
        self.closed.set()
        self.sock.close()


@pytest.mark.parametrize("head", [True, False], ids=["headers", "body"])
def test_a_server_dripping_its_answer_times_out_as_a_whole(client: httpx.Client, head: bool) -> None:
    """A server sending its headers or body a byte at a time never trips the per-read timeout;
    the whole answer has a deadline (connect + 3 x read timeout), so one such feed cannot hold a
    poll, or a stopping daemon, for ever."""
    dripper = _Dripper(head)
    try:
        started = time.monotonic()
        with pytest.raises(FetchTimeout, match=r"no complete response after 3\.5 s"):
            fetch(client, f"http://127.0.0.1:{dripper.port}/feed", LIMITS)
        assert time.monotonic() - started < 3.5 + 1
    finally:
        dripper.close()


def test_redirects_are_followed_up_to_the_limit(http_server: HTTPServer, client: httpx.Client) -> None:
    """A redirect is followed to the final URL; a loop fails after max_redirects."""
    http_server.routes["/old"] = Route(status=301, headers={"Location": "/new"})
    http_server.routes["/new"] = Route(b"<rss/>")
    got = fetch(client, http_server.url("/old"), LIMITS)
    assert got.url.endswith("/new") and got.body == b"<rss/>"
    http_server.routes["/loop"] = Route(status=302, headers={"Location": "/loop"})
    with pytest.raises(FetchError, match="more than 3 redirects"):
        fetch(client, http_server.url("/loop"), LIMITS)


def test_oversize_body_is_refused(http_server: HTTPServer, client: httpx.Client) -> None:
    """Bodies over max_bytes fail, by declared length and by counting the stream."""
    http_server.routes["/big"] = Route(b"x" * 60_000)
    with pytest.raises(TooLarge, match="Content-Length 60000"):
        fetch(client, http_server.url("/big"), LIMITS)
    http_server.routes["/chunked"] = Route(b"x" * 60_000, headers={"Transfer-Encoding": "chunked"})
    with pytest.raises(TooLarge, match="body is over"):
        fetch(client, http_server.url("/chunked"), LIMITS)


def test_gzip_bomb_is_caught_after_decompression(http_server: HTTPServer, client: httpx.Client) -> None:
    """A small gzip body that inflates past the limit is refused."""
    http_server.routes["/bomb"] = Route(b"\0" * 5_000_000, gzip=True)
    with pytest.raises(TooLarge, match="body is over"):
        fetch(client, http_server.url("/bomb"), LIMITS)


def test_connection_refused_is_a_fetch_error(client: httpx.Client) -> None:
    """Nothing listening → FetchError naming the URL."""
    from tests.servers import free_port

    url = f"http://127.0.0.1:{free_port()}/feed"
    with pytest.raises(FetchError, match=f"fetch: {url}: ConnectError"):
        fetch(client, url, LIMITS)


def test_local_files_are_feeds(tmp_path: Path, client: httpx.Client) -> None:
    """Plain paths and file:// URLs are read, with the mtime as validator; missing files fail."""
    feed = tmp_path / "feed.xml"
    feed.write_bytes(b"<rss/>")
    first = fetch(client, str(feed), LIMITS)
    assert first.body == b"<rss/>"
    again = fetch(client, feed.as_uri(), LIMITS, last_modified=first.last_modified)
    assert again.not_modified
    with pytest.raises(FetchError, match="no such file"):
        fetch(client, str(tmp_path / "missing.xml"), LIMITS)


def test_retry_after_parsing() -> None:
    """Retry-After in seconds or as an HTTP date; junk is ignored."""
    assert parse_retry_after("30") == 30
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0


def test_backoff_grows_exponentially_with_jitter_and_a_cap() -> None:
    """Each failure doubles the wait from the feed interval, capped, never below Retry-After."""
    rng = random.Random(1)
    interval, cap = timedelta(minutes=10), timedelta(hours=6)
    assert backoff_delay(0, interval, cap) == interval
    waits = [backoff_delay(n, interval, cap, rng=rng).total_seconds() for n in (1, 2, 3, 4)]
    for n, wait in enumerate(waits, start=1):
        nominal = 600 * 2 ** (n - 1)
        assert 0.75 * nominal <= wait <= 1.25 * nominal
    assert backoff_delay(50, interval, cap, rng=rng) <= cap * 1.25
    assert backoff_delay(1, interval, cap, retry_after=7200, rng=rng) >= timedelta(hours=2)


@pytest.mark.parametrize("url", ["http://[::1/feed", "http://exa mple.com/feed", "http://xn--/feed"])
def test_malformed_urls_are_fetch_errors(client: httpx.Client, url: str) -> None:
    """A malformed URL fails as a FetchError for that feed, never as an unexpected exception."""
    with pytest.raises(FetchError, match="fetch: "):
        fetch(client, url, LIMITS)
