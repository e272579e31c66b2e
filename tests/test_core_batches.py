"""The core's batch paths (a claim batch applied at once, results taken in at once) and
what the engine reads of the core from executor threads to skip waking the driver.

Each batch call must decide exactly what the one-at-a-time calls decide: same runs,
events, history rows and removed jobs; only the cost differs.
"""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

from tickwork import EventKind, Job, Outcome, Overlap, Scheduler
from tickwork._core import SchedulerCore
from tickwork._decision import Decision, FireDue
from tickwork._model import RunRequest, RunResult
from tickwork.executors import ThreadExecutor
from tickwork.stores import MemoryStore
from tickwork.triggers import DateTrigger, IntervalTrigger

from .jobs_for_tests import LIMIT, T0, noop, seconds, wait_until

EVERY_10S = IntervalTrigger(seconds=10, start=T0)


def _job(job_id: str, trigger: Any = EVERY_10S, **fields: Any) -> Job:
    fields.setdefault("next_fire", trigger.next_after(T0 - timedelta(microseconds=1)))
    return Job(id=job_id, name=job_id, func=noop, func_ref=None, trigger=trigger, **fields)


def _core(*jobs: Job, wants: EventKind = EventKind.ALL) -> SchedulerCore:
    core = SchedulerCore()
    core.wants = int(wants)
    core.records = True
    for job in jobs:
        core.put(job)
    return core


def _jobs() -> list[Job]:
    return [
        _job("once", DateTrigger(T0 + seconds(10))),
        _job("every"),
        _job("buffered", overlap=Overlap.BUFFER_ONE),
        _job("two", max_instances=2),
    ]


def _waiting(core: SchedulerCore) -> int:
    return sum(len(state.buffer or ()) for state in core._states.values())


def _fires(core: SchedulerCore, at: float) -> list[FireDue]:
    due = core.pop_due(T0 + seconds(at))
    assert all(isinstance(item, FireDue) for item in due)
    return due  # type: ignore[return-value]


def _same(one: Decision, other: Decision) -> None:
    assert [(a, r[1:]) for a, r in one.runs_to_start] == [
        (a, r[1:]) for a, r in other.runs_to_start
    ]
    assert [(e.kind, e.job_id, e.scheduled_at, e.reason) for e in one.events] == [
        (e.kind, e.job_id, e.scheduled_at, e.reason) for e in other.events
    ]
    # (Errors are compared by what they say: each side's results carry their own.)
    assert [end._replace(error=repr(end.error)) for end in one.history] == [
        end._replace(error=repr(end.error)) for end in other.history
    ]
    assert one.jobs_to_delete == other.jobs_to_delete


def test_a_claim_batch_decides_what_one_commit_per_fire_decides() -> None:
    batched, single = _core(*_jobs()), _core(*_jobs())
    for at in (10, 20):  # the second fire finds the first runs going
        fires = _fires(batched, at)
        one, other = Decision(), Decision()
        lost = batched.commit_claimed(fires, [0] * len(fires), T0 + seconds(at), one)
        for fire in _fires(single, at):
            single.commit_fire(fire, T0 + seconds(at), other)
        assert lost == []
        _same(one, other)
        assert batched.in_flight() == single.in_flight()
        assert batched.waiting == _waiting(batched) == _waiting(single)
    assert batched.waiting == 1  # "buffered" waits for its running run


def test_a_lost_claim_is_not_applied_and_its_job_is_named() -> None:
    core = _core(_job("won"), _job("lost"))
    fires = _fires(core, 10)
    decision = Decision()
    assert core.commit_claimed(fires, [0, None], T0 + seconds(10), decision) == ["lost"]
    assert [request.job_id for _, request in decision.runs_to_start] == ["won"]
    assert core.running("lost") == 0
    assert core.in_flight() == 1


def _started(core: SchedulerCore, at: float) -> list[RunRequest]:
    fires = _fires(core, at)
    decision = Decision()
    core.commit_claimed(fires, [0] * len(fires), T0 + seconds(at), decision)
    return [request for _, request in decision.runs_to_start]


def _results(requests: list[RunRequest], at: float) -> list[RunResult]:
    outcomes = {"every": Outcome.FAILURE, "two": Outcome.INTERRUPTED}
    return [
        RunResult(
            request,
            outcomes.get(request.job_id, Outcome.SUCCESS),
            return_value=7 if request.job_id == "once" else None,
            exception=OSError("no") if request.job_id == "every" else None,
            started_at=T0 + seconds(at),
            finished_at=T0 + seconds(at + 1),
        )
        for request in requests
    ]


