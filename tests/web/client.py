"""Clients that call the dashboard's WSGI or ASGI application directly (no server): a
request is an environ or a scope built here, the answer what the app gave back.

Both keep cookies (as a browser does) and send an ``Origin`` of their own host on a
POST unless told otherwise, so a test changes one thing at a time.
"""

from __future__ import annotations

import asyncio
import io
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlencode

HOST = "dash.test"
ORIGIN = f"http://{HOST}"


@dataclass
class Answer:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode()

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None


class _Links(HTMLParser):
    """Every URL a page points at (href, src, form action), and its forms' fields."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.csrf: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        for name in ("href", "src", "action"):
            if values.get(name) is not None:
                self.urls.append(str(values[name]))
        if tag == "input" and values.get("name") == "csrf":
            self.csrf.append(str(values.get("value")))


def urls(html: str) -> list[str]:
    parser = _Links()
    parser.feed(html)
    return parser.urls


def csrf_token(html: str) -> str:
    parser = _Links()
    parser.feed(html)
    assert parser.csrf, "the page has no form with a CSRF token"
    assert len(set(parser.csrf)) == 1
    return parser.csrf[0]


@dataclass
class Client:
    """Calls a WSGI app (``asgi=False``) or an ASGI app with requests built here."""

    app: Any
    base: str = ""
    asgi: bool = False
    #: ASGI only: give the full path in ``path`` (True, ASGI's current reading) or the
    #: path under ``root_path`` (False, as some frameworks did).
    full_path: bool = True
    remote: str = "127.0.0.1"
    cookies: dict[str, str] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def get(self, path: str, query: str = "", headers: Mapping[str, str] | None = None) -> Answer:
        return self.request("GET", path, query, headers=headers)

    def post(
        self,
        path: str,
        form: Mapping[str, str],
        *,
        origin: str | None = ORIGIN,
        headers: Mapping[str, str] | None = None,
    ) -> Answer:
        sent = {"content-type": "application/x-www-form-urlencoded"}
        if origin is not None:
            sent["origin"] = origin
        sent.update(headers or {})
        return self.request("POST", path, "", headers=sent, body=urlencode(form).encode())

    def request(
        self,
        method: str,
        path: str,
        query: str = "",
        *,
        headers: Mapping[str, str] | None = None,
        body: bytes = b"",
    ) -> Answer:
        sent = {"host": HOST, **{k.lower(): v for k, v in (headers or {}).items()}}
        if self.cookies:
            sent["cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        answer = (self._asgi if self.asgi else self._wsgi)(method, path, query, sent, body)
        for key, value in answer.headers:
            if key.lower() == "set-cookie":
                match = re.match(r"([^=]+)=([^;]*)", value)
                assert match is not None
                self.cookies[match.group(1)] = match.group(2)
        return answer

    def _wsgi(
        self, method: str, path: str, query: str, headers: dict[str, str], body: bytes
    ) -> Answer:
        environ: dict[str, Any] = {
            "REQUEST_METHOD": method,
            "SCRIPT_NAME": self.base,
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "SERVER_NAME": HOST,
            "SERVER_PORT": "80",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "REMOTE_ADDR": self.remote,
            "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(body),
            "wsgi.errors": io.StringIO(),
            "CONTENT_LENGTH": str(len(body)) if body else "",
            **self.extra,
        }
        for name, value in headers.items():
            if name == "content-type":
                environ["CONTENT_TYPE"] = value
            else:
                environ["HTTP_" + name.upper().replace("-", "_")] = value
        seen: dict[str, Any] = {}

        def start_response(status: str, headers: list[tuple[str, str]]) -> None:
            seen["status"], seen["headers"] = status, headers

        chunks = self.app(environ, start_response)
        data = b"".join(chunks)
        return Answer(int(seen["status"].split()[0]), seen["headers"], data)

    def _asgi(
        self, method: str, path: str, query: str, headers: dict[str, str], body: bytes
    ) -> Answer:
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": (self.base + path) if self.full_path else path,
            "raw_path": (self.base + path).encode(),
            "root_path": self.base,
            "query_string": query.encode(),
            "headers": [(k.encode(), v.encode()) for k, v in headers.items()],
            "client": (self.remote, 50000),
            "server": (HOST, 80),
            **self.extra,
        }
        return asyncio.run(call_asgi(self.app, scope, body))


async def call_asgi(app: Any, scope: dict[str, Any], body: bytes) -> Answer:
    incoming = [{"type": "http.request", "body": body, "more_body": False}]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if incoming:
            return incoming.pop(0)
        await asyncio.sleep(3600)  # a client that stays connected
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    data = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    headers = [(k.decode(), v.decode()) for k, v in start["headers"]]
    return Answer(start["status"], headers, data)
