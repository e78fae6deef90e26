"""HTTP (and local file) fetching with the limits a long-running daemon needs.

Timeouts, a body limit counted after decompression, bounded redirects, conditional GET and
Retry-After all live here, so feed polls and article fetches behave the same way.
"""

from __future__ import annotations

import email.utils
import ipaddress
import random
import socket
import ssl
import threading
import time
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import httpcore
import httpx

from monitor.errors import FetchError, FetchTimeout, HTTPStatusError, PrivateAddressError, TooLarge


@dataclass(frozen=True, slots=True)
class FetchLimits:
    """What one request may cost."""

    connect_timeout: float = 10.0
    read_timeout: float = 20.0
    max_bytes: int = 10_000_000
    max_redirects: int = 5
    user_agent: str = "monitor/0.1"


@dataclass(frozen=True, slots=True)
class Fetched:
    """A successful response (``not_modified`` for a 304, with an empty body)."""

    url: str
    status: int
    body: bytes
    headers: dict[str, str]
    etag: str | None
    last_modified: str | None
    not_modified: bool = False
    retry_after: float | None = None


def make_client(
    limits: FetchLimits, transport: httpx.BaseTransport | None = None, *, public_only: bool = False
) -> httpx.Client:
    """One shared, thread-safe client: connection reuse across the feeds of a tick.

    ``public_only`` refuses every request, redirects included, to a host that resolves to a
    non-public address: for links taken from feeds. The request hook gives the refusal with the
    link in it; connections made directly (no proxy set in the environment) are also pinned to
    the addresses checked (see ``_PublicOnlyBackend``). Every read and write keeps the deadline
    ``fetch`` sets for the whole response (see ``_DeadlineBackend``)."""
    proxied = any(scheme in urllib.request.getproxies() for scheme in ("http", "https", "all"))
    if transport is None and not proxied:
        transport = _Transport(_PublicOnlyBackend() if public_only else _DeadlineBackend())
    return httpx.Client(
        timeout=httpx.Timeout(limits.read_timeout, connect=limits.connect_timeout),
        follow_redirects=True,
        max_redirects=limits.max_redirects,
        headers={"User-Agent": limits.user_agent, "Accept-Encoding": "gzip, deflate"},
        transport=transport,
        event_hooks={"request": [refuse_private_addresses]} if public_only else None,
    )


def public_addresses(host: str, port: int) -> list[str]:
    """The addresses ``host`` resolves to, when every one is public; else ``PrivateAddressError``.

    Anyone can write a feed, and its article links are fetched by the daemon: without this, a
    feed (or a redirect from a public page) could make it read the machine's own services or a
    cloud metadata endpoint. An unresolvable name gives ``OSError``."""
    found: list[str] = []
    for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM):
        text = str(info[4][0])
        address = ipaddress.ip_address(text.split("%", maxsplit=1)[0])
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        if not address.is_global:
            raise PrivateAddressError(
                host, f"{host} is at {address}, not a public address (fulltext.allow_private: true allows it)"
            )
        if text not in found:
            found.append(text)
    return found


def refuse_private_addresses(request: httpx.Request) -> None:
    """An httpx request hook, run for every hop of a redirect chain: raise
    ``PrivateAddressError`` when its host is not public, before any connection is tried."""
    url = request.url
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        public_addresses(url.host, port)
    except (OSError, UnicodeError):
        return  # unresolvable: the connection attempt reports it in its own words


#: The calling thread's deadline for the request in hand (``time.monotonic()``), if any. httpx
#: runs a request on the thread that sends it, so a thread-local reaches its network stream.
_deadline = threading.local()


