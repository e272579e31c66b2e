"""The dashboard of a job store that another process's scheduler runs: SQLite and
PostgreSQL. The "other process" is a scheduler on its own store object over the same
file or schema, stepped on a fake clock; the dashboard reads through a second store
object, and its actions (through ``tickwork._control``) reach the scheduler."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from tickwork import Scheduler
from tickwork.executors import InlineExecutor
from tickwork.stores import JobStore, PostgresStore, SQLiteStore
from tickwork.testing import FakeClock, run_until
from tickwork.web import Request

from .. import control_jobs, pg
from .client import csrf_token
from .conftest import EVIL, START, Maker

pg_tables = pg.pg_tables  # (a schema of the test's own with tickwork's tables, emptied)
PING = "tests.control_jobs:ping"
FAIL = "tests.web.test_stores:fail"


def fail() -> None:
    raise ValueError("no <route> to host")


def allow(request: Request) -> bool:
    return True


@pytest.fixture(params=["sqlite", "postgres"])
def stores(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[JobStore, JobStore]]:
    """Two store objects over one file or schema: the scheduler's, and the dashboard's."""
    if request.param == "sqlite":
        path = tmp_path / "jobs.db"
        made: list[JobStore] = [SQLiteStore(path), SQLiteStore(path)]
    else:
        schema = request.getfixturevalue("pg_tables")
        made = [PostgresStore(pg.dsn(), schema=schema, notify=False) for _ in range(2)]
    yield made[0], made[1]
    for store in made:
        store.close()


@pytest.fixture
def running(
    stores: tuple[JobStore, JobStore], clock: FakeClock
) -> Iterator[tuple[Scheduler, JobStore]]:
    mine, theirs = stores
    scheduler = Scheduler(
        store=mine, clock=clock, executors={"default": InlineExecutor()}, timezone="UTC"
    )
    scheduler.add_job(PING, "interval", minutes=1, id="ping")
    scheduler.add_job(FAIL, "interval", minutes=1, id=EVIL)
    scheduler.add_job(PING, "cron", "30 2 * * *", id="nightly", timezone="Europe/Berlin")
    scheduler.open()
    run_until(scheduler, START + timedelta(minutes=3))
    yield scheduler, theirs
    scheduler.shutdown()


def test_pages_and_actions_on_a_store_another_scheduler_runs(
    make_client: Maker, running: tuple[Scheduler, JobStore], clock: FakeClock
) -> None:
    scheduler, store = running
    client = make_client(store, base="/tw", allow_actions=True, authorize=allow, clock=clock)

    jobs = client.get("/")
    assert jobs.status == 200, jobs.text
    assert re.findall(r'<tr data-job="([^"]*)"', jobs.text)[-1] == "nightly"
    assert re.search(r'data-chart="outcomes" data-runs="6"', jobs.text)  # 3 pings, 3 fails
    assert "&lt;script&gt;" in jobs.text
    assert "<script>alert" not in jobs.text
    nightly = client.get("/job", "id=nightly")
    assert "2024-03-31 03:00:00 +02:00 CEST" in nightly.text
    assert "wall times 02:00-03:00 did not exist" in nightly.text
    failing = client.get("/runs", "outcome=failure")
    assert failing.text.count('<tr class="run failure">') == 3
    assert "ValueError: no &lt;route&gt; to host" in failing.text
    processes = client.get("/processes")
    assert processes.text.count("<tr data-process=") == 1  # the scheduler; not the dashboard

    token = csrf_token(jobs.text)
    assert client.post("/actions/pause", {"job_id": "ping", "csrf": token}).status == 303
    assert store.get_job("ping").paused
    control_jobs.RUNS.clear()
    run_until(scheduler, clock.now() + timedelta(minutes=2))  # the scheduler takes it in
    assert [job_id for job_id, _ in control_jobs.RUNS] == []
    assert "paused" in client.get("/job", "id=ping").text

    assert client.post("/actions/resume", {"job_id": "ping", "csrf": token}).status == 303
    assert not store.get_job("ping").paused
    assert client.post("/actions/run", {"job_id": "nightly", "csrf": token}).status == 303
    # The scheduler learns of the change when it next syncs (every poll_interval, 5 s).
    run_until(scheduler, clock.now() + timedelta(seconds=6))
    assert "nightly" in [job_id for job_id, _ in control_jobs.RUNS]

    failures = len(store.history(EVIL))
    assert failures == 5  # 23:01 to 23:05: it ran on while "ping" was paused
    assert client.post("/actions/remove", {"job_id": EVIL, "csrf": token}).status == 303
    run_until(scheduler, clock.now() + timedelta(seconds=6))
    assert EVIL not in [job.id for job in scheduler.get_jobs()]
    assert client.get("/job", "id=" + _quoted(EVIL)).status == 404
    # Its history outlives it: the runs page still lists its failures.
    runs = client.get("/runs", "outcome=failure")
    assert runs.text.count('<tr class="run failure">') == failures


def test_a_store_job_reads_late_by_the_dashboards_clock(
    make_client: Maker, running: tuple[Scheduler, JobStore], clock: FakeClock
) -> None:
    _, store = running
    clock.advance(150)  # the scheduler is not stepped: its fires pass
    page = make_client(store, clock=clock).get("/", "state=late")
    late = re.findall(r'<tr data-job="([^"]*)"', page.text)
    assert sorted(late) == sorted(
        ["ping", "&lt;script&gt;alert(1)&lt;/script&gt;&quot;&#x27;&amp;/?x=1"]
    )
    assert "late 1 min 30 s" in page.text  # due at 23:04, now 23:05:30


def _quoted(text: str) -> str:
    from urllib.parse import quote

    return quote(text, safe="")
