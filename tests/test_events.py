"""Jobs started by events: EventTrigger, scheduler.emit and current_run().event, on a
FakeClock with an InlineExecutor (deterministic; no sleeping)."""

from __future__ import annotations

import asyncio
import importlib
import json
import sys
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from tickwork import (
    AndTrigger,
    AsyncScheduler,
    CronTrigger,
    EmittedEvent,
    EventTrigger,
    IntervalTrigger,
    JobLookupError,
    OrTrigger,
    RetryPolicy,
    Scheduler,
    SerializationError,
    current_run,
    trigger_from_dict,
)
from tickwork.executors import InlineExecutor
from tickwork.stores import SQLiteStore
from tickwork.testing import FakeClock, advance

UTC = timezone.utc
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

# Each run of a job below appends (job id, event or None, fake time) here.
RUNS: list[tuple[str, EmittedEvent | None, datetime]] = []
CLOCKS: list[FakeClock] = []


def record() -> None:
    run = current_run()
    RUNS.append((run.job_id, run.event, CLOCKS[-1].now()))


def only_big(payload: Any) -> bool:
    return bool(payload["total"] >= 100)


@pytest.fixture
def clock() -> Iterator[FakeClock]:
    RUNS.clear()
    fake = FakeClock(START)
    CLOCKS.append(fake)
    yield fake
    CLOCKS.remove(fake)


@pytest.fixture
def scheduler(clock: FakeClock) -> Iterator[Scheduler]:
    sched = Scheduler(clock=clock, executors={"default": InlineExecutor()}, timezone="UTC")
    yield sched
    sched.shutdown()


def payloads(job_id: str | None = None) -> list[Any]:
    return [
        None if event is None else event.payload
        for ran, event, _ in RUNS
        if job_id is None or ran == job_id
    ]


# -- the trigger ------------------------------------------------------------------------


def test_an_event_trigger_has_no_time_of_its_own() -> None:
    trigger = EventTrigger("order.created")
    assert trigger.next_after(START) is None
    assert trigger.previous_before(START) is None
    assert trigger.next_times(START, 3) == []
    with pytest.raises(TypeError, match="moment"):
        trigger.next_after(datetime(2026, 1, 1))


@pytest.mark.parametrize(
    "trigger",
    [
        EventTrigger("order.created"),
        EventTrigger("a", debounce=2.5),
        EventTrigger("a", throttle=timedelta(minutes=1)),
        EventTrigger("a", filter={"country": ["FR", "DE"], "customer.vip": True}),
        EventTrigger("a", filter="tests.test_events:only_big"),
        EventTrigger("a", filter=only_big),
        OrTrigger([CronTrigger("0 9 * * *", timezone="UTC"), EventTrigger("a")]),
    ],
    ids=repr,
)
def test_event_triggers_round_trip_through_json(trigger: Any) -> None:
    data = json.loads(json.dumps(trigger.to_dict()))
    again = trigger_from_dict(data)
    assert again == trigger
    assert again.to_dict() == trigger.to_dict()


def test_a_function_filter_is_stored_as_its_reference() -> None:
    assert EventTrigger("a", filter=only_big).filter == "tests.test_events:only_big"


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ({"country": "FR", "customer": {"vip": True}}, True),
        ({"country": "DE", "customer": {"vip": True}}, True),
        ({"country": "US", "customer": {"vip": True}}, False),
        ({"country": "FR", "customer": {"vip": False}}, False),
        ({"country": "FR"}, False),  # a missing key never matches
        ({"country": "FR", "customer": "vip"}, False),  # not an object on the way
        ([1, 2], False),
        (None, False),
    ],
)
def test_a_declarative_filter_matches_every_key(payload: Any, expected: bool) -> None:
    trigger = EventTrigger("a", filter={"country": ["FR", "DE"], "customer.vip": True})
    assert trigger.matches(payload) is expected


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"name": ""}, ValueError, "non-empty"),
        ({"name": " a"}, ValueError, "surrounding spaces"),
        ({"name": 3}, TypeError, "name must be a str"),
        ({"name": "a", "debounce": 0}, ValueError, "debounce"),
        ({"name": "a", "throttle": -1}, ValueError, "throttle"),
        ({"name": "a", "debounce": "5"}, TypeError, "debounce"),
        ({"name": "a", "debounce": 1, "throttle": 1}, ValueError, "not both"),
        ({"name": "a", "filter": lambda p: True}, TypeError, "lambda"),
        ({"name": "a", "filter": "nocolon"}, ValueError, "module:qualname"),
        ({"name": "a", "filter": {}}, ValueError, "empty"),
        ({"name": "a", "filter": {"k": {1, 2}}}, TypeError, "JSON data"),
        ({"name": "a", "filter": 5}, TypeError, "filter must be"),
    ],
)
def test_bad_event_trigger_arguments_are_refused_clearly(
    kwargs: dict[str, Any], error: type[Exception], match: str
) -> None:
    name = kwargs.pop("name")
    with pytest.raises(error, match=match):
        EventTrigger(name, **kwargs)


