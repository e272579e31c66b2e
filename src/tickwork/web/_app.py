"""The dashboard itself: a request in, a response out, whatever serves it.

Theory of operation
-------------------
The WSGI and ASGI adapters (``_server.py``) turn what their server hands them into a
:class:`Request` and give it to :meth:`Dashboard.handle`, which returns a
:class:`Response`. ``handle`` routes by the path *under the mount prefix* (WSGI's
``SCRIPT_NAME``, ASGI's ``root_path``), and every link and form it renders starts
with that prefix, so the dashboard works mounted anywhere.

Pages (GET or HEAD only) never change anything. Changes are POSTs to
``/actions/<name>``, and each must pass, in order: the dashboard was built with
``allow_actions=True`` (else 403: read-only; no button is rendered either, but the
check is on the server, not in the page); the request's ``Origin`` (or, without one,
its ``Referer``) is this dashboard's own origin or a trusted one; its CSRF token is the
HMAC, under the app's secret, of the random value in its ``tickwork_csrf`` cookie (a
double-submit cookie that only this app can sign); and ``authorize(request)`` returns
True. Any failure is a 403 that says which check refused it.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, urlsplit

from .. import JobLookupError, Outcome, StoreError
from ._format import h, link, url
from ._pages import (
    JOB_STATES,
    JobsQuery,
    Page,
    RunsQuery,
    View,
    job_page,
    jobs_page,
    processes_page,
    runs_page,
)
from ._source import Clock, Source, source_for
from ._static import FILES

__all__ = ["Dashboard", "Request", "Response"]

logger = logging.getLogger("tickwork.web")

COOKIE = "tickwork_csrf"
#: The largest POST body read (an action's form is a few hundred bytes).
MAX_BODY = 64 * 1024
_ACTIONS = ("pause", "resume", "run", "remove")
_DONE = {"pause": "Paused", "resume": "Resumed", "run": "Started a run of", "remove": "Removed"}
_HEADERS = [
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "same-origin"),
    (
        "Content-Security-Policy",
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    ),
    ("Cache-Control", "no-store"),
]


@dataclass(frozen=True)
class Request:
    """One request, as the dashboard and an ``authorize`` hook see it.

    ``path`` is the path under the mount prefix (``"/"``, ``"/job"``...), ``base`` the
    prefix itself (``""`` at the root, ``"/admin/tickwork"`` mounted there);
    ``headers`` has lower-case names; ``environ`` is the WSGI environ, or the ASGI
    scope, unchanged (what a framework stored there is there: a user, a session).
    """

    method: str
    path: str
    query_string: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)
    base: str = ""
    scheme: str = "http"
    remote_addr: str | None = None
    environ: Mapping[str, Any] = field(default_factory=dict, repr=False)
    body: bytes = field(default=b"", repr=False)
    #: True when the body was longer than the dashboard reads (it was not read).
    too_large: bool = False

    @property
    def host(self) -> str:
        """The Host header (what the browser asked for)."""
        return self.headers.get("host", "")

    @property
    def cookies(self) -> dict[str, str]:
        """The request's cookies, name to value (the first of a name wins).

        Parsed leniently, pair by pair: one malformed cookie of another application on
        the same host must not hide the dashboard's (``SimpleCookie`` drops them all).
        """
        found: dict[str, str] = {}
        for pair in self.headers.get("cookie", "").split(";"):
            name, sep, value = pair.partition("=")
            name = name.strip()
            if sep and name and name not in found:
                found[name] = value.strip().strip('"')
        return found

    @property
    def query(self) -> dict[str, list[str]]:
        return parse_qs(self.query_string, keep_blank_values=True)

    @property
    def form(self) -> dict[str, list[str]]:
        """The body as an urlencoded form (empty for any other content type)."""
        kind = self.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind != "application/x-www-form-urlencoded":
            return {}
        return parse_qs(self.body.decode("utf-8", "replace"), keep_blank_values=True)


@dataclass
class Response:
    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)

    @property
    def status_line(self) -> str:
        return f"{self.status} {HTTPStatus(self.status).phrase}"


class _Refused(Exception):
    """A request answered with an error page: *status* and the reason shown."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


