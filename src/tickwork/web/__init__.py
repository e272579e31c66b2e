"""A dashboard for tickwork: see what is scheduled, what ran and what failed, in a browser.

Mount it in your web application (WSGI: Flask, Django; ASGI: FastAPI, Starlette), at
any prefix, or serve it on its own::

    from tickwork.web import wsgi_app, asgi_app, serve

    dashboard = wsgi_app(scheduler)                 # read-only by default
    serve(SQLiteStore("jobs.db"), port=8080)        # http://127.0.0.1:8080/

Server-side HTML from the standard library and a little plain JavaScript (served by the
app: no CDN, no build step). Pages: jobs, a job, runs, processes. Actions (pause,
resume, run now, remove) only with ``allow_actions=True`` and an ``authorize`` hook;
every action is a POST with a CSRF token and an Origin check. ``docs/dashboard.md``
has the security model and a mounting recipe for each framework.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TextIO

from ._app import Authorize, Dashboard, Request, Response, local_only
from ._server import ASGIApp, DashboardServer, WSGIApp
from ._server import run as _run
from ._source import Clock as _Clock

__all__ = [
    "ASGIApp",
    "Authorize",
    "Dashboard",
    "DashboardServer",
    "Request",
    "Response",
    "WSGIApp",
    "asgi_app",
    "local_only",
    "serve",
    "wsgi_app",
]

_OPTIONS = """
    Args:
        target: a ``Scheduler`` or ``AsyncScheduler`` of this process (live: its jobs,
            history and next fire times; actions through its own methods; tracebacks
            of runs that fail while the dashboard exists), or a job store
            (``tickwork.stores.JobStore``) that other processes run: read through the
            store's public API, changed as ``tickwork pause`` and its siblings change it.
        allow_actions: render and accept pause, resume, run now and remove. Needs
            *authorize*.
        authorize: ``authorize(request) -> bool``, called for every action (a POST)
            after its Origin and CSRF token are checked: return True to allow it.
            ``request`` is a :class:`Request`; its ``environ`` holds what your framework
            put in the WSGI environ or ASGI scope. :func:`local_only` allows this
            machine's requests.
        show_args: show jobs' positional and keyword arguments (hidden by default:
            they may hold secrets).
        secret: the key that signs CSRF tokens (16 bytes or more). Default: random per
            app; give the same one to every worker process behind one URL.
        trusted_origins: origins besides the request's own that may POST actions
            (``"https://ops.example.com"``: a TLS proxy in front of a plain-HTTP app).
        allowed_hosts: the host names (``Host`` header, without the port) the dashboard
            answers; any other gets a 403. Default: any (your framework checks it, as
            Django's ``ALLOWED_HOSTS`` does). ``serve`` on a loopback host answers only
            loopback names, against DNS rebinding.
        refresh: seconds between a page's updates of itself (0: off). Default 5.
        clock: what tells the time (``now()``): default the scheduler's clock, or the
            wall clock for a store. A ``tickwork.testing.FakeClock`` in tests.
        title: the name in the header and the window title.

    Raises:
        TypeError: *target* is not a scheduler or a job store, or an option has the
            wrong type.
        ValueError: ``allow_actions=True`` without *authorize*; a *secret* too short; a
            trusted origin that is not one; *refresh* out of range.
"""


def wsgi_app(
    target: object,
    *,
    allow_actions: bool = False,
    authorize: Authorize | None = None,
    show_args: bool = False,
    secret: bytes | str | None = None,
    trusted_origins: Iterable[str] = (),
    allowed_hosts: Iterable[str] | None = None,
    refresh: float = 5.0,
    clock: _Clock | None = None,
    title: str = "tickwork",
) -> WSGIApp:
    """The dashboard of *target* as a WSGI application, read-only unless asked.

    Mount it at any prefix: links follow ``SCRIPT_NAME``.
    """
    return WSGIApp(
        Dashboard(
            target,
            allow_actions=allow_actions,
            authorize=authorize,
            show_args=show_args,
            secret=secret,
            trusted_origins=trusted_origins,
            allowed_hosts=allowed_hosts,
            refresh=refresh,
            clock=clock,
            title=title,
        )
    )


def asgi_app(
    target: object,
    *,
    allow_actions: bool = False,
    authorize: Authorize | None = None,
    show_args: bool = False,
    secret: bytes | str | None = None,
    trusted_origins: Iterable[str] = (),
    allowed_hosts: Iterable[str] | None = None,
    refresh: float = 5.0,
    clock: _Clock | None = None,
    title: str = "tickwork",
) -> ASGIApp:
    """The dashboard of *target* as an ASGI 3 application, read-only unless asked.

    Mount it at any prefix: links follow ``root_path``. Requests are answered in a
    worker thread (a page reads the store); lifespan events are acknowledged.
    """
    return ASGIApp(
        Dashboard(
            target,
            allow_actions=allow_actions,
            authorize=authorize,
            show_args=show_args,
            secret=secret,
            trusted_origins=trusted_origins,
            allowed_hosts=allowed_hosts,
            refresh=refresh,
            clock=clock,
            title=title,
        )
    )


assert wsgi_app.__doc__ is not None
assert asgi_app.__doc__ is not None
wsgi_app.__doc__ += _OPTIONS
asgi_app.__doc__ += _OPTIONS


#: Hosts ``serve`` treats as this machine only (its local-only rule for actions).
_LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})


def serve(
    target: object,
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    allow_actions: bool = False,
    authorize: Authorize | None = None,
    show_args: bool = False,
    secret: bytes | str | None = None,
    trusted_origins: Iterable[str] = (),
    allowed_hosts: Iterable[str] | None = None,
    refresh: float = 5.0,
    clock: _Clock | None = None,
    title: str = "tickwork",
    ready: Callable[[DashboardServer], object] | None = None,
    out: TextIO | None = None,
) -> None:
    """Serve the dashboard of *target* on *host*:*port* until Ctrl-C (a threaded
    ``wsgiref`` server); print its URL first.

    The options are :func:`wsgi_app`'s, with two rules of its own on a loopback host
    (``127.0.0.1``, ``::1``, ``localhost``): ``allow_actions=True`` without *authorize*
    allows the actions of requests from this machine only (:func:`local_only`), since
    nothing else can reach the port; and *allowed_hosts* defaults to those names (a
    page of another site cannot reach the dashboard by DNS rebinding). On any other
    host, actions need *authorize*.

    ``port=0`` picks a free port. *ready*, when given, is called with the
    :class:`DashboardServer` once it listens (its ``url``; call its ``shutdown()`` from
    another thread to stop serving). *out* is where the URL is printed (default:
    standard output).

    The dashboard shows your jobs to whoever reaches the port: keep *host* on loopback
    (the default) or put it behind a proxy that authenticates.

    Raises:
        TypeError, ValueError: as :func:`wsgi_app`; a *port* out of range.
        OSError: the address is taken or cannot be bound.
    """
    if isinstance(target, str):
        raise TypeError(
            "serve() needs a Scheduler or a job store; for a file, pass SQLiteStore(path) "
            f"(got the str {target!r})"
        )
    if not isinstance(port, int) or isinstance(port, bool) or not 0 <= port <= 65535:
        raise ValueError(f"port must be a whole number from 0 to 65535, got {port!r}")
    if host in _LOOPBACK:
        if allow_actions is True and authorize is None:
            authorize = local_only
        if allowed_hosts is None:
            # A page of another site whose name was made to resolve to 127.0.0.1 (DNS
            # rebinding) reaches this port from the user's own browser, with its own
            # name in Host: answer only the names of this machine.
            allowed_hosts = ("127.0.0.1", "localhost", "::1")
    app = wsgi_app(
        target,
        allow_actions=allow_actions,
        authorize=authorize,
        show_args=show_args,
        secret=secret,
        trusted_origins=trusted_origins,
        allowed_hosts=allowed_hosts,
        refresh=refresh,
        clock=clock,
        title=title,
    )
    _run(app, host, port, ready, out)