def test_a_result_batch_decides_what_one_call_per_result_decides() -> None:
    batched, single = _core(*_jobs()), _core(*_jobs())
    requests = _started(batched, 10)
    assert [r[1:] for r in requests] == [r[1:] for r in _started(single, 10)]
    # The 20 s fire: "buffered" now waits, "two" starts a second run.
    _started(batched, 20)
    _started(single, 20)
    failed: list[str] = []
    ended: list[tuple[str, str]] = []
    one, other = Decision(), Decision()
    batched.finish_all(
        _results(requests, 10),
        T0 + seconds(30),
        one,
        failed=lambda result: failed.append(result.request.job_id),
        # (The history row of the result is the last one when it is called.)
        ended=lambda result, batch: ended.append((result.request.job_id, batch.history[-1].job_id)),
        watching=False,
    )
    for item in _results(requests, 10):
        single.finished(item, item.finished_at or T0, other)
    _same(one, other)
    assert failed == ["every"]
    # Only the run that returned something, when not watching; its row is the last.
    assert ended == [("once", "once")]
    assert one.jobs_to_delete == ["once"]
    assert "once" not in batched
    # Still going: the 20 s run of "two", and the waiting run of "buffered", started.
    assert batched.in_flight() == single.in_flight() == 2
    assert batched.waiting == _waiting(batched) == 0


def test_every_result_is_passed_on_while_watching_for_chains() -> None:
    core = _core(_job("a"), _job("b"), wants=EventKind(0))
    requests = _started(core, 10)
    seen: list[str] = []
    core.finish_all(
        [RunResult(request, Outcome.SUCCESS) for request in requests],
        T0 + seconds(11),
        Decision(),
        failed=lambda result: None,
        ended=lambda result, batch: seen.append(result.request.job_id),
        watching=True,
    )
    assert seen == ["a", "b"]


def test_the_count_of_waiting_runs_follows_every_way_a_buffer_empties() -> None:
    core = _core(
        _job("all", overlap=Overlap.BUFFER_ALL),
        _job("one", overlap=Overlap.BUFFER_ONE),
        _job("gone", overlap=Overlap.BUFFER_ALL),
        _job("lost", overlap=Overlap.BUFFER_ALL),
    )
    _started(core, 10)
    for at in (20, 30):
        _started(core, at)
    assert core.waiting == _waiting(core) == 7  # all: 2, one: 1, gone: 2, lost: 2
    core.discard("gone")
    assert core.waiting == _waiting(core)
    assert core.forget_run("lost", T0 + seconds(20)) == 1
    assert core.waiting == _waiting(core)
    core.drop_buffers(T0 + seconds(40))
    assert core.waiting == _waiting(core) == 0


def test_a_run_waiting_for_an_instance_starts_when_the_running_one_ends_unwatched() -> None:
    # No listener and a driver that only steps when woken (or after an hour): the end of
    # the running run must wake it, or the waiting run would wait for the next step.
    release = threading.Event()
    started = [threading.Event() for _ in range(3)]
    runs = iter(range(3))

    def job() -> None:
        index = next(runs)
        started[index].set()
        if index == 1:
            release.wait(LIMIT)

    scheduler = Scheduler(
        store=MemoryStore(), executors={"default": ThreadExecutor(2)}, max_wait=3600
    )
    scheduler.add_job(job, "interval", hours=1, id="j", overlap="buffer_one")
    scheduler.start()
    try:
        # A first run, taken in: the engine knows by then that no job is chained.
        scheduler.run_job_now("j")
        assert wait_until(lambda: len(scheduler.history("j")) == 1)
        scheduler.run_job_now("j")
        assert started[1].wait(LIMIT)
        scheduler.run_job_now("j")  # waits for the running one (never skipped)
        release.set()
        assert started[2].wait(LIMIT)
    finally:
        scheduler.shutdown()


class _EdgesFail(MemoryStore):
    """A store whose chain edges cannot be read (a database that went away, say)."""

    failing = False

    def chain_edges(self) -> Any:
        if self.failing:
            raise RuntimeError("the edges cannot be read")
        return super().chain_edges()


def test_no_run_or_result_is_lost_when_the_chain_edges_cannot_be_read() -> None:
    # The engine reads the edges right after claiming runs (to know whether their ends
    # need it at once): that read failing must not stop the claimed runs.
    ran = threading.Event()
    store = _EdgesFail()
    scheduler = Scheduler(store=store, executors={"default": ThreadExecutor(2)})
    scheduler.add_job(ran.set, "date", run_date=T0, id="j")  # long due: runs at start
    store.failing = True
    scheduler.start()
    try:
        assert ran.wait(LIMIT)
        # Its result waits for the store (the engine asks for the edges before it takes
        # results off the queue), then is taken in: not lost.
        store.failing = False
        assert wait_until(lambda: len(scheduler.history("j")) == 1)
    finally:
        store.failing = False
        scheduler.shutdown()