Authorize = Callable[[Request], bool]


def local_only(request: Request) -> bool:
    """An ``authorize`` hook that allows requests from this machine only (a loopback
    client address): for ``serve()`` on 127.0.0.1, where whoever can reach the port is
    a user of this machine. Do not use it behind a reverse proxy on the same host (the
    proxy's requests come from loopback too)."""
    address = (request.remote_addr or "").strip("[]")
    return address == "::1" or address.startswith("127.") or address == "::ffff:127.0.0.1"


class Dashboard:
    """The dashboard of a scheduler or a job store: :meth:`handle` answers a request.

    Built by :func:`tickwork.web.wsgi_app` and :func:`tickwork.web.asgi_app`, which
    check the options; see them.
    """

    def __init__(
        self,
        target: object,
        *,
        allow_actions: bool = False,
        authorize: Authorize | None = None,
        show_args: bool = False,
        secret: bytes | str | None = None,
        trusted_origins: Iterable[str] = (),
        allowed_hosts: Iterable[str] | None = None,
        refresh: float = 5.0,
        clock: Clock | None = None,
        title: str = "tickwork",
    ) -> None:
        if not isinstance(allow_actions, bool):
            raise TypeError(f"allow_actions must be True or False, got {allow_actions!r}")
        if not isinstance(show_args, bool):
            raise TypeError(f"show_args must be True or False, got {show_args!r}")
        if not isinstance(title, str):
            raise TypeError(f"title must be a str, got {title!r}")
        if authorize is not None and not callable(authorize):
            raise TypeError(f"authorize must be a function of the request, got {authorize!r}")
        if allow_actions and authorize is None:
            raise ValueError(
                "allow_actions=True needs authorize=: a function of the request that returns "
                "True for whoever may pause, resume, run and remove jobs (for a dashboard on "
                "127.0.0.1 only, tickwork.web.local_only)"
            )
        if isinstance(secret, str):
            secret = secret.encode()
        if secret is not None and (not isinstance(secret, bytes) or len(secret) < 16):
            raise ValueError("secret must be at least 16 bytes (or a str of as many), or None")
        origins = [trusted_origins] if isinstance(trusted_origins, str) else list(trusted_origins)
        for origin in origins:
            parts = urlsplit(origin) if isinstance(origin, str) else None
            if (
                parts is None
                or parts.scheme not in ("http", "https")
                or not parts.netloc
                or (parts.path not in ("", "/"))
            ):
                raise ValueError(
                    "trusted_origins must be origins like 'https://ops.example.com', "
                    f"got {origin!r}"
                )
        if (
            isinstance(refresh, bool)
            or not isinstance(refresh, (int, float))
            or not (0 <= refresh <= 3600)
        ):
            raise ValueError(f"refresh must be seconds between 0 (off) and 3600, got {refresh!r}")
        self.source: Source = source_for(target, clock)
        self.allow_actions = allow_actions
        self.authorize = authorize
        self.show_args = show_args
        self.refresh = float(refresh)
        self.title = title
        self._secret = secret if secret is not None else secrets.token_bytes(32)
        self._trusted = {origin.rstrip("/").lower() for origin in origins}
        if isinstance(allowed_hosts, str):
            allowed_hosts = [allowed_hosts]
        self._hosts = (
            None
            if allowed_hosts is None
            else {str(name).lower().strip("[]") for name in allowed_hosts}
        )

    # -- the CSRF token ------------------------------------------------------------------

    def _sign(self, nonce: str) -> str:
        return hmac.new(self._secret, nonce.encode(), hashlib.sha256).hexdigest()

    @staticmethod
    def _nonce(request: Request) -> str | None:
        value = request.cookies.get(COOKIE)
        if value and len(value) == 43 and value.replace("-", "").replace("_", "").isalnum():
            return value
        return None

    # -- answering -----------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        """Answer *request* (never raises for a problem of the request or the store)."""
        try:
            self._check_host(request)
            if request.path.startswith("/static/"):
                return self._static(request)
            if request.path.startswith("/actions/"):
                return self._act(request)
            if request.method not in ("GET", "HEAD"):
                response = self._problem(request, 405, "pages answer GET only", None)
                response.headers.append(("Allow", "GET, HEAD"))
                return response
            return self._page(request)
        except _Refused as refused:
            return self._problem(request, refused.status, refused.reason, None)
        except Exception as error:
            # A bug (ours, or a trigger's or a store's that breaks its contract): a 500
            # page that names the error's type, the traceback in the log only.
            logger.exception("tickwork dashboard: %s %s failed", request.method, request.path)
            return self._problem(
                request, 500, f"the dashboard failed ({type(error).__name__})", None
            )

    def _static(self, request: Request) -> Response:
        found = FILES.get(request.path[len("/static/") :])
        if found is None or request.method not in ("GET", "HEAD"):
            raise _Refused(404, f"no such file: {request.path}")
        kind, body = found
        headers = [("Content-Type", kind), *_HEADERS[:-1], ("Cache-Control", "max-age=300")]
        return Response(200, body, headers)

    def _page(self, request: Request) -> Response:
        nonce = self._nonce(request) if self.allow_actions else None
        cookie = None
        if self.allow_actions and nonce is None:
            nonce = secrets.token_urlsafe(32)
            cookie = nonce
        view = View(
            base=request.base,
            source=self.source,
            now=self.source.now(),
            actions=self.allow_actions,
            csrf=self._sign(nonce) if nonce is not None else "",
            show_args=self.show_args,
        )
        params = request.query
        path = request.path or "/"
        try:
            if path == "/":
                page = jobs_page(view, _jobs_query(params))
            elif path == "/job":
                page = self._job(view, params)
            elif path == "/runs":
                page = runs_page(view, _runs_query(params))
            elif path == "/processes":
                _known(params, set())
                page = processes_page(view)
            else:
                raise _Refused(404, f"no page at {path}")
        except StoreError as error:
            logger.warning("tickwork dashboard: the store failed: %s", error)
            return self._problem(request, 503, f"the job store failed: {error}", view)
        except _Refused as refused:
            return self._problem(request, refused.status, refused.reason, view)
        response = self._render(request, view, page, 200, flash=_flash(params))
        if cookie is not None:
            secure = "; Secure" if request.scheme == "https" else ""
            response.headers.append(
                (
                    "Set-Cookie",
                    f"{COOKIE}={cookie}; Path={url(request.base, '/')}; HttpOnly; "
                    f"SameSite=Strict{secure}",
                )
            )
        return response

    def _job(self, view: View, params: dict[str, list[str]]) -> Page:
        _known(params, {"id", "done"})
        job_id = _one(params, "id")
        if not job_id:
            raise _Refused(400, "query parameter 'id' (the job's id) is required")
        try:
            job = self.source.job(job_id)
        except JobLookupError:
            reason = self.source.broken().get(job_id)
            if reason is None:
                raise _Refused(404, f"no job with id {job_id!r}") from None
            return job_page(view, None, job_id, reason)
        return job_page(view, job, job_id, None)

    # -- actions -------------------------------------------------------------------------

    def _act(self, request: Request) -> Response:
        action = request.path[len("/actions/") :]
        if action not in _ACTIONS:
            raise _Refused(404, f"no action {action!r} (actions: {', '.join(_ACTIONS)})")
        if request.method != "POST":
            raise _Refused(405, f"actions are POST requests; {request.method} changes nothing")
        if not self.allow_actions:
            raise _Refused(
                403, "refused: this dashboard is read-only (built without allow_actions=True)"
            )
        if request.too_large:
            raise _Refused(413, f"refused: a form over {MAX_BODY} bytes")
        self._check_origin(request)
        form = request.form
        nonce = self._nonce(request)
        token = _one(form, "csrf")
        # (Compared as UTF-8 bytes: compare_digest raises on a str that is not ASCII.)
        signed = None if nonce is None else self._sign(nonce).encode()
        if (
            signed is None
            or not token
            or not hmac.compare_digest(token.encode(errors="replace"), signed)
        ):
            raise _Refused(
                403, "refused: missing or wrong CSRF token (reload the page and try again)"
            )
        assert self.authorize is not None
        try:
            allowed = self.authorize(request)
        except Exception:
            logger.exception("tickwork dashboard: the authorize hook raised; refusing")
            allowed = False
        if allowed is not True:
            raise _Refused(403, "refused: not authorized (the dashboard's authorize hook said no)")
        job_id = _one(form, "job_id")
        if not job_id:
            raise _Refused(400, "form field 'job_id' is required")
        note = _one(form, "note") or None
        try:
            if action == "pause":
                self.source.pause(job_id, note)
            elif action == "resume":
                self.source.resume(job_id)
            elif action == "run":
                self.source.run_now(job_id)
            else:
                self.source.remove(job_id)
        except JobLookupError:
            raise _Refused(404, f"no job with id {job_id!r}") from None
        except StoreError as error:
            raise _Refused(503, f"the job store failed: {error}") from None
        except (TypeError, ValueError) as error:
            raise _Refused(400, f"{action} {job_id!r}: {error}") from None
        logger.info("tickwork dashboard: %s %r", action, job_id)
        back = _one(form, "next")
        if action == "remove" or back != "job":
            location = url(request.base, "/", done=action, job=job_id)
        else:
            location = url(request.base, "/job", id=job_id, done=action)
        return Response(303, b"", [("Location", location), *_HEADERS])

    def _check_host(self, request: Request) -> None:
        if self._hosts is None:
            return
        host = request.host.lower()
        name = host[1:].partition("]")[0] if host.startswith("[") else host.rpartition(":")[0]
        name = name or host  # (no port)
        if name not in self._hosts:
            raise _Refused(
                403,
                f"refused: this dashboard answers {', '.join(sorted(self._hosts))}, "
                f"not the host {request.host!r}",
            )

    def _check_origin(self, request: Request) -> None:
        origin = request.headers.get("origin", "")
        if not origin or origin == "null":
            referer = request.headers.get("referer", "")
            if not referer:
                raise _Refused(403, "refused: the request has no Origin or Referer header")
            parts = urlsplit(referer)
            origin = f"{parts.scheme}://{parts.netloc}"
        origin = origin.rstrip("/").lower()
        own = f"{request.scheme}://{request.host}".lower()
        if origin != own and origin not in self._trusted:
            raise _Refused(
                403,
                f"refused: cross-origin request from {origin} (this dashboard is {own}; "
                "add the origin to trusted_origins if it is yours)",
            )

    # -- HTML ----------------------------------------------------------------------------

    def _problem(self, request: Request, status: int, reason: str, view: View | None) -> Response:
        page = Page(HTTPStatus(status).phrase, f'<p class="problem">{h(reason)}</p>')
        return self._render(request, view, page, status, flash="")

    def _render(
        self, request: Request, view: View | None, page: Page, status: int, *, flash: str
    ) -> Response:
        headers = [("Content-Type", "text/html; charset=utf-8"), *_HEADERS]
        if request.headers.get("x-tickwork-fragment") == "1":
            return Response(status, page.body.encode(), headers)
        base = request.base
        here = request.path or "/"
        nav = "".join(
            f'<a href="{link(base, path)}"{" class=here" if here == path else ""}>{name}</a>'
            for path, name in (("/", "Jobs"), ("/runs", "Runs"), ("/processes", "Processes"))
        )
        mode = "actions on" if self.allow_actions else "read-only"
        when = "" if view is None else f"{view.now:%Y-%m-%d %H:%M:%S %Z}"
        refresh = self.refresh if status == 200 else 0
        html = (
            '<!doctype html><html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{h(page.title)} · {h(self.title)}</title>"
            f'<link rel="stylesheet" href="{link(base, "/static/dashboard.css")}">'
            f'<link rel="icon" href="{link(base, "/static/favicon.svg")}" type="image/svg+xml">'
            f'<script src="{link(base, "/static/dashboard.js")}" defer></script></head>'
            f'<body data-refresh="{refresh:g}"><header>'
            f'<a class="brand" href="{link(base, "/")}">{h(self.title)}</a><nav>{nav}</nav>'
            f'<span class="source">{h(self.source.label)}</span>'
            f'<span class="mode">{mode}</span><span class="mode">{h(when)}</span>'
            '<span id="status"></span></header>'
            + (f'<p class="flash">{h(flash)}</p>' if flash else "")
            + f'<h1 class="controls">{h(page.title)}</h1>'
            + (f'<div class="controls">{page.controls}</div>' if page.controls else "")
            + f'<main id="live">{page.body}</main></body></html>'
        )
        body = b"" if request.method == "HEAD" else html.encode()
        return Response(status, body, headers)


