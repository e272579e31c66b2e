"""The tickwork dashboard mounted at /admin/jobs inside a Flask application.

Run it from the repository root, after ``pip install . flask``::

    python examples/dashboard_flask.py

Werkzeug's ``DispatcherMiddleware`` (it comes with Flask) sends every request under
``/admin/jobs`` to the dashboard, which renders its links under that prefix. Actions are
on, for signed-in admins only: the ``authorize`` hook opens a Flask request context over
the request's WSGI environ and reads the Flask session, so the dashboard trusts exactly
what the application trusts. The dashboard checks its own CSRF token and the request's
Origin before it asks.

The script makes requests to itself with Flask's test client (no server, no port):
the jobs page, a job's page, a pause refused to a visitor and accepted from an admin,
then exits. In a real deployment, ``app.run()`` or gunicorn serves ``app`` instead.
"""

from __future__ import annotations

import re
import time
from html import unescape

from flask import Flask, session
from werkzeug.middleware.dispatcher import DispatcherMiddleware

from tickwork import Scheduler
from tickwork.web import Request, wsgi_app

scheduler = Scheduler(timezone="UTC")


def send_digest() -> None:
    time.sleep(0.01)  # stands in for real work


scheduler.add_job(send_digest, "cron", "0 7 * * mon-fri", id="send-digest")
scheduler.add_job(send_digest, "interval", seconds=0.2, id="refresh-cache")

app = Flask(__name__)
app.secret_key = "change-me: a long random value from your configuration"


@app.get("/")
def home() -> str:
    return "the application's own pages"


@app.post("/login")
def login() -> str:
    session["is_admin"] = True  # (a real application checks a password first)
    return "signed in"


def is_admin(request: Request) -> bool:
    """The dashboard's authorize hook: the Flask session's word on this request."""
    with app.request_context(dict(request.environ)):
        return bool(session.get("is_admin"))


dashboard = wsgi_app(scheduler, allow_actions=True, authorize=is_admin)
app.wsgi_app = DispatcherMiddleware(app.wsgi_app, {"/admin/jobs": dashboard})  # type: ignore[method-assign]


def main() -> None:
    scheduler.start()
    try:
        while len(scheduler.history("refresh-cache")) < 3:
            time.sleep(0.05)
        client = app.test_client()
        page = client.get("/admin/jobs/")
        rows = re.findall(r'<tr data-job="([^"]+)"', page.text)
        print(f"GET /admin/jobs/ -> {page.status_code}, jobs: {', '.join(rows)}")
        links = sorted(set(re.findall(r'href="(/[^"?]*)', page.text)))
        print(f"  every link under the prefix: {links}")
        job = client.get("/admin/jobs/job?id=send-digest")
        schedule = re.search(r'<p class="schedule"><b>([^<]+)</b>', job.text)
        print(
            f"GET /admin/jobs/job?id=send-digest -> {job.status_code}: {schedule and schedule[1]}"
        )

        token = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert token is not None
        form = {"job_id": "send-digest", "csrf": token[1]}
        origin = {"Origin": "http://localhost"}
        refused = client.post("/admin/jobs/actions/pause", data=form, headers=origin)
        reason = re.search(r'class="problem">([^<]+)', refused.text)
        print(f"POST pause as a visitor -> {refused.status_code}: {reason and unescape(reason[1])}")
        client.post("/login")
        done = client.post("/admin/jobs/actions/pause", data=form, headers=origin)
        print(f"POST pause as an admin -> {done.status_code} to {done.headers['Location']}")
        paused = scheduler.get_job("send-digest")
        print(f"send-digest paused: {paused is not None and paused.paused}")
    finally:
        scheduler.shutdown()


if __name__ == "__main__":
    main()
