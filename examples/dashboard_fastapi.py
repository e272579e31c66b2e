"""The tickwork dashboard mounted at /admin/jobs inside a FastAPI application.

Run it from the repository root, after ``pip install . fastapi httpx``::

    python examples/dashboard_fastapi.py

The application's lifespan starts an ``AsyncScheduler`` on its event loop, and
``app.mount`` gives the dashboard (an ASGI application) the prefix: it renders its
links under ``root_path``. The dashboard answers each request in a worker thread, so a
page that reads the store never stalls the loop. It is read-only here (the default): no
buttons, and a POST is refused. The script runs the lifespan and makes requests
through httpx's ASGI transport (what a test client does), prints what came back and
exits; ``uvicorn`` serves ``app`` for real.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator

import httpx
from fastapi import FastAPI

from tickwork import AsyncScheduler
from tickwork.web import asgi_app

scheduler = AsyncScheduler(timezone="UTC")


async def poll_feeds() -> None:
    await asyncio.sleep(0.01)  # stands in for real I/O


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    async with scheduler:  # start() ... shutdown()
        await scheduler.add_job(poll_feeds, "interval", seconds=0.2, id="poll-feeds")
        await scheduler.add_job(poll_feeds, "cron", "0 */6 * * *", id="full-sync")
        yield


app = FastAPI(lifespan=lifespan)
app.mount("/admin/jobs", asgi_app(scheduler))


@app.get("/health")
def health() -> dict[str, str]:
    return {"status": "ok"}


async def main() -> None:
    # What a server does: run the lifespan (the scheduler starts), then serve requests.
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            print(f"GET /health -> {(await client.get('/health')).json()}")
            while len(scheduler.engine.history("poll-feeds")) < 3:
                await asyncio.sleep(0.05)  # the jobs run on this loop meanwhile
            page = await client.get("/admin/jobs/")
            rows = re.findall(r'<tr data-job="([^"]+)"', page.text)
            print(f"GET /admin/jobs/ -> {page.status_code}, jobs: {', '.join(rows)}")
            buttons = page.text.count('class="action')
            print(f"  action buttons rendered: {buttons}")
            links = sorted(set(re.findall(r'(?:href|src)="(/[^"?]*)', page.text)))
            under = all(url.startswith("/admin/jobs/") for url in links)
            print(f"  every link under the prefix: {under}")
            job = await client.get("/admin/jobs/job", params={"id": "full-sync"})
            fires = re.findall(r"<tr><td>([^<]+)</td>", job.text)
            print(f"GET /admin/jobs/job?id=full-sync -> {job.status_code}, next: {fires[:2]}")
            runs = await client.get("/admin/jobs/runs", params={"job": "poll-feeds"})
            count = runs.text.count('<tr class="run success">')
            print(f"GET /admin/jobs/runs?job=poll-feeds -> {runs.status_code}, {count} runs")
            refused = await client.post(
                "/admin/jobs/actions/pause",
                data={"job_id": "full-sync"},
                headers={"Origin": "http://testserver"},
            )
            print(f"POST pause -> {refused.status_code} (the dashboard is read-only)")


if __name__ == "__main__":
    asyncio.run(main())
