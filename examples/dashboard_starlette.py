"""The tickwork dashboard mounted at /ops/scheduler inside a Starlette application.

Run it from the repository root, after ``pip install . starlette httpx``::

    python examples/dashboard_starlette.py

``Mount`` gives the dashboard its prefix (it renders its links under ``root_path``).
Starlette's ``AuthenticationMiddleware`` puts what it knows of the caller in the ASGI
scope, and the dashboard's ``authorize`` hook reads it there (``request.environ`` is the
scope): only a caller with the "admin" scope may act. The script starts a ``Scheduler``
(a thread; an ``AsyncScheduler`` in the lifespan works the same), makes requests
through httpx's ASGI transport, prints what came back and exits.
"""

from __future__ import annotations

import asyncio
import re
import time

import httpx
from starlette.applications import Starlette
from starlette.authentication import AuthCredentials, AuthenticationBackend, SimpleUser
from starlette.middleware import Middleware
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.requests import HTTPConnection
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route

from tickwork import Scheduler
from tickwork.web import Request, asgi_app

TOKEN = "change-me: a long random value from your configuration"


class BearerToken(AuthenticationBackend):
    """Who is calling: an operator with the right token, or an anonymous visitor."""

    async def authenticate(self, conn: HTTPConnection) -> tuple[AuthCredentials, SimpleUser] | None:
        if conn.headers.get("authorization") == f"Bearer {TOKEN}":
            return AuthCredentials(["admin"]), SimpleUser("operator")
        return None


def is_admin(request: Request) -> bool:
    """The dashboard's authorize hook: what the authentication middleware decided."""
    credentials = request.environ.get("auth")
    return credentials is not None and "admin" in credentials.scopes


def export_orders() -> None:
    time.sleep(0.01)


scheduler = Scheduler(timezone="Europe/Paris")
scheduler.add_job(export_orders, "cron", "0 2 * * *", id="export-orders")


async def home(request: HTTPConnection) -> PlainTextResponse:
    return PlainTextResponse("the application's own pages")


app = Starlette(
    routes=[
        Route("/", home),
        Mount("/ops/scheduler", app=asgi_app(scheduler, allow_actions=True, authorize=is_admin)),
    ],
    middleware=[Middleware(AuthenticationMiddleware, backend=BearerToken())],
)


async def main() -> None:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        page = await client.get("/ops/scheduler/")
        rows = re.findall(r'<tr data-job="([^"]+)"', page.text)
        print(f"GET /ops/scheduler/ -> {page.status_code}, jobs: {', '.join(rows)}")
        job = await client.get("/ops/scheduler/job", params={"id": "export-orders"})
        fires = re.findall(r"<tr><td>([^<]+)</td>", job.text)
        print(f"  next fires of export-orders: {fires[:2]}")
        token = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert token is not None
        form = {"job_id": "export-orders", "csrf": token[1]}
        origin = {"Origin": "http://testserver"}
        refused = await client.post("/ops/scheduler/actions/run", data=form, headers=origin)
        print(f"POST run now, anonymous -> {refused.status_code}")
        admin = {**origin, "Authorization": f"Bearer {TOKEN}"}
        done = await client.post("/ops/scheduler/actions/run", data=form, headers=admin)
        print(f"POST run now, as the operator -> {done.status_code} to {done.headers['location']}")
    while not scheduler.history("export-orders"):
        await asyncio.sleep(0.02)
    print(f"export-orders ran: {scheduler.history('export-orders')[0].outcome.value}")


if __name__ == "__main__":
    scheduler.start()
    try:
        asyncio.run(main())
    finally:
        scheduler.shutdown()