def _within_deadline(timeout: float | None, error: type[httpcore.TimeoutException]) -> float | None:
    """``timeout`` cut to what is left of the deadline; ``error`` once it has passed."""
    at: float | None = getattr(_deadline, "at", None)
    if at is None:
        return timeout
    left = at - time.monotonic()
    if left <= 0:
        raise error("no complete response before the deadline")
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    """A connection's stream whose every read and write ends by the request's deadline.

    httpx's timeouts are per operation: a server that sends its headers or body one byte at a
    time never trips its read timeout, and would hold a poll (and a stopping daemon) for ever."""

    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _within_deadline(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _within_deadline(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        inner = self._inner.start_tls(
            ssl_context, server_hostname, _within_deadline(timeout, httpcore.ConnectTimeout)
        )
        return _DeadlineStream(inner)

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _DeadlineBackend(httpcore.SyncBackend):
    """httpcore's network backend with streams that keep the request's deadline."""

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        timeout = _within_deadline(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(super().connect_tcp(host, port, timeout, local_address, socket_options))


class _PublicOnlyBackend(_DeadlineBackend):
    """Resolves a connection's host once, checks every address, and connects to an address it
    checked. Checking in the hook alone would let the connection resolve the name again, and a
    DNS server answering differently the second time (DNS rebinding) would get through."""

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        try:
            addresses = public_addresses(host, port)
        except (OSError, UnicodeError) as exc:
            raise httpcore.ConnectError(f"{host}: {exc}") from exc
        failure: httpcore.ConnectError | None = None
        for address in addresses:
            try:
                # A numeric address: no second lookup. TLS still checks the certificate
                # against the host name, which httpcore passes to start_tls separately.
                return super().connect_tcp(address, port, timeout, local_address, socket_options)
            except httpcore.ConnectError as exc:
                failure = exc
        raise failure or httpcore.ConnectError(f"{host}: no address")


class _Transport(httpx.HTTPTransport):
    """httpx's transport with its connection pool on our network backend. httpx offers no
    public way to choose a network backend, so the pool it builds is replaced."""

    def __init__(self, backend: httpcore.NetworkBackend) -> None:
        super().__init__()
        limits = httpx.Limits()  # httpx's defaults, as for any other client
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=backend,
        )


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP date); None if absent/bad."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def _is_local(url: str) -> bool:
    try:
        return urlsplit(url).scheme in {"file", ""}
    except ValueError:  # malformed: let the HTTP client report it
        return False


def _fetch_file(url: str, limits: FetchLimits, last_modified: str | None) -> Fetched:
    path = Path(unquote(urlsplit(url).path)) if url.startswith("file:") else Path(url)
    try:
        stat = path.stat()
        if stat.st_size > limits.max_bytes:
            raise TooLarge(url, f"file is {stat.st_size} bytes, over the {limits.max_bytes} limit")
        stamp = email.utils.formatdate(stat.st_mtime, usegmt=True)
        if last_modified == stamp:
            return Fetched(url, 304, b"", {}, None, stamp, not_modified=True)
        body = path.read_bytes()
    except FileNotFoundError as exc:
        raise FetchError(url, "no such file") from exc
    except OSError as exc:
        raise FetchError(url, exc.strerror or str(exc)) from exc
    return Fetched(url, 200, body, {}, None, stamp)


def fetch(
    client: httpx.Client,
    url: str,
    limits: FetchLimits,
    *,
    etag: str | None = None,
    last_modified: str | None = None,
    accept: str = "application/rss+xml, application/atom+xml, application/xml;q=0.9, */*;q=0.8",
) -> Fetched:
    """GET ``url`` (conditionally when validators are given); raise a FetchError subclass on failure."""
    if _is_local(url):
        return _fetch_file(url, limits, last_modified)
    headers = {"Accept": accept}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    # The whole exchange, headers included, ends by one deadline (redirects share it).
    allowed = limits.connect_timeout + limits.read_timeout * 3
    _deadline.at = time.monotonic() + allowed
    try:
        with client.stream("GET", url, headers=headers) as response:
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            if response.status_code == 304:
                return Fetched(
                    str(response.url),
                    304,
                    b"",
                    dict(response.headers),
                    etag,
                    last_modified,
                    not_modified=True,
                    retry_after=retry_after,
                )
            if response.status_code >= 400:
                raise HTTPStatusError(url, response.status_code, retry_after)
            declared = response.headers.get("Content-Length")
            if declared and declared.isdigit() and int(declared) > limits.max_bytes:
                raise TooLarge(url, f"Content-Length {declared} is over the {limits.max_bytes} byte limit")
            chunks: list[bytes] = []
            size = 0
            for chunk in response.iter_bytes():  # decompressed: a gzip bomb is caught here
                if time.monotonic() > _deadline.at:  # the streams check it too, unless proxied
                    raise httpx.ReadTimeout("no complete response before the deadline")
                size += len(chunk)
                if size > limits.max_bytes:
                    raise TooLarge(url, f"body is over the {limits.max_bytes} byte limit")
                chunks.append(chunk)
            return Fetched(
                url=str(response.url),
                status=response.status_code,
                body=b"".join(chunks),
                headers=dict(response.headers),
                etag=response.headers.get("ETag"),
                last_modified=response.headers.get("Last-Modified"),
                retry_after=retry_after,
            )
    except PrivateAddressError as exc:  # raised naming the host only: name the link too
        raise PrivateAddressError(url, exc.detail) from None
    except httpx.TimeoutException as exc:
        if time.monotonic() >= _deadline.at:
            raise FetchTimeout(url, f"no complete response after {allowed:g} s") from exc
        raise FetchTimeout(url, f"timed out ({type(exc).__name__})") from exc
    except httpx.TooManyRedirects as exc:
        raise FetchError(url, f"more than {limits.max_redirects} redirects") from exc
    except httpx.HTTPError as exc:
        raise FetchError(url, f"{type(exc).__name__}: {exc}") from exc
    except (httpx.InvalidURL, ValueError) as exc:  # malformed host, bad IDNA or IPv6 literal
        raise FetchError(url, f"invalid URL: {exc}") from exc
    finally:
        _deadline.at = None


def backoff_delay(
    errors: int,
    interval: timedelta,
    max_backoff: timedelta,
    retry_after: float | None = None,
    rng: random.Random | None = None,
) -> timedelta:
    """Delay before the next poll after ``errors`` consecutive failures.

    Exponential from the feed's own interval, capped (a failing feed is never given up on),
    with ±25 % jitter so feeds that failed together do not retry together; never sooner than
    the server's Retry-After.
    """
    if errors <= 0:
        base = interval.total_seconds()
    else:
        base = min(interval.total_seconds() * 2 ** min(errors - 1, 20), max_backoff.total_seconds())
    jitter = (rng or random).uniform(0.75, 1.25) if errors > 0 else 1.0
    seconds = base * jitter
    if retry_after is not None:
        # Honour the server, but never past our own ceiling: a bogus Retry-After must not
        # park a feed for years (or overflow a datetime).
        seconds = max(seconds, min(retry_after, max_backoff.total_seconds()))
    return timedelta(seconds=seconds)
