"""A JSON API on 127.0.0.1 for connector tests: the standard library's HTTP server in a thread, each
GET answered by a function of the request, every request recorded."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit


@dataclass(frozen=True)
class Request:
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    at: float
    """time.monotonic() when it arrived."""


@dataclass
class Reply:
    body: Any = None
    """bytes or str as they are; anything else as JSON."""
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    """Seconds to wait before answering (a slow API)."""


class FakeApi:
    def __init__(self, answer: Callable[[Request], Reply]) -> None:
        self.answer = answer
        self.requests: list[Request] = []
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                request = Request(
                    parts.path,
                    dict(parse_qsl(parts.query, keep_blank_values=True)),
                    {name.lower(): value for name, value in self.headers.items()},
                    time.monotonic(),
                )
                api.requests.append(request)
                reply = api.answer(request)
                if reply.delay:
                    time.sleep(reply.delay)
                body = reply.body
                if not isinstance(body, bytes | str):
                    body = json.dumps(body)
                data = body.encode() if isinstance(body, str) else body
                try:
                    self.send_response(reply.status)
                    for name, value in {"Content-Type": "application/json", **reply.headers}.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up waiting
                    pass

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def base_url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def url(self, path: str) -> str:
        return self.base_url + path

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@contextmanager
def fake_api(answer: Callable[[Request], Reply]) -> Iterator[FakeApi]:
    api = FakeApi(answer)
    try:
        yield api
    finally:
        api.close()


def pages_of(records: list[dict], size: int, page: int, first: int = 1) -> list[dict]:
    """The records of page `page` (numbered from `first`) of `size` records each."""
    start = (page - first) * size
    return records[start : start + size] if start >= 0 else []
