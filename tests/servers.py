"""Real servers on 127.0.0.1 for the tests: a feed/page HTTP server, an SMTP sink, a webhook sink.

Nothing here talks to any other host.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Route:
    """What the HTTP server answers on one path."""

    body: bytes = b""
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    etag: str | None = None  # answer 304 when the client sends this back
    gzip: bool = False


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class HTTPServer:
    """A threaded HTTP server whose routes tests set and change while it runs."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[Request] = []
        self.post_status: list[tuple[int, dict[str, str]]] = []  # queued answers for POSTs
        #: Seconds a POST to a path waits before it is answered (it is recorded on arrival).
        self.post_delay: dict[str, float] = {}
        #: (path, arrived, answered) of every POST answered, in monotonic seconds.
        self.post_times: list[tuple[str, float, float]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _record(self) -> Request:
                length = int(self.headers.get("Content-Length") or 0)
                request = Request(self.command, self.path, dict(self.headers), self.rfile.read(length))
                server.requests.append(request)
                return request

            def do_GET(self) -> None:
                self._record()
                route = server.routes.get(self.path)
                if route is None:
                    self._send(404, {}, b"not found")
                    return
                if route.delay:
                    time.sleep(route.delay)
                if route.etag and self.headers.get("If-None-Match") == route.etag:
                    self._send(304, {"ETag": route.etag}, b"")
                    return
                headers = dict(route.headers)
                body = route.body
                if route.etag:
                    headers["ETag"] = route.etag
                if route.gzip:
                    body = gzip.compress(body)
                    headers["Content-Encoding"] = "gzip"
                self._send(route.status, headers, body)

            def do_POST(self) -> None:
                arrived = time.monotonic()
                request = self._record()
                delay = server.post_delay.get(request.path, 0.0)
                if delay:
                    time.sleep(delay)
                status, headers = server.post_status.pop(0) if server.post_status else (200, {})
                self._send(status, headers, b"{}" if status < 300 else b'{"error": "nope"}')
                server.post_times.append((request.path, arrived, time.monotonic()))

            def _send(self, status: int, headers: dict[str, str], body: bytes) -> None:
                try:
                    self.send_response(status)
                    for key, value in headers.items():
                        self.send_header(key, value)
                    chunked = headers.get("Transfer-Encoding") == "chunked"
                    if "Content-Length" not in headers and not chunked:
                        self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    if not chunked:
                        self.wfile.write(body)
                        return
                    for start in range(0, len(body), 8192):
                        piece = body[start : start + 8192]
                        self.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
                    self.wfile.write(b"0\r\n\r\n")
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.port = int(self._httpd.server_address[1])
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def posts(self, path: str | None = None) -> list[dict[str, Any]]:
        return [
            json.loads(r.body)
            for r in self.requests
            if r.method == "POST" and (path is None or r.path.startswith(path))
        ]

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


class _Sink:
    def __init__(self, messages: list[Message], owner: SMTPServer) -> None:
        self.messages = messages
        self.owner = owner

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802  # aiosmtpd's hook name
        self.messages.append(message_from_bytes(envelope.content))
        if self.owner.accept_delay:  # the message is in; the answer comes late
            await asyncio.sleep(self.owner.accept_delay)
        return "250 Message accepted for delivery"


class SMTPServer:
    """aiosmtpd on a fixed port, which tests can stop and start again (the 'SMTP down' case)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.messages: list[Message] = []
        #: Seconds between taking a message and saying it was accepted.
        self.accept_delay = 0.0
        self._controller: Controller | None = None

    def start(self) -> None:
        self._controller = Controller(_Sink(self.messages, self), hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def url(self, to: str = "analyst@example.org") -> str:
        return f"mailto://127.0.0.1:{self.port}?from=monitor@example.org&to={to}"


def body_text(message: Message) -> str:
    """All text parts of an email, decoded."""
    parts = message.walk() if message.is_multipart() else [message]
    texts = []
    for part in parts:
        if part.get_content_maintype() == "text":
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            texts.append(payload.decode(part.get_content_charset() or "utf-8"))
    return "\n".join(texts)


def wait_for(predicate: Callable[[], bool], timeout: float = 20.0, interval: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()