def test_and_trigger_refuses_an_event_trigger() -> None:
    with pytest.raises(ValueError, match=r"triggers\[1\].*waits for events.*OrTrigger"):
        AndTrigger([CronTrigger("0 9 * * *"), EventTrigger("a")])
    with pytest.raises(ValueError, match="waits for events"):
        AndTrigger([OrTrigger([IntervalTrigger(seconds=5), EventTrigger("a")])])


# -- emit -------------------------------------------------------------------------------


def test_emit_runs_the_listening_job_with_the_event(scheduler: Scheduler, clock: FakeClock) -> None:
    scheduler.add_job(record, EventTrigger("order.created"), id="on-order")
    scheduler.add_job(record, EventTrigger("order.paid"), id="on-paid")
    scheduler.open()
    event = scheduler.emit("order.created", {"id": 7, "items": ("a", "b")})
    assert payloads() == [{"id": 7, "items": ["a", "b"]}]  # as JSON gives it back
    job_id, seen, _ = RUNS[0]
    assert job_id == "on-order"
    assert seen == event
    assert seen.name == "order.created"
    assert seen.emitted_at == START
    assert len(seen.id) == 32
    [run] = scheduler.history("on-order")
    assert run.scheduled_at == START


def test_an_event_job_stays_for_the_next_event(scheduler: Scheduler) -> None:
    scheduler.add_job(record, EventTrigger("tick"), id="j")
    scheduler.open()
    assert scheduler.get_job("j") is not None
    for n in range(3):
        scheduler.emit("tick", n)
    assert payloads() == [0, 1, 2]
    job = scheduler.get_job("j")
    assert job is not None
    assert job.next_fire is None
    assert scheduler.next_fire_times("j") == []


def test_events_in_one_instant_are_distinct_runs(scheduler: Scheduler) -> None:
    scheduler.add_job(record, EventTrigger("tick"), id="j")
    scheduler.open()
    first = scheduler.emit("tick", 1)
    second = scheduler.emit("tick", 2)
    # The fake clock did not move: the second event is a microsecond later, so the two
    # runs have distinct (job id, scheduled_at) keys.
    assert second.emitted_at - first.emitted_at == timedelta(microseconds=1)
    assert [run.scheduled_at for run in scheduler.history("j")][::-1] == [
        first.emitted_at,
        second.emitted_at,
    ]


def test_a_payload_that_is_not_json_is_refused_naming_it(scheduler: Scheduler) -> None:
    scheduler.add_job(record, EventTrigger("a"), id="j")
    scheduler.open()
    with pytest.raises(SerializationError, match=r"event 'a': payload .*object.* not JSON"):
        scheduler.emit("a", {"when": object()})
    with pytest.raises(SerializationError, match="not JSON"):
        scheduler.emit("a", float("nan"))
    with pytest.raises(ValueError, match="non-empty"):
        scheduler.emit("", 1)
    deep: list[object] = []
    for _ in range(100_000):  # (valid JSON; deeper than Python's encoder recurses: 3.13's
        # takes 5,000 levels)
        deep = [deep]
    with pytest.raises(SerializationError, match="event 'a': payload is nested too deep"):
        scheduler.emit("a", deep)
    assert RUNS == []


