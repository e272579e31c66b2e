"""Store-level job actions (tickwork._control): pause, resume, run now and remove a job
in a SQLite file or a PostgreSQL schema, as the command line and the dashboard do while
schedulers run on the same store.

The central promise: nothing a user stored is lost or altered. Each test compares the
stored row itself (every column) before and after, so a value that decoding and
encoding would change (arguments, options, the trigger, a pickle) shows.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tickwork import Catchup, Job, JobLookupError, Overlap, RetryPolicy, Scheduler
from tickwork._control import pause_job, remove_job, resume_job, run_job_now
from tickwork._instants import epoch_us
from tickwork._model import evolve
from tickwork._references import references_as_text, stand_in
from tickwork.stores import JobStore, PostgresStore, SQLiteStore
from tickwork.triggers import CronTrigger, DateTrigger, IntervalTrigger

from . import control_jobs, pg

pg_tables = pg.pg_tables  # (a schema of the test's own with tickwork's tables, emptied)

BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2024, 3, 30, 12, 1, tzinfo=timezone.utc)  # the eve of Berlin's DST change
NEXT = datetime(2024, 3, 30, 13, 15, tzinfo=BERLIN)  # 12:15 UTC: the job's next quarter


class Backend:
    """A store of one kind, and its rows read raw (every column but the change stamp)."""

    def __init__(self, kind: str, where: str) -> None:
        self.kind = kind
        self.where = where
        self._stores: list[JobStore] = []

    def store(self, *, pickle: bool = False) -> JobStore:
        store: JobStore
        if self.kind == "sqlite":
            store = SQLiteStore(self.where, pickle=pickle, poll_interval=0.05)
        else:
            store = PostgresStore(pg.dsn(), schema=self.where, pickle=pickle, poll_interval=0.05)
        self._stores.append(store)
        return store

    def raw(self, job_id: str) -> dict[str, Any] | None:
        if self.kind == "sqlite":
            conn = sqlite3.connect(self.where)
            conn.row_factory = sqlite3.Row
            try:
                row = conn.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
            finally:
                conn.close()
            if row is None:
                return None
            data = dict(row)
            data.pop("seq")
            data["options"] = json.loads(data["options"])
            return data
        import psycopg

        with psycopg.connect(pg.dsn(), autocommit=True) as conn:
            found = conn.execute(
                f"SELECT to_jsonb(j) - 'xid' FROM \"{self.where}\".jobs j WHERE id = %s",
                (job_id,),
            ).fetchone()
        return None if found is None else dict(found[0])

    def close(self) -> None:
        for store in self._stores:
            store.close()


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    if request.param == "sqlite":
        made = Backend("sqlite", str(tmp_path / "jobs.db"))
    else:
        made = Backend("postgres", request.getfixturevalue("pg_tables"))
    yield made
    made.close()


def rich_job(*, pickled: bool = False, **changes: Any) -> Job:
    """A job with every field set away from its default, naming a module that does not
    exist (reading it must import nothing)."""
    args: list[Any] = [1, "two", [3, {"four": 4.5}], None]
    kwargs: dict[str, Any] = {"zeta": 1, "alpha": [True, None], "é": "ü"}
    if pickled:  # values JSON cannot hold
        args += [datetime(2024, 1, 1, tzinfo=timezone.utc), (1, 2), frozenset({1, 2})]
        kwargs["amount"] = Decimal("1.10")
    fields: dict[str, Any] = {
        "id": "rich",
        "name": "the rich one",
        "func": None,
        "func_ref": "no_such_package.jobs:handle",
        "args": tuple(args),
        "kwargs": kwargs,
        "trigger": CronTrigger("*/15 * * * *", timezone="Europe/Berlin"),
        "executor": "processes",
        "tags": frozenset({"billing", "eu"}),
        "start": datetime(2024, 1, 1, tzinfo=timezone.utc),
        "end": datetime(2030, 1, 1, tzinfo=timezone.utc),
        "misfire_grace_time": timedelta(seconds=30),
        "catchup": Catchup.ALL,
        "max_catchup": 7,
        "overlap": Overlap.BUFFER_ONE,
        "max_instances": 3,
        "jitter": timedelta(seconds=2),
        "retry": RetryPolicy(attempts=4, delay=2, retry_on=(control_jobs.Oops, TimeoutError)),
        "timeout": 12.5,
        "max_consecutive_failures": 5,
        "remaining_runs": 9,
        "next_fire": NEXT,
        "consecutive_failures": 2,
    }
    fields.update(changes)
    return Job(**fields)


def without(row: dict[str, Any] | None, *names: str) -> dict[str, Any]:
    assert row is not None
    return {key: value for key, value in row.items() if key not in names}


def test_pause_changes_the_pause_alone(backend: Backend) -> None:
    backend.store().add_job(rich_job())
    before = backend.raw("rich")
    job = pause_job(backend.store(), "rich", now=NOW, note="db upgrade")
    after = backend.raw("rich")
    assert after is not None
    assert before is not None
    assert after["paused"] in (1, True)
    assert after["options"] == {**before["options"], "pause_note": "db upgrade"}
    assert without(after, "paused", "options") == without(before, "paused", "options")
    # The job returned was read without importing: its retry types are stand-ins that
    # keep the references the store holds.
    expected = rich_job(paused=True, pause_note="db upgrade")
    assert job.retry is not None
    assert expected.retry is not None
    assert job.retry.to_dict() == expected.retry.to_dict()
    assert evolve(job, retry=expected.retry) == expected
    # Read back by a store that imports (the retry_on type is the real class again).
    assert backend.store().get_job("rich") == rich_job(paused=True, pause_note="db upgrade")


def test_a_retry_type_that_does_not_import_here_is_kept_as_text(backend: Backend) -> None:
    """The command line may not have the job's code: a retry type it cannot import is
    kept as the reference the store holds."""
    with references_as_text():
        policy = RetryPolicy(attempts=2, retry_on=(stand_in("no_such_package.errors:Boom"),))
        backend.store().add_job(rich_job(retry=policy))
    before = backend.raw("rich")
    assert before is not None
    pause_job(backend.store(), "rich", now=NOW, note="n")
    resume_job(backend.store(), "rich", now=NOW)
    run_job_now(backend.store(), "rich", now=NOW)
    after = backend.raw("rich")
    assert after is not None
    assert after["options"] == before["options"]
    assert after["options"]["retry"]["retry_on"] == ["no_such_package.errors:Boom"]


@pytest.mark.parametrize("action", ["pause-resume", "run-now"])
def test_pickled_arguments_survive_byte_for_byte(backend: Backend, action: str) -> None:
    backend.store(pickle=True).add_job(rich_job(pickled=True))
    before = backend.raw("rich")
    store = backend.store(pickle=True)
    if action == "run-now":
        run_job_now(store, "rich", now=NOW)
        changed: tuple[str, ...] = ("next_fire_us",)
    else:
        pause_job(store, "rich", now=NOW, note="x")
        resume_job(store, "rich", now=NOW + timedelta(hours=1))
        changed = ("next_fire_us", "consecutive_failures")
    assert without(backend.raw("rich"), *changed) == without(before, *changed)
    assert backend.store(pickle=True).get_job("rich").args == rich_job(pickled=True).args


def test_pickled_arguments_are_refused_by_a_store_without_pickle(backend: Backend) -> None:
    backend.store(pickle=True).add_job(rich_job(pickled=True))
    before = backend.raw("rich")
    for action in (
        lambda store: pause_job(store, "rich", now=NOW),
        lambda store: resume_job(store, "rich", now=NOW),
        lambda store: run_job_now(store, "rich", now=NOW),
    ):
        with pytest.raises(JobLookupError, match=r"'rich'.*pickle=True"):
            action(backend.store())
        # Not even the broken mark that reading it made is left behind.
        assert backend.raw("rich") == before


def test_pause_then_resume_gives_back_the_job_with_a_fresh_fire(backend: Backend) -> None:
    backend.store().add_job(rich_job())
    before = backend.raw("rich")
    pause_job(backend.store(), "rich", now=NOW, note="later")
    later = NOW + timedelta(days=1, minutes=7)  # past the DST change: CEST now
    job = resume_job(backend.store(), "rich", now=later)
    first = datetime(2024, 3, 31, 14, 15, tzinfo=BERLIN)  # 12:15 UTC, the next quarter
    assert job.next_fire == first
    after = backend.raw("rich")
    assert after is not None
    assert after["next_fire_us"] == epoch_us(first)
    # As Scheduler.resume_job: the failure count starts again (else the next failure
    # could pause it at once); everything else is as stored.
    assert after["consecutive_failures"] == 0
    changed = ("next_fire_us", "consecutive_failures", "next_fire_zone")
    assert without(after, *changed) == without(before, *changed)
    assert backend.store().get_job("rich") == rich_job(next_fire=first, consecutive_failures=0)


def test_run_now_moves_the_next_fire_alone(backend: Backend) -> None:
    backend.store().add_job(rich_job())
    before = backend.raw("rich")
    job = run_job_now(backend.store(), "rich", now=NOW)
    assert job.next_fire == NOW
    assert job.next_fire.tzinfo is NEXT.tzinfo
    after = backend.raw("rich")
    assert after is not None
    assert after["next_fire_us"] == epoch_us(NOW)
    assert without(after, "next_fire_us") == without(before, "next_fire_us")
    assert backend.store().get_job("rich") == rich_job(next_fire=NOW.astimezone(BERLIN))


def test_run_now_leaves_a_due_job_and_refuses_a_paused_one(backend: Backend) -> None:
    backend.store().add_job(rich_job())
    before = backend.raw("rich")
    assert run_job_now(backend.store(), "rich", now=NEXT).next_fire == NEXT  # due at now
    assert run_job_now(backend.store(), "rich", now=NEXT + timedelta(hours=1)).next_fire == NEXT
    assert backend.raw("rich") == before
    pause_job(backend.store(), "rich", now=NOW)
    paused = backend.raw("rich")
    with pytest.raises(ValueError, match=r"'rich' is paused: resume it first"):
        run_job_now(backend.store(), "rich", now=NOW)
    assert backend.raw("rich") == paused


def test_resume_leaves_a_running_job_alone(backend: Backend) -> None:
    backend.store().add_job(rich_job())
    before = backend.raw("rich")
    assert resume_job(backend.store(), "rich", now=NOW + timedelta(hours=5)).next_fire == NEXT
    assert backend.raw("rich") == before


def test_resume_removes_a_one_off_job_whose_time_passed(backend: Backend) -> None:
    when = NOW + timedelta(minutes=5)
    backend.store().add_job(
        rich_job(trigger=DateTrigger(when), next_fire=when, paused=True, pause_note="p")
    )
    job = resume_job(backend.store(), "rich", now=NOW + timedelta(hours=1))
    assert job.next_fire is None
    assert not job.paused
    assert backend.raw("rich") is None


@pytest.mark.parametrize(
    "action",
    [
        lambda store: pause_job(store, "nope", now=NOW),
        lambda store: resume_job(store, "nope", now=NOW),
        lambda store: run_job_now(store, "nope", now=NOW),
        lambda store: remove_job(store, "nope"),
    ],
    ids=["pause", "resume", "run-now", "remove"],
)
def test_an_unknown_job_is_named(backend: Backend, action: Callable[[JobStore], object]) -> None:
    backend.store().add_job(rich_job())
    with pytest.raises(JobLookupError, match="'nope'"):
        action(backend.store())


def test_a_broken_job_is_refused_but_can_be_removed(backend: Backend) -> None:
    store = backend.store()
    store.add_job(rich_job())
    store.mark_broken("rich", "cannot import no_such_package.jobs")
    before = backend.raw("rich")
    for action in (pause_job, resume_job, run_job_now):
        with pytest.raises(JobLookupError, match=r"'rich' is stored but broken.*no_such_package"):
            action(backend.store(), "rich", now=NOW)
    assert backend.raw("rich") == before
    remove_job(backend.store(), "rich")
    assert backend.raw("rich") is None


def test_bad_arguments_are_named(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "jobs.db")
    try:
        store.add_job(rich_job())
        with pytest.raises(ValueError, match="aware"):
            pause_job(store, "rich", now=datetime(2024, 1, 1))
        with pytest.raises(TypeError, match="note must be a str"):
            pause_job(store, "rich", now=NOW, note=3)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="job_id must be a str"):
            resume_job(store, 3, now=NOW)  # type: ignore[arg-type]
    finally:
        store.close()


def test_run_now_is_fired_once_by_a_running_scheduler(backend: Backend) -> None:
    """A scheduler in another thread, on its own store object over the same file or
    schema, learns of the change, runs the job once at the moment asked, and goes on
    with the trigger's own next fire."""
    start = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(seconds=5)
    scheduler = Scheduler(store=backend.store(), timezone="UTC")
    trigger = IntervalTrigger(hours=1, start=start)
    scheduler.add_job(
        "tests.control_jobs:ping", trigger, id="hourly", misfire_grace_time=60, remaining_runs=5
    )
    scheduler.start()
    try:
        stored = backend.store().get_job("hourly")
        first = stored.next_fire
        assert first is not None
        assert first == start + timedelta(hours=1)
        control_jobs.RAN.clear()
        control_jobs.RUNS.clear()
        now = datetime.now(timezone.utc)
        run_job_now(backend.store(), "hourly", now=now)
        assert control_jobs.RAN.wait(10), "the scheduler did not run the job"
        after = backend.store().get_job("hourly")
        assert after.next_fire == first  # the trigger goes on as before
        assert after.remaining_runs == 4  # the run was a scheduled fire
    finally:
        scheduler.shutdown(wait=True, timeout=10)
    runs = [at for job_id, at in control_jobs.RUNS if job_id == "hourly"]
    assert runs == [now]
    history = backend.store().history("hourly")
    assert [(run.scheduled_at, run.outcome.value) for run in history] == [(now, "success")]


