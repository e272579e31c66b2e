"""The dashboard's pages against a live Scheduler on a fake clock (WSGI and ASGI): what
each shows, its filters and paging, its errors, its mount prefix, and its updates."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

import pytest

from tickwork import Job, Scheduler, StoreError
from tickwork.executors import InlineExecutor
from tickwork.stores import MemoryStore
from tickwork.testing import FakeClock, run_until
from tickwork.triggers import CronTrigger, IntervalTrigger
from tickwork.web import wsgi_app

from .client import Client, urls
from .conftest import EVIL, START, Maker, fine


def _row(html: str, job_id: str) -> str:
    from html import escape

    match = re.search(rf'<tr data-job="{re.escape(escape(job_id))}".*?</tr>', html, re.S)
    assert match is not None, f"no row for {job_id!r}"
    return match.group(0)


def _runs_in(html: str, chart: str) -> int:
    match = re.search(rf'data-chart="{chart}" data-runs="(\d+)"', html)
    assert match is not None
    return int(match.group(1))


def test_the_jobs_page_shows_schedule_next_and_last_run_and_state(
    make_client: Maker, ran: Scheduler, clock: FakeClock
) -> None:
    ran.pause_job("with-args", note="until Monday")
    clock.advance(90)  # no step: the interval job's 23:06 fire is now 30 s overdue
    page = make_client(ran).get("/")
    assert page.status == 200
    nightly = _row(page.text, "nightly")
    assert "At 02:30" in nightly  # the cron trigger's explain()
    assert "2024-03-31 03:00:00 +02:00 CEST" in nightly  # 02:30 does not exist that night
    assert "none recorded" in nightly
    assert "scheduled" in nightly
    evil = _row(page.text, EVIL)
    assert "Every 1 minute" in evil
    assert "badge failure" in evil  # its last run failed...
    assert "late 30 s" in evil  # ...and its next fire is overdue
    assert "5 failed in a row" in evil
    paused = _row(page.text, "with-args")
    assert "paused" in paused
    assert "until Monday" in paused
    assert _runs_in(page.text, "outcomes") == 5
    assert _runs_in(page.text, "durations") == 5
    assert re.search(r"<b>1</b> late", page.text)
    assert re.search(r"<b>1</b> paused", page.text)
    assert re.search(r"<b>3</b> all", page.text)


def test_a_last_hour_chart_that_the_runs_read_do_not_cover_says_so(
    make_client: Maker, ran: Scheduler, monkeypatch: pytest.MonkeyPatch
) -> None:
    # It read the newest 2,000 runs and drew the rest of the hour as empty: 3,000 runs
    # in the hour showed as 2,000, the first 16 minutes blank, in a probe.
    from tickwork.web import _pages

    whole = make_client(ran).get("/")
    assert "runs only" not in whole.text
    monkeypatch.setattr(_pages, "RECENT_RUNS", 3)
    monkeypatch.setattr(_pages, "JOB_RUNS", 2)
    cut = make_client(ran).get("/")
    assert re.search(r"the newest 3 runs only, since \d\d:\d\d", cut.text)
    assert _runs_in(cut.text, "outcomes") == 3
    job = make_client(ran).get("/job", f"id={quote(EVIL, safe='')}")
    assert re.search(r"the newest 2 runs only, since \d\d:\d\d", job.text)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("state=late", [EVIL]),
        ("state=paused", ["with-args"]),
        ("state=scheduled", ["nightly"]),
        ("q=NIGHT", ["nightly"]),
        ("q=ARGS&state=paused", ["with-args"]),
        ("q=nope", []),
        # By next fire time: EVIL at 23:06 UTC, with-args at 00:00, nightly at 01:00.
        ("per_page=2", [EVIL, "with-args"]),
        ("per_page=2&page=2", ["nightly"]),
    ],
)
def test_the_jobs_page_filters_and_pages(
    make_client: Maker, ran: Scheduler, clock: FakeClock, query: str, expected: list[str]
) -> None:
    ran.pause_job("with-args")
    clock.advance(90)
    page = make_client(ran).get("/", query)
    assert page.status == 200, page.text
    from html import unescape

    shown = [unescape(job_id) for job_id in re.findall(r'<tr data-job="([^"]*)"', page.text)]
    assert sorted(shown) == sorted(expected)


@pytest.mark.parametrize(
    ("path", "query", "named"),
    [
        ("/", "page=abc", "'page'"),
        ("/", "page=0", "'page'"),
        ("/", "per_page=5000", "'per_page'"),
        ("/", "state=bogus", "'state'"),
        ("/", "colour=red", "'colour'"),
        ("/", "q=a&q=b", "'q'"),
        ("/runs", "outcome=exploded", "'outcome'"),
        ("/runs", "page=-1", "'page'"),
        ("/runs", "page=201", "'page'"),
        ("/", "page=%C2%B2", "'page'"),  # a digit to str.isdigit, not to int
        ("/runs", "page=%C2%B2", "'page'"),
        ("/job", "", "'id'"),
        ("/job", "id=nightly&x=1", "'x'"),
        ("/processes", "all=1", "'all'"),
    ],
)
def test_bad_query_parameters_get_a_400_naming_them(
    make_client: Maker, ran: Scheduler, path: str, query: str, named: str
) -> None:
    answer = make_client(ran).get(path, query)
    assert answer.status == 400
    assert named.replace("'", "&#x27;") in answer.text


def test_an_unknown_job_or_page_is_a_404(make_client: Maker, ran: Scheduler) -> None:
    client = make_client(ran)
    missing = client.get("/job", "id=ghost")
    assert missing.status == 404
    assert "ghost" in missing.text
    assert client.get("/nowhere").status == 404
    assert client.get("/static/nothing.js").status == 404


class FailingStore(MemoryStore):
    def get_jobs(self) -> list[Job]:
        raise StoreError("database is locked (for the test)")

    def get_job(self, job_id: str) -> Job:
        raise StoreError("database is locked (for the test)")


def test_a_failing_store_is_a_503_with_its_message(make_client: Maker) -> None:
    client = make_client(FailingStore())
    for path, query in [("/", ""), ("/job", "id=x")]:
        answer = client.get(path, query)
        assert answer.status == 503
        assert "database is locked (for the test)" in answer.text


def test_the_job_page_shows_runs_tracebacks_and_next_fires(
    make_client: Maker, scheduler: Scheduler, clock: FakeClock
) -> None:
    client = make_client(scheduler)  # built first: it keeps the tracebacks from now on
    run_until(scheduler, clock.now() + timedelta(minutes=3))
    from urllib.parse import quote

    page = client.get("/job", "id=" + quote(EVIL, safe=""))
    assert page.status == 200
    assert page.text.count('<tr class="run failure">') == 3
    assert page.text.count("<details><summary>traceback</summary>") == 3
    assert "in fail_loudly" in page.text
    assert "RuntimeError: disk &lt;full&gt;" in page.text
    assert page.text.count('class="cell failure"') == 3  # the timeline strip
    nightly = client.get("/job", "id=nightly")
    fires = re.findall(r"<tr><td>([^<]*)</td>", nightly.text)
    assert fires[:2] == ["2024-03-31 03:00:00 +02:00 CEST", "2024-04-01 02:30:00 +02:00 CEST"]
    assert "+01:00 → +02:00" in nightly.text
    assert "wall times 02:00-03:00 did not exist" in nightly.text
    # (Shown for any trigger with previous_before: CronTrigger has it once issue 13's
    # trigger work is merged.)
    has_it = callable(getattr(CronTrigger, "previous_before", None))
    assert ("Last expected run" in nightly.text) is has_it


class WithPrevious(IntervalTrigger):
    """An interval trigger that also answers ``previous_before`` (as triggers do once
    issue 13's helper adds it): the dashboard uses it when present."""

    def previous_before(self, moment: datetime) -> datetime | None:
        return moment.replace(second=0, microsecond=0)


def test_the_job_page_shows_the_last_expected_run_when_the_trigger_knows_it(
    make_client: Maker, clock: FakeClock
) -> None:
    scheduler = Scheduler(clock=clock, executors={"default": InlineExecutor()}, timezone="UTC")
    trigger = WithPrevious(minutes=1, start=START, timezone="UTC")
    scheduler.add_job(fine, trigger, id="minutely")
    scheduler.open()
    try:
        run_until(scheduler, clock.now() + timedelta(minutes=2, seconds=30))
        page = make_client(scheduler).get("/job", "id=minutely")
        assert "Last expected run: <b>2024-03-30 23:02:00 UTC</b>" in page.text
        assert "badge success" in page.text.split("Last expected run")[1].split("</p>")[0]
    finally:
        scheduler.shutdown()


def test_the_runs_page_filters_by_job_and_outcome_and_pages(
    make_client: Maker, scheduler: Scheduler, clock: FakeClock
) -> None:
    scheduler.add_job(fine, "interval", seconds=30, id="often")
    run_until(scheduler, clock.now() + timedelta(minutes=30))  # 30 failures, 60 successes
    client = make_client(scheduler)

    def rows(query: str) -> list[str]:
        page = client.get("/runs", query)
        assert page.status == 200, page.text
        return re.findall(r'<tr class="run (\w+)">', page.text)

    assert len(rows("")) == 50
    assert len(rows("page=2")) == 40
    assert rows("page=3") == []
    assert rows("outcome=failure") == ["failure"] * 30
    assert rows("job=often") == ["success"] * 50
    assert rows("job=often&page=2") == ["success"] * 10
    assert rows("job=often&outcome=failure") == []
    first = client.get("/runs")
    assert 'rel="next"' in first.text
    assert 'rel="prev"' not in first.text
    assert 'rel="prev"' in client.get("/runs", "page=2").text


@pytest.mark.parametrize("base", ["/ops/tickwork", "/x", "/my dashboard"])
def test_every_link_and_form_starts_with_the_mount_prefix(
    make_client: Maker, ran: Scheduler, base: str
) -> None:
    def allow(request: Any) -> bool:
        return True

    client = make_client(ran, base=base, allow_actions=True, authorize=allow)
    for path, query in [
        ("/", ""),
        ("/job", "id=nightly"),
        ("/runs", ""),
        ("/processes", ""),
        ("/job", "id=ghost"),
    ]:
        page = client.get(path, query)
        found = urls(page.text)
        assert found
        prefix = quote(base) + "/"  # (the server gave the prefix decoded)
        assert all(url.startswith(prefix) for url in found), found
        for url in found:
            if "/static/" in url:
                assert client.get(url[len(prefix) - 1 :]).status == 200


def test_asgi_takes_the_path_under_root_path_either_way(ran: Scheduler) -> None:
    from tickwork.web import asgi_app

    app = asgi_app(ran)
    for full in (True, False):
        client = Client(app, base="/mounted", asgi=True, full_path=full)
        page = client.get("/job", "id=nightly")
        assert page.status == 200
        assert 'href="/mounted/runs"' in page.text


def test_a_fragment_request_gets_the_live_part_alone(make_client: Maker, ran: Scheduler) -> None:
    client = make_client(ran)
    whole = client.get("/")
    part = client.get("/", headers={"X-Tickwork-Fragment": "1"})
    assert whole.text.startswith("<!doctype html>")
    assert 'data-refresh="5"' in whole.text
    assert "<html" not in part.text
    assert part.text.startswith('<section class="summary">')
    assert whole.text.split('<main id="live">')[1] == part.text + "</main></body></html>"


def test_refresh_can_be_turned_off(make_client: Maker, ran: Scheduler) -> None:
    assert 'data-refresh="0"' in make_client(ran, refresh=0).get("/").text
    with pytest.raises(ValueError, match="refresh"):
        wsgi_app(ran, refresh=-1)


def test_a_title_that_is_not_a_str_is_refused(make_client: Maker, ran: Scheduler) -> None:
    # It was taken as str(title): title=None rendered "None" in the header.
    for title in (None, 42, b"ops"):
        with pytest.raises(TypeError, match=f"title must be a str, got {re.escape(repr(title))}"):
            wsgi_app(ran, title=title)  # type: ignore[arg-type]
    assert "<title>Jobs · Ops</title>" in make_client(ran, title="Ops").get("/").text


def test_static_files_and_head(make_client: Maker, ran: Scheduler) -> None:
    client = make_client(ran)
    script = client.get("/static/dashboard.js")
    assert script.status == 200
    assert (script.header("content-type") or "").startswith("text/javascript")
    assert "X-Tickwork-Fragment" in script.text
    style = client.get("/static/dashboard.css")
    assert (style.header("content-type") or "").startswith("text/css")
    head = client.request("HEAD", "/")
    assert head.status == 200
    assert head.body == b""


def test_the_processes_page_lists_the_stores_processes(make_client: Maker, ran: Scheduler) -> None:
    import os

    page = make_client(ran).get("/processes")
    assert page.status == 200
    rows = re.findall(r'<tr data-process="([^"]*)">(.*?)</tr>', page.text, re.S)
    assert len(rows) == 1  # a MemoryStore lists the one process it lives in
    assert f"<td>{os.getpid()}</td>" in rows[0][1]
    assert "badge success" in rows[0][1]  # alive


class Plain(MemoryStore):
    """A store without a process listing (the optional part of the seam)."""

    processes = None  # type: ignore[assignment]


def test_a_store_without_a_process_listing_says_so(make_client: Maker) -> None:
    page = make_client(Plain()).get("/processes")
    assert page.status == 200
    assert "not available for this store" in page.text


def test_a_broken_job_shows_its_reason(make_client: Maker, ran: Scheduler) -> None:
    ran.store.mark_broken("nightly", "module 'gone' has no attribute <job>")
    client = make_client(ran)
    row = _row(client.get("/").text, "nightly")
    assert "broken" in row
    assert "&lt;job&gt;" in row
    listed = client.get("/", "state=broken").text
    assert re.findall(r'<tr data-job="([^"]*)"', listed) == ["nightly"]


def test_a_job_started_by_events_or_upstreams_is_never_shown_finished(
    make_client: Maker, ran: Scheduler
) -> None:
    from tickwork import EventTrigger

    ran.add_job(fine, EventTrigger("order.created"), id="on-event")
    ran.add_job(fine, after="nightly", id="downstream")
    client = make_client(ran)
    for job_id, next_text in (("on-event", "on its events"), ("downstream", "after its")):
        row = _row(client.get("/").text, job_id)
        assert "no more fire times" not in row
        assert next_text in row
    finished = client.get("/", "state=finished").text
    assert re.findall(r'<tr data-job="([^"]*)"', finished) == []


def test_the_asgi_app_acknowledges_lifespan_and_closes_websockets(ran: Scheduler) -> None:
    import asyncio

    from tickwork.web import asgi_app

    app = asgi_app(ran)

    async def lifespan() -> list[dict[str, Any]]:
        queue: list[dict[str, Any]] = [
            {"type": "lifespan.startup"},
            {"type": "lifespan.shutdown"},
        ]
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return queue.pop(0)

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        await app({"type": "lifespan", "asgi": {"version": "3.0"}}, receive, send)
        await app({"type": "websocket", "path": "/"}, receive, send)
        return sent

    sent = asyncio.run(lifespan())
    assert [m["type"] for m in sent] == [
        "lifespan.startup.complete",
        "lifespan.shutdown.complete",
        "websocket.close",
    ]


def test_the_fixture_jobs_come_in_the_order_the_paging_test_says(ran: Scheduler) -> None:
    assert [job.id for job in ran.get_jobs()] == [EVIL, "with-args", "nightly"]


def test_an_async_scheduler_on_its_loop_served_by_the_asgi_app(clock: FakeClock) -> None:
    import asyncio

    from tickwork import AsyncScheduler
    from tickwork.web import asgi_app

    from .client import call_asgi, csrf_token

    async def scenario() -> tuple[list[int], bool, str]:
        ran = asyncio.Event()

        async def tick() -> None:
            ran.set()

        scheduler = AsyncScheduler(clock=clock, timezone="UTC")
        await scheduler.add_job(tick, "interval", seconds=10, id="tick")
        app = asgi_app(scheduler, allow_actions=True, authorize=lambda request: True)
        async with scheduler:
            clock.advance(10)
            await asyncio.wait_for(ran.wait(), 5)
            for _ in range(100):  # the run is recorded once the loop takes its result in
                if await scheduler.history("tick"):
                    break
                await asyncio.sleep(0.01)
            statuses = []
            answers = []
            for path, query in [("/", ""), ("/job", "id=tick"), ("/runs", "job=tick")]:
                answer = await call_asgi(app, client_scope(path, query), b"")
                statuses.append(answer.status)
                answers.append(answer)
            page = answers[1]
            cookie = (page.header("set-cookie") or "").split(";")[0]
            form = f"job_id=tick&csrf={csrf_token(page.text)}".encode()
            scope = client_scope("/actions/pause", "", method="POST")
            scope["headers"] += [
                (b"cookie", cookie.encode()),
                (b"origin", b"http://dash.test"),
                (b"content-type", b"application/x-www-form-urlencoded"),
            ]
            done = await call_asgi(app, scope, form)
            statuses.append(done.status)
            job = await scheduler.get_job("tick")
            return statuses, job is not None and job.paused, answers[2].text

    statuses, paused, runs = asyncio.run(scenario())
    assert statuses == [200, 200, 200, 303]
    assert paused
    assert runs.count('<tr class="run success">') == 1


def client_scope(path: str, query: str, method: str = "GET") -> dict[str, Any]:
    return {
        "type": "http",
        "method": method,
        "scheme": "http",
        "path": path,
        "root_path": "",
        "query_string": query.encode(),
        "headers": [(b"host", b"dash.test")],
        "client": ("127.0.0.1", 5000),
    }


class Fragile(IntervalTrigger):
    """An interval trigger that starts failing when told (a user's trigger with a bug)."""

    broken = False

    def next_after(self, moment: datetime) -> datetime | None:
        if Fragile.broken:
            raise ValueError("no next time <today>")
        return super().next_after(moment)


def test_a_trigger_that_raises_leaves_the_job_page_standing(
    make_client: Maker, clock: FakeClock
) -> None:
    scheduler = Scheduler(clock=clock, executors={"default": InlineExecutor()}, timezone="UTC")
    scheduler.add_job(fine, Fragile(minutes=1, start=START, timezone="UTC"), id="fragile")
    scheduler.open()
    try:
        Fragile.broken = True
        page = make_client(scheduler).get("/job", "id=fragile")
        assert page.status == 200
        assert "the trigger failed" in page.text
        assert "no next time &lt;today&gt;" in page.text
    finally:
        Fragile.broken = False
        scheduler.shutdown()


class BuggyStore(MemoryStore):
    def get_jobs(self) -> list[Job]:
        raise RuntimeError("a bug <in a store>")


def test_an_unexpected_error_is_a_500_naming_its_type_only(make_client: Maker) -> None:
    answer = make_client(BuggyStore()).get("/")
    assert answer.status == 500
    assert "RuntimeError" in answer.text
    assert "a bug" not in answer.text  # the message and traceback go to the log only


def test_a_workers_failure_shows_the_workers_traceback(clock: FakeClock) -> None:
    # A failure from a task queue's worker came back a RemoteJobError, never raised
    # here: the page showed its one line, with no frame of the worker's.
    from tickwork import Event, EventKind
    from tickwork._errors import RemoteJobError
    from tickwork._model import Outcome, Run
    from tickwork.web._source import LiveSource

    scheduler = Scheduler(clock=clock, timezone="UTC")
    source = LiveSource(scheduler, None)
    remote = (
        'Traceback (most recent call last):\n  File "/srv/jobs.py", line 9, in sync\n'
        "ValueError: boom\n"
    )
    error = RemoteJobError("job 'sync' raised builtins.ValueError on a worker: boom",
                           "builtins.ValueError", remote)  # fmt: skip
    at = clock.now()
    scheduler.engine.emit([Event(kind=EventKind.JOB_FAILED, at=at, job_id="sync",
                                 scheduled_at=at, attempt=1, exception=error)])  # fmt: skip
    run = Run(job_id="sync", scheduled_at=at, attempt=1, outcome=Outcome.FAILURE)
    assert source.traceback(run) == remote
    scheduler.shutdown()
