"""The tickwork dashboard at /admin/jobs/ inside a Django project.

Run it from the repository root, after ``pip install . django``::

    python examples/dashboard_django.py

Django routes by URL patterns, not by mounting WSGI applications, so one small view
hands the request to the dashboard: Django's ``request.environ`` *is* the WSGI environ,
with ``SCRIPT_NAME`` set to the prefix and ``PATH_INFO`` to the rest, and the answer
comes back as an ``HttpResponse``. The view is ``csrf_exempt`` because the dashboard
checks its own CSRF token and the request's Origin; its ``authorize`` hook gets the
Django request through the environ and asks the session (with ``django.contrib.auth``,
``request.user.is_staff`` is the usual test).

To keep to one file, the script configures Django itself (in a project, the settings
module and ``urls.py`` hold these lines). It makes requests with Django's test client,
prints what came back and exits.
"""

from __future__ import annotations

import io
import re
import time
from html import unescape
from typing import Any
from urllib.parse import urlencode

import django
from django.conf import settings

settings.configure(
    DEBUG=False,
    SECRET_KEY="change-me: a long random value from your configuration",
    ROOT_URLCONF=__name__,
    ALLOWED_HOSTS=["testserver", "localhost"],
    MIDDLEWARE=["django.contrib.sessions.middleware.SessionMiddleware"],
    INSTALLED_APPS=["django.contrib.sessions"],
    SESSION_ENGINE="django.contrib.sessions.backends.signed_cookies",
    USE_TZ=True,
)
django.setup()

from django.http import HttpRequest, HttpResponse  # noqa: E402 (after settings)
from django.test import Client  # noqa: E402
from django.urls import re_path  # noqa: E402
from django.views.decorators.csrf import csrf_exempt  # noqa: E402

from tickwork import Scheduler  # noqa: E402
from tickwork.web import Request, wsgi_app  # noqa: E402

scheduler = Scheduler(timezone="UTC")


def rebuild_search_index() -> None:
    time.sleep(0.01)


scheduler.add_job(rebuild_search_index, "cron", "15 3 * * *", id="rebuild-index")
scheduler.add_job(rebuild_search_index, "interval", seconds=0.2, id="warm-cache")


def is_admin(request: Request) -> bool:
    """The dashboard's authorize hook: the Django session's word on this request."""
    django_request: HttpRequest = request.environ["django.request"]
    return bool(django_request.session.get("is_admin"))


dashboard = wsgi_app(scheduler, allow_actions=True, authorize=is_admin)
PREFIX = "/admin/jobs"


@csrf_exempt  # the dashboard checks its own CSRF token and Origin on every action
def dashboard_view(request: HttpRequest, path: str | None = None) -> HttpResponse:
    environ: dict[str, Any] = dict(request.environ)
    environ["SCRIPT_NAME"] = request.META.get("SCRIPT_NAME", "").rstrip("/") + PREFIX
    environ["PATH_INFO"] = path or "/"
    environ["django.request"] = request
    body = request.body  # (Django may have read the input already: hand it over)
    environ["wsgi.input"], environ["CONTENT_LENGTH"] = io.BytesIO(body), str(len(body))
    answer: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]]) -> None:
        answer["status"], answer["headers"] = status, headers

    content = b"".join(dashboard(environ, start_response))
    response = HttpResponse(content, status=int(answer["status"].split()[0]))
    for name, value in answer["headers"]:
        if name.lower() == "set-cookie":
            response.cookies.load(value)  # (Django sends its cookies from here)
        else:
            response.headers[name] = value
    return response


def login(request: HttpRequest) -> HttpResponse:
    request.session["is_admin"] = True  # (a real site checks a password first)
    return HttpResponse("signed in")


urlpatterns = [
    re_path(r"^admin/jobs(?P<path>/.*)?$", dashboard_view),
    re_path(r"^login$", login),
]


def main() -> None:
    scheduler.start()
    try:
        while len(scheduler.history("warm-cache")) < 3:
            time.sleep(0.05)
        client = Client()
        page = client.get("/admin/jobs/")
        text = page.content.decode()
        rows = re.findall(r'<tr data-job="([^"]+)"', text)
        print(f"GET /admin/jobs/ -> {page.status_code}, jobs: {', '.join(rows)}")
        runs = client.get("/admin/jobs/runs", {"job": "warm-cache"})
        count = runs.content.decode().count('<tr class="run success">')
        print(f"GET /admin/jobs/runs?job=warm-cache -> {runs.status_code}, {count} successful runs")

        token = re.search(r'name="csrf" value="([^"]+)"', text)
        assert token is not None
        # (As a browser sends the dashboard's forms: urlencoded, with an Origin.)
        form = urlencode({"job_id": "rebuild-index", "csrf": token[1], "next": "job"})
        kind, origin = "application/x-www-form-urlencoded", "http://testserver"
        refused = client.post("/admin/jobs/actions/pause", form, kind, HTTP_ORIGIN=origin)
        reason = re.search(r'class="problem">([^<]+)', refused.content.decode())
        print(f"POST pause as a visitor -> {refused.status_code}: {reason and unescape(reason[1])}")
        client.get("/login")
        done = client.post("/admin/jobs/actions/pause", form, kind, HTTP_ORIGIN=origin)
        print(f"POST pause as an admin -> {done.status_code} to {done.headers['Location']}")
        forged = client.post(
            "/admin/jobs/actions/remove", form, kind, HTTP_ORIGIN="https://evil.example"
        )
        found = re.search(r'class="problem">([^<]+)', forged.content.decode())
        reason = found and unescape(found[1])
        print(f"POST remove from another origin -> {forged.status_code}: {reason}")
        job = scheduler.get_job("rebuild-index")
        print(f"rebuild-index there: {job is not None}, paused: {job is not None and job.paused}")
    finally:
        scheduler.shutdown()


if __name__ == "__main__":
    main()