def test_a_filter_chooses_the_events(scheduler: Scheduler) -> None:
    scheduler.add_job(record, EventTrigger("order", filter=only_big), id="big")
    scheduler.add_job(record, EventTrigger("order", filter={"country": "FR"}), id="fr")
    scheduler.open()
    scheduler.emit("order", {"total": 150, "country": "DE"})
    scheduler.emit("order", {"total": 5, "country": "FR"})
    scheduler.emit("order", {"total": 500, "country": "FR"})
    assert payloads("big") == [{"total": 150, "country": "DE"}, {"total": 500, "country": "FR"}]
    assert payloads("fr") == [{"total": 5, "country": "FR"}, {"total": 500, "country": "FR"}]


@pytest.mark.parametrize(
    ("reference", "error", "reason"),
    [
        ("tests.test_events:only_bigg", JobLookupError, "'tests.test_events' has no 'only_bigg'"),
        ("tests.no_such_module:f", JobLookupError, "cannot import module 'tests.no_such_module'"),
        ("tests.test_events:START", TypeError, "names a datetime, not a callable"),
    ],
    ids=["typo", "no-module", "not-callable"],
)
def test_a_filter_reference_that_does_not_resolve_is_refused_where_the_job_is_added(
    scheduler: Scheduler, reference: str, error: type[Exception], reason: str
) -> None:
    # It was accepted, and every event then logged that the filter raised: the job
    # never ran. A function reference that does not resolve is refused at add_job; so
    # is a filter's now, as add_job, add_jobs and reschedule_job see it.
    scheduler.add_job(record, EventTrigger("order"), id="kept")
    expected = f"^filter='{reference}' of the trigger on event 'order' cannot be used: .*{reason}"
    trigger = OrTrigger(
        [CronTrigger("0 9 * * *", timezone="UTC"), EventTrigger("order", filter=reference)]
    )
    with pytest.raises(error, match=expected):
        scheduler.add_job(record, trigger, id="o")
    with pytest.raises(error, match=r"^jobs\[0\]: " + expected[1:]):  # (the item named)
        scheduler.add_jobs([{"func": record, "trigger": EventTrigger("order", filter=reference)}])
    with pytest.raises(error, match=expected):
        scheduler.reschedule_job("kept", EventTrigger("order", filter=reference))
    assert [(job.id, job.trigger) for job in scheduler.get_jobs()] == [
        ("kept", EventTrigger("order"))
    ]
    # Building the trigger imports nothing (a stored one is rebuilt by readers that must
    # run no code): only adding a job resolves it.
    assert trigger_from_dict(EventTrigger("order", filter=reference).to_dict()).filter == reference


