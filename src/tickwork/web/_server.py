"""The dashboard as a WSGI application, an ASGI application, and a small server.

Both adapters only translate: what the server hands them becomes a
:class:`~tickwork.web._app.Request`, :meth:`Dashboard.handle` answers it, and the
:class:`~tickwork.web._app.Response` goes back. The ASGI one runs ``handle`` in a
worker thread (``asyncio.to_thread``): a page reads the store, which may do I/O, and
must not stall the event loop.
"""

from __future__ import annotations

import asyncio
import socketserver
import sys
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any, TextIO
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer

from ._app import MAX_BODY, Dashboard, Request, Response

__all__ = ["ASGIApp", "DashboardServer", "WSGIApp"]

StartResponse = Callable[..., Any]
Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


def _prefix(base: str) -> str:
    return base.rstrip("/")


class WSGIApp:
    """The dashboard as a WSGI application (``app(environ, start_response)``).

    ``dashboard`` is the :class:`~tickwork.web.Dashboard` it serves.
    """

    def __init__(self, dashboard: Dashboard) -> None:
        self.dashboard = dashboard

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        response = self.dashboard.handle(request_from_environ(environ))
        start_response(response.status_line, response.headers)
        return [response.body]


def request_from_environ(environ: dict[str, Any]) -> Request:
    """A :class:`Request` from a WSGI environ (the POST body read, up to a limit)."""
    headers = {
        key[5:].replace("_", "-").lower(): value
        for key, value in environ.items()
        if key.startswith("HTTP_") and isinstance(value, str)
    }
    if environ.get("CONTENT_TYPE"):
        headers["content-type"] = environ["CONTENT_TYPE"]
    if "host" not in headers:
        port = str(environ.get("SERVER_PORT", ""))
        name = str(environ.get("SERVER_NAME", ""))
        default = "443" if environ.get("wsgi.url_scheme") == "https" else "80"
        headers["host"] = name if port in ("", default) else f"{name}:{port}"
    method = str(environ.get("REQUEST_METHOD", "GET")).upper()
    body, too_large = b"", False
    if method == "POST":
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > MAX_BODY:
            too_large = True
        elif length > 0:
            body = environ["wsgi.input"].read(length)
    return Request(
        method=method,
        path=str(environ.get("PATH_INFO", "")) or "/",
        query_string=str(environ.get("QUERY_STRING", "")),
        headers=headers,
        base=_prefix(str(environ.get("SCRIPT_NAME", ""))),
        scheme=str(environ.get("wsgi.url_scheme", "http")),
        remote_addr=environ.get("REMOTE_ADDR"),
        environ=environ,
        body=body,
        too_large=too_large,
    )


class ASGIApp:
    """The dashboard as an ASGI 3 application (``await app(scope, receive, send)``).

    HTTP requests are answered; ``lifespan`` events are acknowledged (the dashboard has
    nothing to start or stop); a websocket is closed.
    """

    def __init__(self, dashboard: Dashboard) -> None:
        self.dashboard = dashboard

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope.get("type")
        if kind == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if kind != "http":
            if kind == "websocket":
                await send({"type": "websocket.close", "code": 1003})
            return
        body, too_large = b"", False
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            if len(body) + len(chunk) > MAX_BODY:
                too_large = True
            else:
                body += chunk
            more = bool(message.get("more_body", False))
        request = request_from_scope(scope, b"" if too_large else body, too_large)
        response: Response = await asyncio.to_thread(self.dashboard.handle, request)
        await send(
            {
                "type": "http.response.start",
                "status": response.status,
                "headers": [
                    (k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in response.headers
                ],
            }
        )
        await send({"type": "http.response.body", "body": response.body})


def request_from_scope(scope: Scope, body: bytes, too_large: bool = False) -> Request:
    """A :class:`Request` from an ASGI http scope."""
    headers: dict[str, str] = {}
    for key, value in scope.get("headers", []):
        name = key.decode("latin-1").lower()
        text = value.decode("latin-1")
        if name in headers:
            # Repeated headers join with a comma, cookies with "; " (RFC 9110, 6265).
            text = headers[name] + ("; " if name == "cookie" else ", ") + text
        headers[name] = text
    if "host" not in headers and scope.get("server"):
        host, port = scope["server"][0], scope["server"][1]
        headers["host"] = f"{host}:{port}" if port not in (None, 80, 443) else str(host)
    root = _prefix(str(scope.get("root_path", "")))
    path = str(scope.get("path", "")) or "/"
    # Servers and frameworks differ: some give the full path (ASGI's current reading),
    # some the path under root_path. Take the part under the prefix either way.
    if root and (path == root or path.startswith(root + "/")):
        path = path[len(root) :] or "/"
    query = scope.get("query_string", b"")
    client = scope.get("client")
    return Request(
        method=str(scope.get("method", "GET")).upper(),
        path=path,
        query_string=query.decode("latin-1") if isinstance(query, bytes) else str(query),
        headers=headers,
        base=root,
        scheme=str(scope.get("scheme", "http")),
        remote_addr=str(client[0]) if client else None,
        environ=scope,
        body=body,
        too_large=too_large,
    )


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        return  # the dashboard polls every few seconds: a line per request is noise


class DashboardServer(socketserver.ThreadingMixIn, WSGIServer):
    """A threaded ``wsgiref`` server of one dashboard: ``url``, ``serve_forever()``,
    ``shutdown()`` (from another thread), ``server_close()``."""

    daemon_threads = True
    allow_reuse_address = True

    @property
    def url(self) -> str:
        address = self.server_address
        host = address[0] if isinstance(address[0], str) else address[0].decode()
        port = address[1]
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{port}/"


def make_server(app: WSGIApp, host: str, port: int) -> DashboardServer:
    server = DashboardServer((host, port), _Quiet, bind_and_activate=True)
    server.set_app(app)
    return server


def run(
    app: WSGIApp,
    host: str,
    port: int,
    ready: Callable[[DashboardServer], object] | None,
    out: TextIO | None,
) -> None:
    server = make_server(app, host, port)
    stream = out if out is not None else sys.stdout
    print(f"tickwork dashboard: {server.url} (Ctrl-C to stop)", file=stream, flush=True)
    try:
        if ready is not None:
            ready(server)
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        print("tickwork dashboard: stopped", file=stream, flush=True)
    finally:
        server.server_close()
