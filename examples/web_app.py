"""Embedding a scheduler in a web application, with the standard library only.

Run it from the repository root, after ``pip install .``::

    python examples/web_app.py

A WSGI application (served by ``wsgiref`` on 127.0.0.1, on a free port) answers
``GET /stats`` from an in-memory cache. A scheduler, started when the application
starts and shut down when the process exits, refreshes the cache every second in a
background thread, so requests never wait for the slow query. The script then makes
two requests to itself, a little more than a second apart, prints the answers and
exits.

The same shape in frameworks:

* Flask has no start-up hook; build the scheduler in the application factory::

      def create_app():
          app = Flask(__name__)
          scheduler = Scheduler()                         # in memory: this process's jobs
          scheduler.add_job(refresh_cache, "interval", seconds=30, id="refresh-cache",
                            run_immediately=True)
          scheduler.start()
          atexit.register(scheduler.shutdown)

          @app.get("/stats")
          def stats():
              return snapshot()

          return app

  (The debug reloader runs the factory in two processes; start the scheduler only in
  the one serving requests: ``if not app.debug or os.environ.get("WERKZEUG_RUN_MAIN")
  == "true"``. Testing ``WERKZEUG_RUN_MAIN`` alone never starts it without ``--debug``.)

* FastAPI (or any ASGI framework) has a lifespan; use the asyncio scheduler there::

      @contextlib.asynccontextmanager
      async def lifespan(app):
          async with AsyncScheduler() as scheduler:       # start() ... shutdown()
              await scheduler.add_job(refresh_cache, "interval", seconds=30,
                                      id="refresh-cache", run_immediately=True)
              yield

      app = FastAPI(lifespan=lifespan)

A server with several worker processes (``gunicorn -w 4``) runs the application once
per process, and so one scheduler per process. With the default in-memory store each
of them runs every job, which is what this example wants: each worker has its own
cache to refresh. Work that must happen once however many workers there are (a report
e-mail, a clean-up) goes in a shared file instead: give every worker's scheduler the
same ``SQLiteStore("jobs.db")`` (from ``tickwork.stores``), and each fire runs once
among them. Start that scheduler in each worker after the fork (gunicorn's
``post_fork`` hook, not at import with ``--preload``), define its job functions at
module level and give them JSON arguments. Declare its jobs with a fixed ``id`` and
``replace_existing=True``, and **without** ``run_immediately=True``: start-up code runs
in every worker at every start, so "run once now" would run the job once per worker
per deploy. Work to do once per deploy belongs in the deploy step (a release command
that calls the function once). A worker may run both: a
scheduler in memory for per-process work like this cache (where ``run_immediately``
is right: each process fills its own cache), one on the file for the rest.
docs/persistence.md ("Several processes on one file") shows the set-up for gunicorn,
uvicorn and Django.
"""

from __future__ import annotations

import atexit
import json
import threading
import time
import urllib.request
from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from tickwork import EventKind, Scheduler, current_run

# -- the cache and the job that refreshes it ------------------------------------------

_cache_lock = threading.Lock()
_cache: dict[str, Any] = {}
cache_ready = threading.Event()


def refresh_cache() -> None:
    """The scheduled job: run the slow query and swap the result in, all at once."""
    time.sleep(0.05)  # stands in for a slow database query or API call
    fresh = {
        "active_users": 1000 + datetime.now(timezone.utc).second,
        "refreshed_for": current_run().scheduled_at.isoformat(timespec="milliseconds"),
    }
    with _cache_lock:
        fresh["refreshes"] = _cache.get("refreshes", 0) + 1
        _cache.clear()
        _cache.update(fresh)
    cache_ready.set()


def snapshot() -> dict[str, Any]:
    with _cache_lock:
        return dict(_cache)


# -- the WSGI application ---------------------------------------------------------------

StartResponse = Callable[[str, list[tuple[str, str]]], Any]


def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    """Answer from the cache: a request never runs the slow query itself."""
    if environ.get("PATH_INFO") != "/stats":
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found\n"]
    data = snapshot()
    if not data:
        start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
        return [b"warming up\n"]
    body = json.dumps(data).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass  # wsgiref logs every request to stderr; keep the demo's output readable


# -- start-up and shut-down -------------------------------------------------------------


def start_scheduler() -> Scheduler:
    """What the application does once, when it starts."""
    scheduler = Scheduler(timezone="UTC")
    scheduler.add_job(
        refresh_cache,
        "interval",
        seconds=1,
        id="refresh-cache",
        # Fill this process's cache now, not in a second. Right for a scheduler in memory
        # (each worker has its own cache); with a shared SQLiteStore it would run once per
        # worker at every start: see the module docstring.
        run_immediately=True,
        misfire_grace_time=5,  # a refresh that cannot start within 5 s is pointless
    )
    scheduler.add_listener(
        lambda event: print(f"[scheduler] {event.kind.name.lower().replace('_', ' ')}"),
        EventKind.SCHEDULER_ALL,
    )
    scheduler.start()
    # Stop it when the process exits: running jobs finish, nothing new starts.
    atexit.register(scheduler.shutdown)
    return scheduler


def serve_in_background() -> WSGIServer:
    server = make_server("127.0.0.1", 0, app, handler_class=QuietHandler)  # port 0: any free
    threading.Thread(target=server.serve_forever, name="wsgi", daemon=True).start()
    return server


def get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as response:
        return f"{response.status} {response.read().decode()}"


def main() -> None:
    start_scheduler()
    server = serve_in_background()
    try:
        url = f"http://127.0.0.1:{server.server_port}/stats"
        print(f"serving on {url}")
        cache_ready.wait(5)
        print("first request: ", get(url))
        time.sleep(1.2)  # the scheduler refreshes the cache meanwhile
        print("second request:", get(url))
    finally:
        server.shutdown()
        server.server_close()
    # The process exits here; atexit shuts the scheduler down.


if __name__ == "__main__":
    main()