def test_run_now_with_a_stale_now_never_goes_back_before_a_claimed_fire(
    backend: Backend,
) -> None:
    """*now* read before a scheduler claimed the regular fire F (the command line's clock
    read before it connected, or a clock behind the schedulers'): the stored next fire
    went back before F, and F ran a second time (SQLite) or, its run slot taken, the
    run-now fire was lost without a trace (PostgreSQL). The run is due just after F."""
    from tickwork.executors import InlineExecutor
    from tickwork.testing import FakeClock, run_until

    start = datetime(2024, 1, 1, tzinfo=timezone.utc)
    fire = start + timedelta(seconds=10)
    clock = FakeClock(fire + timedelta(milliseconds=50))
    scheduler = Scheduler(store=backend.store(), clock=clock, timezone="UTC",
                          executors={"default": InlineExecutor()})  # fmt: skip
    scheduler.add_job("tests.control_jobs:ping", IntervalTrigger(seconds=10, start=start),
                      id="iv", first_fire=fire, catchup="all")  # fmt: skip
    control_jobs.RUNS.clear()
    scheduler.open()
    scheduler.process_due()  # F runs: the stored next fire is F + 10 s
    assert [at for _, at in control_jobs.RUNS] == [fire]
    job = run_job_now(backend.store(), "iv", now=fire - timedelta(milliseconds=200))
    assert job.next_fire == fire + timedelta(microseconds=1)
    run_until(scheduler, fire + timedelta(seconds=5))
    scheduler.shutdown()
    assert [at for _, at in control_jobs.RUNS] == [fire, fire + timedelta(microseconds=1)]
    history = backend.store().history("iv")
    assert sorted((run.scheduled_at, run.outcome.value) for run in history) == [
        (fire, "success"),
        (fire + timedelta(microseconds=1), "success"),
    ]