# -- query parameters ----------------------------------------------------------------------


def _known(params: Mapping[str, list[str]], names: set[str]) -> None:
    unknown = sorted(set(params) - names)
    if unknown:
        known = ", ".join(sorted(names)) or "none"
        raise _Refused(
            400, f"unknown query parameter {', '.join(map(repr, unknown))} (known: {known})"
        )
    for name, values in params.items():
        if len(values) > 1:
            raise _Refused(400, f"query parameter {name!r} is given {len(values)} times")


def _one(params: Mapping[str, list[str]], name: str) -> str:
    values = params.get(name)
    return values[0] if values else ""


def _whole(params: Mapping[str, list[str]], name: str, default: int, top: int) -> int:
    text = _one(params, name)
    if not text:
        return default
    # (isascii: "²" is a digit to isdigit, not to int.)
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= top:
        raise _Refused(
            400, f"query parameter {name!r} must be a whole number from 1 to {top}, got {text!r}"
        )
    return int(text)


def _flash(params: Mapping[str, list[str]]) -> str:
    done = _DONE.get(_one(params, "done"))
    job_id = _one(params, "id") or _one(params, "job")
    return f"{done} job {job_id}." if done and job_id else ""


def _jobs_query(params: Mapping[str, list[str]]) -> JobsQuery:
    _known(params, {"q", "state", "page", "per_page", "done", "job"})
    state = _one(params, "state") or "all"
    if state not in JOB_STATES:
        raise _Refused(
            400, f"query parameter 'state' must be one of {', '.join(JOB_STATES)}, got {state!r}"
        )
    return JobsQuery(
        text=_one(params, "q"),
        state=state,
        page=_whole(params, "page", 1, 1_000_000),
        per_page=_whole(params, "per_page", JobsQuery.per_page, 1_000),
    )


def _runs_query(params: Mapping[str, list[str]]) -> RunsQuery:
    _known(params, {"job", "outcome", "page"})
    text = _one(params, "outcome")
    outcome = None
    if text:
        try:
            outcome = Outcome(text)
        except ValueError:
            names = ", ".join(o.value for o in Outcome)
            raise _Refused(
                400, f"query parameter 'outcome' must be one of {names}, got {text!r}"
            ) from None
    query = RunsQuery(job=_one(params, "job"), outcome=outcome)
    page = _whole(params, "page", 1, 10_000 // query.per_page)
    return RunsQuery(job=query.job, outcome=outcome, page=page)
