"""Chains: ``add_job(after=..., on=...)``, ``on_failure``, and what history keeps of them.

Every test runs on a ``FakeClock`` with an ``InlineExecutor``; those that matter for
persistence run over a ``MemoryStore``, a ``SQLiteStore`` file and a ``PostgresStore``.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tickwork import (
    AsyncScheduler,
    ChainError,
    ChainOn,
    Event,
    EventKind,
    IntervalTrigger,
    JobLookupError,
    Outcome,
    RetryPolicy,
    Scheduler,
    StoreError,
    UpstreamTrigger,
    trigger_from_dict,
)
from tickwork.executors import InlineExecutor
from tickwork.stores import JobStore, MemoryStore, PostgresStore, SQLiteStore
from tickwork.testing import FakeClock, advance, run_until

from . import chain_jobs, pg
from .jobs_for_tests import T0, UTC, seconds

J = "tests.chain_jobs"
MINUTE = 60


@pytest.fixture(autouse=True)
def _fresh_runs() -> Iterator[None]:
    chain_jobs.RUNS.clear()
    chain_jobs.BROKEN.clear()
    yield
    chain_jobs.RUNS.clear()
    chain_jobs.BROKEN.clear()


pg_tables = pg.pg_tables  # (a schema of the test's own with tickwork's tables, emptied)


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> JobStore:
    if request.param == "memory":
        return MemoryStore()
    if request.param == "postgres":
        return PostgresStore(pg.dsn(), schema=request.getfixturevalue("pg_tables"))
    return SQLiteStore(tmp_path / "chains.db")


@pytest.fixture
def sched(store: JobStore) -> Iterator[Scheduler]:
    scheduler = Scheduler(
        clock=FakeClock(T0),
        store=store,
        executors={"default": InlineExecutor()},
        timezone="UTC",
    )
    yield scheduler
    scheduler.shutdown()


def runs_of(job_id: str) -> list[tuple[Any, ...]]:
    return [run for run in chain_jobs.RUNS if run[0] == job_id]


# -- a chain runs in order, on the upstream's slot, with its values ---------------------


def test_extract_transform_load_run_in_order_on_the_extracts_slot(sched: Scheduler) -> None:
    sched.add_job(f"{J}:extract", "interval", minutes=1, id="extract")
    sched.add_job(f"{J}:transform", after="extract", id="transform")
    sched.add_job(f"{J}:load", after="transform", id="load")
    sched.open()
    advance(sched, 2 * MINUTE)
    slots = [T0 + seconds(MINUTE), T0 + seconds(2 * MINUTE)]
    assert [(job, at) for job, at, _ in chain_jobs.RUNS] == [
        (job, slot) for slot in slots for job in ("extract", "transform", "load")
    ]
    _, _, upstream = runs_of("transform")[0]
    assert upstream == {"extract": ("success", [1, 2, 3], "extract@2024-01-01T00:01:00Z#1", None)}
    _, _, upstream = runs_of("load")[0]
    assert upstream["transform"][1] == 6  # sum of the extract's [1, 2, 3]


def test_history_links_the_runs_of_a_chain_and_keeps_their_return_values(
    sched: Scheduler,
) -> None:
    sched.add_job(f"{J}:extract", "interval", minutes=1, id="extract")
    sched.add_job(f"{J}:transform", after="extract", id="transform")
    sched.add_job(f"{J}:load", after="transform", id="load")
    sched.open()
    advance(sched, MINUTE)
    runs = {run.job_id: run for run in sched.history()}
    assert runs["extract"].run_id == "extract@2024-01-01T00:01:00Z#1"
    assert runs["extract"].parent_ids == ()
    assert runs["extract"].return_value == [1, 2, 3]
    assert runs["transform"].parent_ids == ("extract@2024-01-01T00:01:00Z#1",)
    assert runs["transform"].return_value == 6
    assert runs["load"].parent_ids == ("transform@2024-01-01T00:01:00Z#1",)
    assert runs["load"].return_value == "loaded 6"
    assert all(run.return_kept for run in runs.values())


def test_a_return_value_json_cannot_hold_is_recorded_as_not_kept(sched: Scheduler) -> None:
    sched.add_job(f"{J}:unkept", "interval", minutes=1, id="odd")
    sched.add_job(f"{J}:step", after="odd", id="next")
    sched.open()
    advance(sched, MINUTE)
    (odd,) = sched.history("odd")
    assert odd.outcome is Outcome.SUCCESS
    assert (odd.return_kept, odd.return_value) == (False, None)
    # The downstream still runs: the value is missing, not the run.
    assert runs_of("next")[0][2]["odd"][:2] == ("success", None)


def test_a_downstream_job_without_a_trigger_never_fires_on_its_own(sched: Scheduler) -> None:
    sched.add_job(f"{J}:step", "interval", minutes=5, id="up", paused=True)
    down = sched.add_job(f"{J}:step", after="up", id="down")
    assert isinstance(down.trigger, UpstreamTrigger)
    assert down.next_fire is None
    assert down.after == ("up",)
    assert down.on is ChainOn.SUCCESS
    sched.open()
    advance(sched, 60 * MINUTE)
    assert chain_jobs.RUNS == []
    assert sched.get_job("down") is not None  # not "done": its upstream may start it


def test_a_downstream_job_with_a_trigger_runs_on_both(sched: Scheduler) -> None:
    sched.add_job(f"{J}:step", "interval", minutes=2, id="up")
    sched.add_job(f"{J}:step", "interval", minutes=3, id="down", after="up")
    sched.open()
    advance(sched, 6 * MINUTE)
    times = [at for job, at, _ in chain_jobs.RUNS if job == "down"]
    # After "up" at 2, 4, 6; on its own at 3 and 6 (the slot key: 6 runs twice, once
    # for each reason, since its own fire and the chained run are separate runs).
    assert sorted(times) == [T0 + seconds(m * MINUTE) for m in (2, 3, 4, 6, 6)]


# -- fan-in and outcomes ----------------------------------------------------------------


def test_fan_in_runs_once_per_slot_after_all_its_upstreams(sched: Scheduler) -> None:
    sched.add_job(f"{J}:step", "interval", minutes=1, id="a")
    sched.add_job(f"{J}:step", "interval", minutes=2, id="b")
    sched.add_job(f"{J}:step", after=["a", "b"], id="c")
    sched.open()
    advance(sched, 4 * MINUTE)
    # "a" runs every minute, "b" every second minute: only slots 2 and 4 have both.
    c_runs = runs_of("c")
    assert [at for _, at, _ in c_runs] == [T0 + seconds(2 * MINUTE), T0 + seconds(4 * MINUTE)]
    assert set(c_runs[0][2]) == {"a", "b"}


def test_a_fan_in_after_intervals_that_never_meet_is_refused(sched: Scheduler) -> None:
    # Added a moment apart on a real clock, two intervals count from different instants:
    # no slot is ever theirs both, and the fan-in would wait for ever, silently.
    sched.add_job(f"{J}:step", IntervalTrigger(minutes=1, start=T0 + seconds(0.25)), id="a")
    sched.add_job(f"{J}:step", IntervalTrigger(minutes=2, start=T0 + seconds(0.5)), id="b")
    never = r"job 'c' would never run: .* 'a' \(every 0:01:00 from"
    with pytest.raises(ValueError, match=never):
        sched.add_job(f"{J}:step", after=["a", "b"], id="c")
    # Nor does an interval off the whole second meet a cron trigger.
    sched.add_job(f"{J}:step", "cron", "* * * * *", id="minutely")
    with pytest.raises(ValueError, match=r"'minutely' \(on whole seconds\) never meet"):
        sched.add_job(f"{J}:step", after=["a", "minutely"], id="g")
    sched.add_job(f"{J}:step", "cron", "0 0 1 1 *", id="d")  # (a trigger of its own)
    with pytest.raises(ValueError, match="never meet"):
        sched.modify_job("d", after=["a", "b"])
    assert sched.get_job("c") is None
    # Intervals that meet (one start, or starts a multiple of the common step apart).
    sched.add_job(f"{J}:step", IntervalTrigger(minutes=4, start=T0 + seconds(120.5)), id="e")
    sched.add_job(f"{J}:step", after=["b", "e"], id="f")
    sched.add_job(f"{J}:step", IntervalTrigger(minutes=2, start=T0), id="h")
    sched.add_job(f"{J}:step", after=["h", "minutely"], id="i")  # (meet every 2 minutes)
    sched.open()
    advance(sched, 5 * MINUTE)
    assert [at for _, at, _ in runs_of("i")] == [T0, T0 + seconds(120), T0 + seconds(240)]
    assert [at for _, at, _ in runs_of("f")] == [
        T0 + seconds(2 * MINUTE + 0.5)
    ]  # (b: 0.5, 2:00.5, 4:00.5; e: 2:00.5)


@pytest.mark.parametrize(
    ("on", "runs_after_success", "runs_after_failure"),
    [("success", True, False), ("failure", False, True), ("any", True, True)],
)
def test_on_selects_which_upstream_ends_start_the_downstream(
    sched: Scheduler, on: str, runs_after_success: bool, runs_after_failure: bool
) -> None:
    sched.add_job(f"{J}:flaky", "interval", minutes=1, id="up")
    sched.add_job(f"{J}:step", after="up", on=on, id="down")
    sched.open()
    advance(sched, MINUTE)  # succeeds
    chain_jobs.BROKEN.add("up")
    advance(sched, MINUTE)  # fails
    slots = [at for _, at, _ in runs_of("down")]
    expected = [T0 + seconds(MINUTE)] * runs_after_success
    expected += [T0 + seconds(2 * MINUTE)] * runs_after_failure
    assert slots == expected


def test_a_failure_handler_runs_once_after_the_last_retry_with_the_error(
    sched: Scheduler,
) -> None:
    chain_jobs.BROKEN.add("up")
    retry = RetryPolicy(attempts=3, delay=10, jitter=0)
    sched.add_job(f"{J}:flaky", "interval", minutes=1, id="up", retry=retry)
    sched.add_job(f"{J}:step", after="up", on="failure", id="alert")
    sched.open()
    advance(sched, MINUTE + 40)
    assert len(runs_of("up")) == 3
    ((_, slot, upstream),) = runs_of("alert")
    assert slot == T0 + seconds(MINUTE)
    outcome, value, run_id, error = upstream["up"]
    assert (outcome, value, run_id) == ("failure", None, "up@2024-01-01T00:01:00Z#3")
    assert error == "RuntimeError: up is broken"


# -- failure handlers and the self-healing loop -----------------------------------------


def test_on_failure_adds_a_handler_job_that_repairs_and_the_next_run_succeeds(
    sched: Scheduler,
) -> None:
    chain_jobs.BROKEN.add("sync")
    sched.add_job(f"{J}:flaky", "interval", minutes=1, id="sync", on_failure=f"{J}:repair")
    handler = sched.get_job("sync.on_failure")
    assert handler is not None
    assert (handler.after, handler.on) == (("sync",), ChainOn.FAILURE)
    sched.open()
    advance(sched, 2 * MINUTE)
    outcomes = [run.outcome for run in reversed(sched.history("sync"))]
    assert outcomes == [Outcome.FAILURE, Outcome.SUCCESS]
    assert [at for _, at, _ in runs_of("sync.on_failure")] == [T0 + seconds(MINUTE)]


def test_on_failure_with_the_id_of_a_job_with_no_upstream_makes_it_the_handler(
    sched: Scheduler,
) -> None:
    chain_jobs.BROKEN.add("b")
    sched.add_job(f"{J}:repair", "cron", "0 0 1 7 *", id="mend")  # (a yearly job of its own)
    sched.add_job(f"{J}:flaky", "interval", minutes=1, id="b", on_failure="mend")
    mend = sched.get_job("mend")
    assert mend is not None
    assert (mend.after, mend.on) == (("b",), ChainOn.FAILURE)
    # The start-up code adding it again changes nothing.
    sched.add_job(f"{J}:flaky", "interval", minutes=1, id="b", on_failure="mend",
                  replace_existing=True)  # fmt: skip
    mend = sched.get_job("mend")
    assert mend is not None
    assert mend.after == ("b",)
    with pytest.raises(JobLookupError, match="'missing'"):
        sched.add_job(f"{J}:step", "interval", minutes=1, id="c", on_failure="missing")
    sched.open()
    advance(sched, MINUTE)
    assert [at for _, at, _ in runs_of("mend")] == [T0 + seconds(MINUTE)]


def test_the_scheduler_wide_failure_hook_sees_failures_and_a_failing_hook_is_not_fatal(
    sched: Scheduler, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[Event] = []

    @sched.on_failure
    def hook(event: Event) -> None:
        seen.append(event)
        raise RuntimeError("the hook itself is broken")

    chain_jobs.BROKEN.add("up")
    sched.add_job(f"{J}:flaky", "interval", minutes=1, id="up")
    sched.add_job(f"{J}:step", "interval", minutes=1, id="fine")
    sched.open()
    with caplog.at_level(logging.ERROR, logger="tickwork"):
        advance(sched, 2 * MINUTE)
    assert [(e.kind, e.job_id, e.scheduled_at) for e in seen] == [
        (EventKind.JOB_FAILED, "up", T0 + seconds(m * MINUTE)) for m in (1, 2)
    ]
    assert isinstance(seen[0].exception, RuntimeError)
    assert len(runs_of("fine")) == 2  # the scheduler went on
    assert "the hook itself is broken" in caplog.text


# -- the graph: cycles, unknown upstreams, removal --------------------------------------


def test_a_cycle_is_refused_with_its_path(sched: Scheduler) -> None:
    sched.add_job(f"{J}:step", "interval", minutes=1, id="a")
    sched.add_job(f"{J}:step", after="a", id="b")
    sched.add_job(f"{J}:step", after="b", id="c")
    with pytest.raises(ChainError, match=r"a -> b -> c -> a"):
        sched.modify_job("a", after="c")
    with pytest.raises(ChainError, match=r"x -> x"):
        sched.add_job(f"{J}:step", "interval", minutes=1, id="x", after="x")
    assert sched.get_job("x") is None
    job = sched.get_job("a")
    assert job is not None
    assert job.after == ()


def test_an_unknown_upstream_is_refused_but_an_add_jobs_batch_may_refer_ahead(
    sched: Scheduler,
) -> None:
    with pytest.raises(JobLookupError, match="'ghost'"):
        sched.add_job(f"{J}:step", after="ghost", id="d")
    added = sched.add_jobs(
        [
            {"func": f"{J}:step", "after": "late", "id": "early"},
            {"func": f"{J}:step", "trigger": "interval", "minutes": 1, "id": "late"},
        ]
    )
    assert [job.id for job in added] == ["early", "late"]
    with pytest.raises(ChainError, match=r"p -> q -> p|q -> p -> q"):
        sched.add_jobs(
            [
                {"func": f"{J}:step", "after": "q", "id": "p"},
                {"func": f"{J}:step", "after": "p", "id": "q"},
            ]
        )
    assert sched.get_job("p") is None
    sched.open()
    advance(sched, MINUTE)
    assert [job for job, _, _ in chain_jobs.RUNS] == ["late", "early"]


def test_removing_a_job_others_run_after_needs_cascade_or_detach(sched: Scheduler) -> None:
    sched.add_job(f"{J}:step", "interval", minutes=1, id="a")
    sched.add_job(f"{J}:step", after="a", id="b")
    sched.add_job(f"{J}:step", after="b", id="c")
    sched.add_job(f"{J}:step", "interval", minutes=1, id="z")
    sched.add_job(f"{J}:step", after=["a", "z"], id="d")
    with pytest.raises(ChainError, match="'b', 'd'"):
        sched.remove_job("a")
    with pytest.raises(TypeError):
        sched.remove_job("a", cascade=True, detach=True)
    sched.remove_job("z", detach=True)
    d = sched.get_job("d")
    assert d is not None
    assert d.after == ("a",)
    sched.remove_job("a", cascade=True)
    assert [job.id for job in sched.get_jobs()] == []


def test_detaching_keeps_a_scheduled_dependant_and_removes_one_that_could_not_run(
    sched: Scheduler,
) -> None:
    sched.add_job(f"{J}:step", "interval", minutes=1, id="a")
    sched.add_job(f"{J}:step", "interval", minutes=5, id="own", after="a")
    sched.add_job(f"{J}:step", after="a", id="only")
    sched.add_job(f"{J}:step", "interval", minutes=5, id="next", after="only")
    sched.remove_job("a", detach=True)
    assert sorted(job.id for job in sched.get_jobs()) == ["next", "own"]
    for job_id in ("own", "next"):
        job = sched.get_job(job_id)
        assert job is not None
        assert job.after == ()


def _graph_events(sched: Scheduler) -> list[tuple[str, str | None, str | None]]:
    seen: list[tuple[str, str | None, str | None]] = []
    sched.add_listener(
        lambda event: seen.append((event.kind.name, event.job_id, event.reason)),
        EventKind.JOB_REMOVED | EventKind.JOB_MODIFIED,
    )
    return seen


@pytest.mark.parametrize("c_after", [["a", "b"], ["b", "a"]])
def test_detaching_a_diamond_removes_each_dependant_left_with_nothing_to_start_it(
    sched: Scheduler, c_after: list[str]
) -> None:
    # b loses its only upstream and goes; so c loses a *and* b, and goes too. The plan
    # is worked out to the end before anything changes.
    sched.add_job(f"{J}:step", "interval", minutes=1, id="a")
    sched.add_job(f"{J}:step", after="a", id="b")
    sched.add_job(f"{J}:step", after=c_after, id="c")
    seen = _graph_events(sched)
    sched.remove_job("a", detach=True)
    assert sched.get_jobs() == []
    orphan = "left with neither an upstream nor a trigger of its own"
    assert seen == [
        ("JOB_REMOVED", "c", orphan),
        ("JOB_REMOVED", "b", orphan),
        ("JOB_REMOVED", "a", None),
    ]


def test_detaching_a_diamond_keeps_a_dependant_with_another_upstream(sched: Scheduler) -> None:
    sched.add_job(f"{J}:step", "interval", minutes=1, id="a")
    sched.add_job(f"{J}:step", "interval", minutes=1, id="x")
    sched.add_job(f"{J}:step", after="a", id="b")
    sched.add_job(f"{J}:step", after=["a", "b", "x"], id="c")
    seen = _graph_events(sched)
    sched.remove_job("a", detach=True)
    assert sorted((job.id, job.after) for job in sched.get_jobs()) == [("c", ("x",)), ("x", ())]
    assert seen == [
        ("JOB_MODIFIED", "c", "its upstreams 'a', 'b' were removed"),
        ("JOB_REMOVED", "b", "left with neither an upstream nor a trigger of its own"),
        ("JOB_REMOVED", "a", None),
    ]
    sched.open()
    advance(sched, MINUTE)
    assert sorted(job for job, _, _ in chain_jobs.RUNS) == ["c", "x"]  # c runs after x


@pytest.mark.parametrize("c_after", [["a", "b"], ["b", "a"]])
def test_cascading_over_a_diamond_removes_each_job_once(
    sched: Scheduler, c_after: list[str]
) -> None:
    sched.add_job(f"{J}:step", "interval", minutes=1, id="a")
    sched.add_job(f"{J}:step", after="a", id="b")
    sched.add_job(f"{J}:step", after=c_after, id="c")
    sched.add_job(f"{J}:step", "interval", minutes=1, id="x")
    sched.add_job(f"{J}:step", after=["c", "x"], id="d")
    seen = _graph_events(sched)
    sched.remove_job("a", cascade=True)
    assert [job.id for job in sched.get_jobs()] == ["x"]
    # Each job after the ones that run before it: the last upstream goes last.
    assert seen == [
        ("JOB_REMOVED", "d", "removed with its upstream 'a' (cascade=True)"),
        ("JOB_REMOVED", "c", "removed with its upstream 'a' (cascade=True)"),
        ("JOB_REMOVED", "b", "removed with its upstream 'a' (cascade=True)"),
        ("JOB_REMOVED", "a", None),
    ]


def _stored_graph(path: Path) -> list[tuple[str, tuple[str, ...]]]:
    """The jobs of the file *path* and their upstreams, as another process reads them."""
    store = SQLiteStore(path)
    try:
        return sorted((job.id, job.after) for job in store.get_jobs())
    finally:
        store.close()


def test_a_removal_that_fails_part_way_changes_nothing(tmp_path: Path) -> None:
    class FullDisk(SQLiteStore):
        """Fails the last write of a removal (the job asked for goes last)."""

        def remove_job(self, job_id: str) -> None:
            if job_id == "a":
                raise StoreError("disk full")
            super().remove_job(job_id)

    path = tmp_path / "full.db"
    sched = Scheduler(clock=FakeClock(T0), store=FullDisk(path), timezone=UTC)
    sched.add_job(f"{J}:step", "interval", minutes=1, id="a")
    sched.add_job(f"{J}:step", "interval", minutes=1, id="x")
    sched.add_job(f"{J}:step", after="a", id="b")
    sched.add_job(f"{J}:step", after=["a", "b", "x"], id="c")
    graph = [("a", ()), ("b", ("a",)), ("c", ("a", "b", "x")), ("x", ())]
    seen = _graph_events(sched)
    for how in ({"detach": True}, {"cascade": True}):
        with pytest.raises(StoreError, match="disk full"):
            sched.remove_job("a", **how)
        assert sorted((job.id, job.after) for job in sched.get_jobs()) == graph
        assert _stored_graph(path) == graph
    assert seen == []
    sched.shutdown()


def test_a_detach_that_cannot_load_a_dependant_changes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "broken.db"
    sched = Scheduler(clock=FakeClock(T0), store=SQLiteStore(path), timezone=UTC)
    sched.add_job(f"{J}:step", "interval", minutes=1, id="a")
    sched.add_job(f"{J}:step", after="a", id="b")
    sched.add_job(f"{J}:step", "interval", minutes=1, after="a", id="kept")
    sched.shutdown()
    # (Its function no longer imports: it stays stored, and cannot be loaded.)
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE jobs SET func_ref = 'retired_module:job' WHERE id = 'kept'")
    conn.close()
    again = Scheduler(clock=FakeClock(T0), store=SQLiteStore(path), timezone=UTC)
    with pytest.raises(JobLookupError, match=r"job 'kept' runs after 'a' and cannot be loaded"):
        again.remove_job("a", detach=True)
    assert sorted(job.id for job in again.get_jobs()) == ["a", "b"]
    assert [job_id for job_id, _ in _stored_graph(path)] == ["a", "b", "kept"]
    again.shutdown()


def _retire(store: JobStore, path: Path, job_id: str) -> None:
    """Make the stored job *job_id*'s function one that no longer imports (the next
    deploy removed it): it stays stored, and cannot be loaded."""
    sql = "UPDATE {}jobs SET func_ref = 'retired_module:job' WHERE id = {}"
    if isinstance(store, PostgresStore):
        import psycopg

        with psycopg.connect(pg.dsn(), autocommit=True) as pg_conn:
            pg_conn.execute(sql.format(f'"{store.schema}".', "%s"), (job_id,))
        return
    with sqlite3.connect(path) as conn:
        conn.execute(sql.format("", "?"), (job_id,))
    conn.close()


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_a_refused_detach_leaves_the_broken_dependant_to_the_cascade_it_advises(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    path = tmp_path / "broken.db"
    schema = request.getfixturevalue("pg_tables") if kind == "postgres" else ""

    def scheduler() -> tuple[Scheduler, JobStore]:
        store = PostgresStore(pg.dsn(), schema=schema) if schema else SQLiteStore(path)
        executors = {"default": InlineExecutor()}
        return Scheduler(clock=FakeClock(T0), store=store, executors=executors,
                         timezone=UTC), store  # fmt: skip

    first, store = scheduler()
    first.add_job(f"{J}:step", "interval", minutes=1, id="x")
    first.add_job(f"{J}:step", "interval", minutes=1, id="y")
    first.add_job(f"{J}:step", after=["x", "y"], id="d")
    first.add_job(f"{J}:step", after="d", id="e")
    first.shutdown()
    _retire(store, path, "d")
    again, store = scheduler()
    again.open()  # (d and e have no fire time: d is first looked up by the removal)
    seen = _graph_events(again)
    with pytest.raises(JobLookupError, match=r"job 'd' runs after 'x' and cannot be loaded"):
        again.remove_job("x", detach=True)
    assert seen == []
    # Nothing removed or changed (the store decodes d: only its function is gone); d
    # found broken, as any look-up finds it.
    assert sorted((job.id, job.after) for job in store.get_jobs()) == [
        ("d", ("x", "y")), ("e", ("d",)), ("x", ()), ("y", ())]  # fmt: skip
    assert sorted(again.broken_jobs()) == ["d"]
    # The cascade the error advises removes x and the jobs after it, broken d too.
    again.remove_job("x", cascade=True)
    assert [job.id for job in again.get_jobs()] == ["y"]
    assert [job.id for job in store.get_jobs()] == ["y"]
    assert again.broken_jobs() == {}
    cascaded = "removed with its upstream 'x' (cascade=True)"
    assert seen == [
        ("JOB_REMOVED", "e", cascaded),
        ("JOB_REMOVED", "d", cascaded),
        ("JOB_REMOVED", "x", None),
    ]
    again.shutdown()


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_a_refused_batch_that_found_a_broken_upstream_forgets_the_mark_it_undid(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    # The batch's look-up marks d broken in its transaction; the refusal rolls the mark
    # back, and the store must not go on taking d for marked (it would never mark it
    # again, and the removal below would find d neither loaded nor broken).
    path = tmp_path / "broken.db"
    schema = request.getfixturevalue("pg_tables") if kind == "postgres" else ""
    store: JobStore = PostgresStore(pg.dsn(), schema=schema) if schema else SQLiteStore(path)
    first = Scheduler(clock=FakeClock(T0), store=store, timezone=UTC)
    first.add_job(f"{J}:step", "interval", minutes=1, id="x")
    first.add_job(f"{J}:step", after="x", id="d")
    first.shutdown()
    _retire(store, path, "d")
    store = PostgresStore(pg.dsn(), schema=schema) if schema else SQLiteStore(path)
    again = Scheduler(clock=FakeClock(T0), store=store, timezone=UTC)
    again.open()
    entry = {"func": f"{J}:step", "after": "d", "id": "z", "replace_existing": True}
    with pytest.raises(JobLookupError, match=r"job 'z' runs after 'd'"):
        again.add_jobs([entry])
    assert sorted(job.id for job in store.get_jobs()) == ["d", "x"]
    again.remove_job("x", cascade=True)
    assert store.get_jobs() == []
    assert again.broken_jobs() == {}
    again.shutdown()


# -- stores -----------------------------------------------------------------------------


def test_a_chained_job_is_stored_and_read_back_with_its_upstreams(tmp_path: Path) -> None:
    path = tmp_path / "kept.db"
    first = Scheduler(clock=FakeClock(T0), store=SQLiteStore(path), timezone="UTC")
    first.add_job(f"{J}:step", "interval", minutes=1, id="a")
    first.add_job(f"{J}:step", after="a", on="any", id="b")
    first.shutdown()
    second = Scheduler(
        clock=FakeClock(T0), store=SQLiteStore(path), executors={"default": InlineExecutor()}
    )
    b = second.get_job("b")
    assert b is not None
    assert (b.after, b.on, b.trigger) == (("a",), ChainOn.ANY, UpstreamTrigger())
    second.open()
    run_until(second, T0 + seconds(MINUTE))
    assert [job for job, _, _ in chain_jobs.RUNS] == ["a", "b"]
    second.shutdown()


def test_a_store_without_chains_refuses_after(tmp_path: Path) -> None:
    class Plain(MemoryStore):
        """A store that keeps no chains (its ChainStore methods are not callable)."""

        chain_edges = ready_chains = claim_chain = None  # type: ignore[assignment]

    plain = Scheduler(clock=FakeClock(T0), store=Plain(), timezone=UTC)
    plain.add_job(f"{J}:step", "interval", minutes=1, id="a")
    with pytest.raises(TypeError, match="keeps chains"):
        plain.add_job(f"{J}:step", after="a", id="b")
    plain.shutdown()


def test_the_fluent_after_chains_with_or_without_a_schedule(sched: Scheduler) -> None:
    sched.every().minute.options(id="extract").do(f"{J}:extract")
    only_after = sched.every().after("extract").options(id="transform").do(f"{J}:transform")
    both = sched.every(2).minutes.after("extract", on="any").options(id="both").do(f"{J}:step")
    assert (only_after.after, only_after.trigger) == (("extract",), UpstreamTrigger())
    assert (both.after, both.on, both.next_fire) == (("extract",), ChainOn.ANY, T0 + seconds(120))
    with pytest.raises(TypeError, match="job ids"):
        sched.every().after()
    sched.open()
    advance(sched, MINUTE)
    ran = [job for job, _, _ in chain_jobs.RUNS]
    assert ran[0] == "extract"
    assert sorted(ran[1:]) == ["both", "transform"]  # (siblings: in no set order)


def test_the_upstream_trigger_gives_no_fire_times_and_round_trips() -> None:
    trigger = UpstreamTrigger()
    assert trigger.next_after(T0) is None
    assert trigger.previous_before(T0) is None
    assert trigger_from_dict(trigger.to_dict()) == trigger
    with pytest.raises(TypeError):
        trigger.next_after(T0.replace(tzinfo=None))


async def _async_failure_hook() -> list[str]:
    seen: list[str] = []
    chain_jobs.BROKEN.add("up")
    scheduler = AsyncScheduler(
        clock=FakeClock(T0), executors={"default": InlineExecutor()}, timezone="UTC"
    )
    scheduler.on_failure(lambda event: seen.append(f"{event.job_id} {event.kind.name}"))
    await scheduler.add_job(f"{J}:flaky", "interval", minutes=1, id="up")
    await scheduler.add_job(f"{J}:step", after="up", on="failure", id="handler")
    scheduler.engine.open()
    run_until(scheduler.engine, T0 + seconds(MINUTE))
    await scheduler.shutdown()
    return seen


def test_the_async_scheduler_has_the_failure_hook_and_chains() -> None:
    assert asyncio.run(_async_failure_hook()) == ["up JOB_FAILED"]
    assert [job for job, _, _ in chain_jobs.RUNS] == ["up", "handler"]


def test_a_job_with_no_trigger_of_its_own_cannot_lose_its_last_upstream(
    sched: Scheduler,
) -> None:
    sched.add_job(f"{J}:step", "interval", minutes=1, id="a")
    sched.add_job(f"{J}:step", after="a", id="b")
    with pytest.raises(ValueError, match="no trigger of its own"):
        sched.modify_job("b", after=())
    sched.reschedule_job("b", "interval", minutes=5)
    assert sched.modify_job("b", after=()).after == ()


def test_the_store_level_removal_refuses_a_job_others_run_after(sched: Scheduler) -> None:
    from tickwork._control import remove_job

    sched.add_job(f"{J}:step", "interval", minutes=1, id="a")
    sched.add_job(f"{J}:step", after="a", id="b")
    with pytest.raises(ChainError, match="'b'"):
        remove_job(sched.store, "a")
    remove_job(sched.store, "b")
    remove_job(sched.store, "a")
    assert sched.store.get_jobs() == []


def test_a_memory_store_keeps_a_bounded_number_of_incomplete_hand_overs() -> None:
    from tickwork._model import Job, RunEnd
    from tickwork.stores import memory

    store = MemoryStore()
    for job_id in ("a", "b"):
        store.add_job(Job(id=job_id, name=job_id, func=None, func_ref=f"{J}:step",
                          trigger=UpstreamTrigger()))  # fmt: skip
    store.add_job(Job(id="c", name="c", func=None, func_ref=f"{J}:step",
                      trigger=UpstreamTrigger(), after=("a", "b")))  # fmt: skip
    # Only "a" ever ends: no slot completes.
    ends = [
        RunEnd("a", T0 + seconds(n), 1, Outcome.SUCCESS, T0 + seconds(n))
        for n in range(memory._PENDING_LIMIT + 1)
    ]
    store.record_runs(ends, now=T0)
    assert len(store._pending) <= memory._PENDING_LIMIT
    assert (("c", int((T0 + seconds(memory._PENDING_LIMIT)).timestamp() * 1e6))) in store._pending
    assert store.ready_chains() == []
    store.record_runs([RunEnd("b", ends[-1].scheduled_at, 1, Outcome.SUCCESS, T0)], now=T0)
    assert store.ready_chains() == [("c", ends[-1].scheduled_at)]


def test_a_paused_downstream_job_does_not_run_and_its_hand_over_is_recorded_skipped(
    sched: Scheduler,
) -> None:
    sched.add_job(f"{J}:step", "interval", minutes=1, id="a")
    sched.add_job(f"{J}:step", after="a", id="b", paused=True)
    sched.open()
    advance(sched, MINUTE)
    assert runs_of("b") == []
    (skipped,) = sched.history("b")
    assert (skipped.outcome, skipped.scheduled_at) == (Outcome.SKIPPED, T0 + seconds(MINUTE))
    assert skipped.error_message == "the job is paused"


# -- real threads: the hand-over wakes the scheduler ------------------------------------


def test_a_real_scheduler_starts_the_downstream_run_as_soon_as_the_upstream_ends() -> None:
    import threading
    import time
    from datetime import datetime, timedelta, timezone

    from tickwork import current_run

    ended: dict[str, float] = {}
    started = threading.Event()

    def up() -> str:
        time.sleep(0.05)  # ends after the step that started it has returned
        ended["up"] = time.monotonic()
        return "done"

    def down() -> None:
        ended["down"] = time.monotonic()
        ended["value"] = current_run().upstream["up"].return_value
        started.set()

    scheduler = Scheduler(timezone="UTC", max_wait=60)
    # A one-off upstream: once it has run, nothing is due, so only the hand-over can
    # wake the scheduler before max_wait.
    soon = datetime.now(timezone.utc) + timedelta(seconds=0.05)
    scheduler.add_job(up, "date", run_date=soon, id="up")
    scheduler.add_job(down, after="up", id="down")
    scheduler.start()
    try:
        assert started.wait(3), "the downstream run did not start"
    finally:
        scheduler.shutdown()
    assert ended["value"] == "done"
    # Woken by the upstream's end, not by its next due time (max_wait is a minute).
    assert ended["down"] - ended["up"] < 0.5


# -- a store too big to load whole ------------------------------------------------------


def test_a_chained_job_outside_the_window_of_a_big_store_still_runs(tmp_path: Path) -> None:
    from tickwork import _window

    scheduler = Scheduler(
        clock=FakeClock(T0),
        store=SQLiteStore(tmp_path / "big.db"),
        executors={"default": InlineExecutor()},
        timezone="UTC",
    )
    # More jobs due than the first page holds: the core holds a window, not the store;
    # the chained job (no fire time) is in no page.
    later = {"trigger": "interval", "hours": 1, "func": f"{J}:step"}
    scheduler.add_jobs({**later, "id": f"filler{n:04d}"} for n in range(_window.FIRST + 50))
    scheduler.add_job(f"{J}:extract", "interval", minutes=1, id="extract")
    scheduler.add_job(f"{J}:transform", after="extract", id="transform")
    scheduler.open()
    assert scheduler.engine._link.window is not None
    advance(scheduler, MINUTE)
    assert [job for job, _, _ in chain_jobs.RUNS] == ["extract", "transform"]
    scheduler.shutdown()


# -- the graph functions, against a reference -------------------------------------------


def _reaches(graph: dict[str, tuple[str, ...]], start: str, goal: str) -> bool:
    seen, todo = set(), [start]
    while todo:
        node = todo.pop()
        for up in graph.get(node, ()):
            if up == goal:
                return True
            if up not in seen:
                seen.add(up)
                todo.append(up)
    return False


NODES = st.sampled_from("abcdef")


@given(
    edges=st.dictionaries(NODES, st.lists(NODES, unique=True, max_size=3).map(tuple)),
    job=NODES,
    after=st.lists(NODES, unique=True, min_size=1, max_size=3).map(tuple),
)
def test_find_cycle_finds_a_real_cycle_exactly_when_there_is_one(
    edges: dict[str, tuple[str, ...]], job: str, after: tuple[str, ...]
) -> None:
    from tickwork._chains import find_cycle

    graph = {key: ups for key, ups in edges.items() if key != job}
    chained = {key: (ups, ChainOn.SUCCESS) for key, ups in graph.items()}
    cycle = find_cycle(chained, job, after)
    graph[job] = after
    # A cycle through the job exists iff one of its upstreams reaches it.
    assert (cycle is not None) == any(up == job or _reaches(graph, up, job) for up in after)
    if cycle is not None:
        assert cycle[0] == cycle[-1] == job
        # Each step of the path is an edge: a job runs after the next one in the list.
        assert all(cycle[i + 1] in graph[cycle[i]] for i in range(len(cycle) - 1))


def test_remove_all_jobs_removes_chained_jobs_too(sched: Scheduler) -> None:
    sched.add_job(f"{J}:step", "interval", minutes=1, id="a")
    sched.add_job(f"{J}:step", after="a", id="b")
    sched.add_job(f"{J}:step", after="b", id="c")
    sched.remove_all_jobs()
    assert sched.get_jobs() == []


def test_upstream_records_reach_a_job_in_a_worker_process() -> None:
    from tickwork.executors import ProcessExecutor

    scheduler = Scheduler(
        clock=FakeClock(T0), executors={"default": ProcessExecutor(max_workers=1)}, timezone="UTC"
    )
    scheduler.add_job(f"{J}:extract", "interval", minutes=1, id="extract")
    scheduler.add_job(f"{J}:transform", after="extract", id="transform")
    scheduler.open()
    try:
        run_until(scheduler, T0 + seconds(MINUTE))
        runs = {run.job_id: run for run in scheduler.history()}
    finally:
        scheduler.shutdown()
    # transform read extract's [1, 2, 3] from current_run().upstream in its process.
    assert runs["transform"].return_value == 6
    assert runs["transform"].parent_ids == ("extract@2024-01-01T00:01:00Z#1",)


def test_on_without_after_is_refused_at_add_job() -> None:
    # It was taken, and did nothing: the job ran on its trigger, whatever it said.
    scheduler = Scheduler(clock=FakeClock(T0), timezone="UTC")
    with pytest.raises(TypeError, match=r"on='failure' .* give after= too"):
        scheduler.add_job(chain_jobs.__name__ + ":step", "interval", hours=1, on="failure")
    assert scheduler.get_jobs() == []
    scheduler.add_job(chain_jobs.__name__ + ":step", "interval", hours=1, id="up")
    job = scheduler.add_job(chain_jobs.__name__ + ":step", after="up", on="any", id="down")
    assert job.on.value == "any"
    scheduler.shutdown()