def test_a_filter_in_a_module_still_being_imported_is_looked_for_later(
    scheduler: Scheduler, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A module that adds a job at import, its filter defined below that line (as a
    # decorator at the top of a module would): the name is bound once the import ends.
    (tmp_path / "tw_filter_module.py").write_text(
        "from tickwork import EventTrigger\n"
        "from tests.test_events import record\n"
        "from tests import test_events\n"
        "test_events.SCHEDULERS[-1].add_job(\n"
        "    record, EventTrigger('order', filter='tw_filter_module:is_big'), id='early'\n"
        ")\n"
        "def is_big(payload):\n"
        "    return payload > 10\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "tw_filter_module", raising=False)
    SCHEDULERS.append(scheduler)
    try:
        importlib.import_module("tw_filter_module")
        scheduler.open()
        scheduler.emit("order", 5)
        scheduler.emit("order", 50)
    finally:
        SCHEDULERS.remove(scheduler)
        sys.modules.pop("tw_filter_module", None)
    assert payloads("early") == [50]


SCHEDULERS: list[Scheduler] = []


def raising_filter(payload: Any) -> bool:
    raise KeyError("boom")


def test_a_filter_that_raises_skips_the_job_and_is_logged(
    scheduler: Scheduler, caplog: pytest.LogCaptureFixture
) -> None:
    scheduler.add_job(record, EventTrigger("a", filter=raising_filter), id="bad")
    scheduler.add_job(record, EventTrigger("a"), id="good")
    scheduler.open()
    scheduler.emit("a", 1)
    assert [job for job, _, _ in RUNS] == ["good"]
    assert "the filter of job 'bad' raised" in caplog.text


def test_debounce_runs_once_with_the_last_event_after_the_quiet_period(
    scheduler: Scheduler, clock: FakeClock
) -> None:
    scheduler.add_job(record, EventTrigger("save", debounce=10), id="j")
    scheduler.open()
    for n in range(4):  # a burst: one every 3 s
        scheduler.emit("save", n)
        advance(scheduler, 3)
    assert RUNS == []  # still within 10 s of the last event
    advance(scheduler, 6)  # 9 s after the last
    assert RUNS == []
    advance(scheduler, 1)  # 10 s after the last
    assert payloads() == [3]
    assert RUNS[0][2] == START + timedelta(seconds=9 + 10)
    advance(scheduler, 60)
    assert len(RUNS) == 1
    scheduler.emit("save", "later")  # a new burst
    advance(scheduler, 10)
    assert payloads() == [3, "later"]


def test_throttle_runs_the_first_event_and_drops_the_rest_of_the_period(
    scheduler: Scheduler, clock: FakeClock
) -> None:
    scheduler.add_job(record, EventTrigger("ping", throttle=60), id="j")
    scheduler.open()
    for n in range(5):  # one every 20 s: t = 0, 20, 40, 60, 80
        scheduler.emit("ping", n)
        advance(scheduler, 20)
    # 0 runs (until 60), 1 and 2 are dropped, 3 (at 60) runs, 4 (at 80) is dropped.
    assert payloads() == [0, 3]


def test_or_trigger_runs_on_the_cron_side_and_on_events(
    scheduler: Scheduler, clock: FakeClock
) -> None:
    trigger = OrTrigger([CronTrigger("*/10 * * * *", timezone="UTC"), EventTrigger("go")])
    scheduler.add_job(record, trigger, id="j")
    scheduler.open()
    advance(scheduler, 60 * 5)  # 09:05
    scheduler.emit("go", "now")
    advance(scheduler, 60 * 5)  # 09:10: the cron side
    times = [(event is None, at) for _, event, at in RUNS]
    assert times == [
        (True, START),  # 09:00, a cron fire: no event
        (False, START + timedelta(minutes=5)),
        (True, START + timedelta(minutes=10)),
    ]
    assert payloads() == [None, "now", None]


def test_a_paused_job_ignores_events(scheduler: Scheduler) -> None:
    scheduler.add_job(record, EventTrigger("a"), id="j")
    scheduler.open()
    scheduler.pause_job("j")
    scheduler.emit("a", 1)
    scheduler.resume_job("j")
    scheduler.emit("a", 2)
    assert payloads() == [2]


def test_events_emitted_before_start_run_when_it_starts(
    scheduler: Scheduler, clock: FakeClock
) -> None:
    scheduler.add_job(record, EventTrigger("a"), id="j")
    scheduler.emit("a", "early")
    assert RUNS == []
    scheduler.open()
    scheduler.process_due()
    assert payloads() == ["early"]


def flaky() -> None:
    record()
    if current_run().attempt == 1:
        raise RuntimeError("first attempt fails")


def test_a_retry_of_an_event_run_carries_the_event(scheduler: Scheduler, clock: FakeClock) -> None:
    scheduler.add_job(
        flaky,
        EventTrigger("a"),
        id="j",
        retry=RetryPolicy(attempts=2, delay=5, jitter=0),
    )
    scheduler.open()
    scheduler.emit("a", {"n": 1})
    advance(scheduler, 5)
    assert payloads() == [{"n": 1}, {"n": 1}]
    assert [run.attempt for run in scheduler.history("j")][::-1] == [1, 2]


def test_a_retry_of_an_event_run_waiting_at_shutdown_is_left_for_the_next_process(
    clock: FakeClock, tmp_path: Path
) -> None:
    # It was recorded skipped ("the scheduler shut down before this retry was due") and
    # the event's work was lost, where a scheduled job's retry is left in the file. The
    # event goes back to the store: the next process runs it (from its first attempt).
    path = tmp_path / "jobs.db"
    inline = {"default": InlineExecutor()}
    first = Scheduler(store=SQLiteStore(path), clock=clock, executors=inline, timezone="UTC")
    first.add_job(flaky, EventTrigger("a"), id="j",
                  retry=RetryPolicy(attempts=3, delay=5, jitter=0))  # fmt: skip
    first.open()
    first.emit("a", {"order": 42})
    first.shutdown()
    second = Scheduler(store=SQLiteStore(path), clock=clock, timezone="UTC",
                       executors={"default": InlineExecutor()})  # fmt: skip
    second.open()
    advance(second, 6)  # (from its first attempt again: that fails, the retry succeeds)
    history = [(run.attempt, run.outcome.value) for run in second.history("j")][::-1]
    second.shutdown()
    assert payloads() == [{"order": 42}] * 3
    assert history == [(1, "failure"), (1, "failure"), (2, "success")]


def test_the_async_scheduler_emits_too(clock: FakeClock) -> None:
    async def main() -> list[Any]:
        sched = AsyncScheduler(clock=clock, executors={"default": InlineExecutor()})
        await sched.add_job(record, EventTrigger("a"), id="j")
        sched.engine.open()
        event = await sched.emit("a", [1])
        assert event.payload == [1]
        await sched.shutdown()
        return payloads()

    assert asyncio.run(main()) == [[1]]


def test_an_event_job_is_kept_in_a_sqlite_file_and_reloaded(
    tmp_path: Path, clock: FakeClock
) -> None:
    path = tmp_path / "jobs.db"
    first = Scheduler(store=SQLiteStore(path), clock=clock, executors={"default": InlineExecutor()})
    first.add_job(record, EventTrigger("a", debounce=5, filter={"k": 1}), id="j")
    first.open()
    first.shutdown()
    second = Scheduler(
        store=SQLiteStore(path), clock=clock, executors={"default": InlineExecutor()}
    )
    second.open()
    job = second.get_job("j")
    assert job is not None
    assert job.trigger == EventTrigger("a", debounce=5, filter={"k": 1})
    second.emit("a", {"k": 1})
    second.emit("a", {"k": 2})
    advance(second, 5)
    assert payloads() == [{"k": 1}]
    second.shutdown()


def test_a_debounced_event_waiting_at_shutdown_is_left_to_the_next_start(
    tmp_path: Path, clock: FakeClock
) -> None:
    path = tmp_path / "jobs.db"
    inline = {"default": InlineExecutor()}
    first = Scheduler(store=SQLiteStore(path), clock=clock, executors=inline)
    first.add_job(record, EventTrigger("a", debounce=30), id="j")
    first.open()
    first.emit("a", "waiting")
    advance(first, 10)
    first.shutdown()  # 20 s before the quiet period ends
    assert RUNS == []
    second = Scheduler(
        store=SQLiteStore(path), clock=clock, executors={"default": InlineExecutor()}
    )
    second.open()
    second.process_due()
    advance(second, 30)
    assert payloads() == ["waiting"]
    second.shutdown()


def test_tickwork_emit_writes_an_event_a_scheduler_on_the_file_runs(
    tmp_path: Path, clock: FakeClock, capsys: pytest.CaptureFixture[str]
) -> None:
    from tickwork.cli import main

    path = tmp_path / "jobs.db"
    sched = Scheduler(store=SQLiteStore(path), clock=clock, executors={"default": InlineExecutor()})
    sched.add_job(record, EventTrigger("order.created"), id="j")
    sched.open()
    assert main(["emit", str(path), "order.created", "--payload", '{"id": 3}', "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["event"]["name"] == "order.created"
    assert printed["event"]["payload"] == {"id": 3}
    assert RUNS == []  # written, not handled: the scheduler's poll finds it
    advance(sched, 1)
    assert payloads() == [{"id": 3}]
    [(_, event, _)] = RUNS
    assert event is not None
    assert event.id == printed["event"]["id"]
    advance(sched, 5)
    assert len(RUNS) == 1
    sched.shutdown()


def test_tickwork_emit_refuses_bad_json_and_a_missing_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tickwork.cli import main

    path = tmp_path / "jobs.db"
    assert main(["emit", str(path), "a"]) == 2
    assert "error:" in capsys.readouterr().err
    store = SQLiteStore(path)
    store.open()
    store.close()
    assert main(["emit", str(path), "a", "--payload", "{nope"]) == 2
    assert "--payload must be JSON" in capsys.readouterr().err
    deep = "[" * 100_000 + "]" * 100_000  # (JSON, deeper than any Python decodes)
    assert main(["emit", str(path), "a", "--payload", deep]) == 2
    assert capsys.readouterr().err == "error: --payload is nested too deep to store\n"
    assert main(["emit", str(path), "a", "--payload", "[1, 2]"]) == 0
    assert "Emitted event 'a'" in capsys.readouterr().out


def payload_of_event() -> Any:
    """A job for a worker process: return what it sees of its event."""
    event = current_run().event
    assert event is not None
    return [event.name, event.payload, event.id]


def test_a_process_executor_job_sees_its_event() -> None:
    from tickwork import EventKind
    from tickwork.executors import ProcessExecutor

    results: list[Any] = []
    done = threading.Event()

    def listen(event: Any) -> None:
        results.append(event.return_value if event.exception is None else event.exception)
        done.set()

    sched = Scheduler(executors={"default": ProcessExecutor(max_workers=1)})
    sched.add_listener(listen, EventKind.JOB_EXECUTED | EventKind.JOB_FAILED)
    sched.add_job(payload_of_event, EventTrigger("a"), id="j")
    sched.start()
    try:
        event = sched.emit("a", {"x": [1, 2]})
        assert done.wait(20)
    finally:
        sched.shutdown()
    assert results == [["a", {"x": [1, 2]}, event.id]]


def test_old_handled_events_are_pruned_with_the_history(tmp_path: Path, clock: FakeClock) -> None:
    from tests.dbfile import connect

    path = tmp_path / "jobs.db"
    store = SQLiteStore(path, history_days=1)
    sched = Scheduler(store=store, clock=clock, executors={"default": InlineExecutor()})
    sched.add_job(record, EventTrigger("a"), id="j")
    sched.open()
    sched.emit("a", "old")
    clock.advance(timedelta(days=2))
    sched.emit("a", "recent")
    sched.pause()
    sched.emit("a", "waiting")  # written, not handled: kept for a running scheduler
    store.prune_history(clock.now())
    with connect(path) as conn:
        kept = sorted(row[0] for row in conn.execute("SELECT payload FROM events"))
        slots = conn.execute("SELECT count(*) FROM event_runs").fetchone()[0]
    assert kept == ['"recent"', '"waiting"']
    assert slots == 1
    sched.shutdown()


FORK_SCRIPT = """
import os
from tickwork import EventTrigger, Scheduler
from tickwork.executors import InlineExecutor

def job():
    pass

scheduler = Scheduler(executors={"default": InlineExecutor()})
scheduler.add_job(job, EventTrigger("a"), id="j")
scheduler.open()
parent = scheduler.emit("a", 1).id
read, write = os.pipe()
pid = os.fork()
if pid == 0:
    os.write(write, scheduler.emit("a", 2).id.encode())
    os._exit(0)
os.close(write)
child = os.read(read, 64).decode()
os.waitpid(pid, 0)
print(parent, child, scheduler.emit("a", 3).id)
scheduler.shutdown()
"""


def test_a_forked_child_draws_event_ids_of_its_own() -> None:
    import os
    import subprocess
    import sys

    if not hasattr(os, "fork"):
        pytest.skip("no fork here")
    src = str(Path(__file__).resolve().parents[1] / "src")
    done = subprocess.run(
        [sys.executable, "-W", "error", "-c", FORK_SCRIPT],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, "PYTHONPATH": src},
        check=False,
    )
    assert done.returncode == 0, done.stderr
    parent, child, mine = done.stdout.split()
    assert child[:16] != parent[:16]  # the child drew a random part of its own
    assert mine[:16] == parent[:16]
    assert len({parent, child, mine}) == 3


async def confirm_async() -> None:
    event = current_run().event
    assert event is not None
    DELIVERED.append(event.payload)
    if len(DELIVERED) == 2 and ARRIVED is not None:
        ARRIVED.set()


DELIVERED: list[Any] = []
ARRIVED: asyncio.Event | None = None  # made per test (bound to its loop)


def test_an_async_scheduler_runs_a_coroutine_job_on_emit() -> None:
    async def main() -> list[Any]:
        global ARRIVED
        DELIVERED.clear()
        ARRIVED = asyncio.Event()
        async with AsyncScheduler(timezone="UTC") as sched:
            await sched.add_job(confirm_async, EventTrigger("a"), id="j", executor="asyncio")
            await sched.emit("a", {"n": 1})
            await sched.emit("a", {"n": 2})
            await asyncio.wait_for(ARRIVED.wait(), 5)
        return list(DELIVERED)

    assert asyncio.run(main()) == [{"n": 1}, {"n": 2}]


def emits_a_follow_up() -> None:
    record()
    event = current_run().event
    assert event is not None
    if event.name == "order.created":
        SCHEDULERS[-1].emit("order.confirmed", {"id": event.payload["id"]})


SCHEDULERS: list[Scheduler] = []


def test_a_job_may_emit_the_next_event(scheduler: Scheduler) -> None:
    SCHEDULERS.append(scheduler)
    try:
        scheduler.add_job(emits_a_follow_up, EventTrigger("order.created"), id="create")
        scheduler.add_job(record, EventTrigger("order.confirmed"), id="confirm")
        scheduler.open()
        scheduler.emit("order.created", {"id": 9})
        scheduler.process_due()
    finally:
        SCHEDULERS.pop()
    assert [(job, event.name if event else None) for job, event, _ in RUNS] == [
        ("create", "order.created"),
        ("confirm", "order.confirmed"),
    ]
    assert payloads("confirm") == [{"id": 9}]


def test_two_schedulers_that_read_the_same_events_run_each_once(
    tmp_path: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The race of two processes polling at once, made deterministic: B read the
    unhandled events before A took them, and claims them after."""
    path = tmp_path / "jobs.db"
    stores = [SQLiteStore(path), SQLiteStore(path)]
    first, second = (
        Scheduler(store=store, clock=clock, executors={"default": InlineExecutor()})
        for store in stores
    )
    for sched in (first, second):
        sched.add_job(record, EventTrigger("e"), id="j", replace_existing=True)
    writer = SQLiteStore(path)
    for n in range(20):
        event = EmittedEvent(id=f"{n:032x}", name="e", payload=n, emitted_at=START)
        writer.record_event(event, [], handled=False, now=START)
    writer.close()
    stale = stores[1].unhandled_events(limit=100)
    assert len(stale) == 20
    monkeypatch.setattr(stores[1], "unhandled_events", lambda *, limit: stale)
    first.open()
    first.process_due()
    second.open()
    second.process_due()
    assert sorted(payloads()) == list(range(20))  # each once, all by the first
    first.shutdown()
    second.shutdown()


def test_each_burst_of_a_debounced_job_runs_when_its_quiet_period_ends() -> None:
    # The thread driver sleeps until its next planned wake: an emit that starts a quiet
    # period must wake it to plan that period's end (only the first burst ran, the
    # later ones waited for a wake that never came).
    ran: list[Any] = []
    changed = threading.Condition()

    def job() -> None:
        event = current_run().event
        with changed:
            ran.append(None if event is None else event.payload)
            changed.notify_all()

    scheduler = Scheduler(timezone="UTC")
    scheduler.add_job(job, EventTrigger("x", debounce=0.05), id="deb")
    scheduler.start()
    try:
        for n in (1, 2, 3):
            scheduler.emit("x", n)
            with changed:
                assert changed.wait_for(lambda n=n: len(ran) == n, 5), ran  # type: ignore[misc]
    finally:
        scheduler.shutdown()
    assert ran == [1, 2, 3]


@pytest.mark.parametrize("persistent", [False, True])
def test_an_event_kept_before_start_comes_first_for_throttle(
    clock: FakeClock, tmp_path: Path, persistent: bool
) -> None:
    # "The first event runs at once": the one emitted before start (kept in memory, or
    # in the store), not one emitted after start but handled before it.
    store: Any = SQLiteStore(tmp_path / "jobs.db") if persistent else None
    scheduler = Scheduler(
        clock=clock, store=store, executors={"default": InlineExecutor()}, timezone="UTC"
    )
    try:
        scheduler.add_job(f"{__name__}:record", EventTrigger("ping", throttle=60), id="j")
        scheduler.emit("ping", "before start")
        scheduler.open(paused=True)  # (advance drives it: no thread of its own)
        scheduler.resume()
        scheduler.emit("ping", "after start")
        advance(scheduler, 1)
    finally:
        scheduler.shutdown()
    assert payloads() == ["before start"]
