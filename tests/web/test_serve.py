"""serve(): a threaded wsgiref server on a free port that prints its URL and stops when
told (Ctrl-C in a terminal; ``shutdown()`` here)."""

from __future__ import annotations

import io
import re
import threading
import urllib.error
import urllib.request

import pytest

from tickwork import Scheduler
from tickwork.web import DashboardServer, serve


def test_serve_prints_its_url_answers_and_stops(ran: Scheduler) -> None:
    out = io.StringIO()
    started = threading.Event()
    servers: list[DashboardServer] = []

    def ready(server: DashboardServer) -> None:
        servers.append(server)
        started.set()

    thread = threading.Thread(
        target=serve, args=(ran,), kwargs={"port": 0, "ready": ready, "out": out}, daemon=True
    )
    thread.start()
    assert started.wait(5)
    url = servers[0].url
    assert url.startswith("http://127.0.0.1:")
    assert url in out.getvalue()
    with urllib.request.urlopen(url + "job?id=nightly", timeout=5) as response:
        assert response.status == 200
        assert b"At 02:30" in response.read()
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(urllib.request.Request(url + "actions/pause", data=b"job_id=x"))
    assert refused.value.code == 403  # read-only
    refused.value.close()
    servers[0].shutdown()
    thread.join(5)
    assert not thread.is_alive()


def test_serve_checks_its_arguments(ran: Scheduler) -> None:
    with pytest.raises(TypeError, match="SQLiteStore"):
        serve("jobs.db")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="port"):
        serve(ran, port=70_000)
    with pytest.raises(ValueError, match="authorize"):
        serve(ran, host="0.0.0.0", port=0, allow_actions=True)  # not loopback: no rule


def test_serve_on_loopback_allows_this_machines_actions_without_authorize(
    ran: Scheduler,
) -> None:
    started = threading.Event()
    servers: list[DashboardServer] = []

    def ready(server: DashboardServer) -> None:
        servers.append(server)
        started.set()

    thread = threading.Thread(
        target=serve,
        args=(ran,),
        kwargs={"port": 0, "ready": ready, "out": io.StringIO(), "allow_actions": True},
        daemon=True,
    )
    thread.start()
    assert started.wait(5)
    url = servers[0].url
    try:
        with urllib.request.urlopen(url + "job?id=nightly", timeout=5) as response:
            cookie = response.headers["Set-Cookie"].split(";")[0]
            page = response.read().decode()
        token = re.search(r'name="csrf" value="([^"]+)"', page)
        assert token is not None
        request = urllib.request.Request(
            url + "actions/pause",
            data=f"job_id=nightly&csrf={token[1]}".encode(),
            headers={"Cookie": cookie, "Origin": url.rstrip("/")},
        )
        opener = urllib.request.build_opener(_NoRedirect)  # (the 303 itself, not its GET)
        with pytest.raises(urllib.error.HTTPError) as redirected:
            opener.open(request, timeout=5)
        assert redirected.value.code == 303
        redirected.value.close()
        job = ran.get_job("nightly")
        assert job is not None
        assert job.paused
    finally:
        servers[0].shutdown()
        thread.join(5)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


def test_serve_on_loopback_refuses_a_rebound_host_name(ran: Scheduler) -> None:
    import http.client

    started = threading.Event()
    servers: list[DashboardServer] = []

    def ready(server: DashboardServer) -> None:
        servers.append(server)
        started.set()

    kwargs = {"port": 0, "ready": ready, "out": io.StringIO()}
    thread = threading.Thread(target=serve, args=(ran,), kwargs=kwargs, daemon=True)
    thread.start()
    assert started.wait(5)
    port = servers[0].server_address[1]
    try:
        statuses = {}
        for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"evil.example:{port}"):
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            connection.request("GET", "/", headers={"Host": host})
            statuses[host.split(":")[0]] = connection.getresponse().status
            connection.close()
        assert statuses == {"127.0.0.1": 200, "localhost": 200, "evil.example": 403}
    finally:
        servers[0].shutdown()
        thread.join(5)