def test_run_now_refuses_a_job_before_its_start(backend: Backend) -> None:
    # It was made due at once, and ran a month before the job's start.
    store = backend.store()
    later = NOW + timedelta(days=30)
    store.add_job(evolve(rich_job(next_fire=later), start=later))
    with pytest.raises(ValueError, match=r"starts at .* it fires only from then"):
        run_job_now(store, "rich", now=NOW)
    assert store.get_job("rich").next_fire == later
    store.close()


def test_run_now_reaches_a_postgres_scheduler_by_notify(pg_tables: str) -> None:
    """With PostgreSQL the change is told at once (NOTIFY): the scheduler polls only
    every 10 s here, and still runs the job within 5 s."""
    store = PostgresStore(pg.dsn(), schema=pg_tables, poll_interval=10)
    scheduler = Scheduler(store=store, timezone="UTC")
    scheduler.add_job("tests.control_jobs:ping", "interval", hours=1, id="hourly")
    control_jobs.RAN.clear()
    scheduler.start()
    other = PostgresStore(pg.dsn(), schema=pg_tables)
    try:
        run_job_now(other, "hourly", now=datetime.now(timezone.utc))
        assert control_jobs.RAN.wait(5), "the scheduler did not hear of the change"
    finally:
        scheduler.shutdown(wait=True, timeout=10)
        other.close()


def test_run_now_retries_when_a_scheduler_claims_the_job_meanwhile(pg_tables: str) -> None:
    """A scheduler claims the job's fire between the read and the compare-and-set (on
    PostgreSQL the read locks nothing; on SQLite the write lock is held throughout, so
    this cannot happen there): the claim stands (its fire moved on, its remaining runs
    counted down) and the job is then made due now."""
    adding = PostgresStore(pg.dsn(), schema=pg_tables)
    adding.add_job(rich_job(next_fire=NEXT))
    adding.close()
    later = datetime(2024, 3, 30, 13, 30, tzinfo=BERLIN)
    scheduler_store = PostgresStore(pg.dsn(), schema=pg_tables)

    class Racing(PostgresStore):
        raced = False

        def claim_fire(self, job_id: str, expected: Any, new_next: Any, **kw: Any) -> bool:
            if not self.raced:
                self.raced = True
                # Another process, on its own connection, claims the fire first.
                assert scheduler_store.claim_fire(job_id, NEXT, later, now=NEXT, remaining_runs=8)
            return super().claim_fire(job_id, expected, new_next, **kw)

    store = Racing(pg.dsn(), schema=pg_tables)
    try:
        job = run_job_now(store, "rich", now=NOW)
        assert store.raced
        # (The claimed fire is later than NOW, which was read before the claim: the run
        # is due just after it, or that fire would be due again.)
        assert job.next_fire == NEXT + timedelta(microseconds=1)
        stored = scheduler_store.get_job("rich")
        assert stored.next_fire == NEXT + timedelta(microseconds=1)
        assert stored.remaining_runs == 8  # the scheduler's claim was not undone
    finally:
        store.close()
        scheduler_store.close()
