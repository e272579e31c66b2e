"""``tickwork.metrics``: what a scheduler and a store report, in a text that Prometheus's
own parser reads back, the same through prometheus_client's registry.

A fake clock drives the schedulers, so durations and lateness are exact: a job that
advances the clock by 2 s took 2 s.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("prometheus_client")

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from tickwork import Event, EventKind, LeaseExpired, RetryPolicy, Scheduler, StoreError
from tickwork.aio import AsyncScheduler
from tickwork.executors import InlineExecutor
from tickwork.metrics import (
    CONTENT_TYPE,
    LATENESS_BUCKETS,
    Metrics,
    instrument,
    render_store,
    store_families,
    wsgi_app,
)
from tickwork.stores import (
    JobStore,
    MemoryStore,
    ProcessListing,
    SQLiteStore,
    StatsListing,
)
from tickwork.stores._base import StatsRows
from tickwork.stores._contract import make_job
from tickwork.stores._shared_contract import claim_run
from tickwork.testing import FakeClock, run_until

from . import dbfile, pg

UTC = timezone.utc
T0 = datetime(2024, 1, 1, 12, tzinfo=UTC)
#: Job ids the text format must escape (a backslash, a double quote, a line feed) or
#: keep as they are (non-ASCII, braces, commas, an equals sign).
AWKWARD_IDS = ['say "hi"', "back\\slash", "two\nlines", 'all \\ " \n', "été {a=1,b}", "\\n"]

clock_for_jobs: FakeClock | None = None
pg_tables = pg.pg_tables  # (a schema of the test's own with tickwork's tables, emptied)


def takes_two_seconds() -> None:
    assert clock_for_jobs is not None
    clock_for_jobs.advance(2)


def fails() -> None:
    raise ValueError("no")


def quick() -> None:
    pass


# -- helpers ------------------------------------------------------------------------------


def parsed(text: str) -> dict[str, Any]:
    """The families of *text*, read by prometheus_client's parser: name to (type, help,
    {(sample name, labels): value})."""
    families = {}
    for family in text_string_to_metric_families(text):
        samples = {
            (sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for sample in family.samples
        }
        families[family.name] = (family.type, family.documentation, samples)
    return families


def value(text: str, name: str, **labels: str) -> float:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return float(sample.value)
    raise KeyError(f"no sample {name}{labels}")


def labelled(text: str, name: str, label: str) -> dict[str, float]:
    return {
        sample.labels[label]: float(sample.value)
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name
    }


@pytest.fixture
def clock() -> Iterator[FakeClock]:
    global clock_for_jobs
    clock_for_jobs = FakeClock(T0)
    yield clock_for_jobs
    clock_for_jobs = None


def scheduler(clock: FakeClock, store: JobStore | None = None) -> Scheduler:
    return Scheduler(
        store=store, clock=clock, executors={"default": InlineExecutor()}, timezone="UTC"
    )


# -- a running scheduler ------------------------------------------------------------------


def test_lateness_runs_to_the_start_of_a_run_queued_behind_others(clock: FakeClock) -> None:
    # It ran to the hand-over to the executor: runs queued behind busy workers (threads,
    # a task queue's) all showed as on time. Three 2 s runs due at once, one after the
    # other: they start 0, 2 and 4 s late.
    runner = scheduler(clock)
    metrics = instrument(runner)
    for n in range(3):
        runner.add_job(takes_two_seconds, "date", run_date=T0 + timedelta(seconds=10),
                       id=f"slow{n}")  # fmt: skip
    runner.open()
    run_until(runner, T0 + timedelta(seconds=10))
    text = metrics.render()
    assert value(text, "tickwork_fire_lateness_seconds_sum") == 6.0
    assert value(text, "tickwork_fire_lateness_seconds_count") == 3
    started = sorted(run.started_at - run.scheduled_at for run in runner.history())  # type: ignore[operator]
    assert started == [timedelta(0), timedelta(seconds=2), timedelta(seconds=4)]
    runner.shutdown()


def test_runs_are_counted_by_job_and_outcome_as_the_history_has_them(clock: FakeClock) -> None:
    runner = scheduler(clock)
    metrics = instrument(runner)
    runner.add_job(quick, "interval", seconds=10, id="quick")
    runner.add_job(fails, "interval", seconds=30, id="fails", retry=RetryPolicy(attempts=2))
    runner.open()
    run_until(runner, T0 + timedelta(minutes=2))
    text = metrics.render()
    history = runner.history(limit=1000)
    for job_id in ("quick", "fails"):
        for outcome in ("success", "failure"):
            expected = sum(1 for r in history if r.job_id == job_id and r.outcome.value == outcome)
            if expected:
                assert value(text, "tickwork_runs_total", job_id=job_id, outcome=outcome) == (
                    expected
                )
    assert value(text, "tickwork_runs_total", job_id="quick", outcome="success") == 12
    # Four fires of "fails" (at 0:30, 1:00, 1:30, 2:00), each attempt a failure, the
    # retries of the first three run too.
    assert value(text, "tickwork_runs_total", job_id="fails", outcome="failure") >= 7
    assert value(text, "tickwork_last_success_timestamp_seconds", job_id="quick") == (
        (T0 + timedelta(minutes=2)).timestamp()
    )
    runner.shutdown()


def test_durations_and_lateness_land_in_their_buckets(clock: FakeClock) -> None:
    runner = scheduler(clock)
    metrics = instrument(runner)
    runner.add_job(takes_two_seconds, "date", run_date=T0 + timedelta(seconds=10), id="slow")
    runner.add_job(quick, "date", run_date=T0 + timedelta(seconds=20), id="late",
                   misfire_grace_time=None)  # fmt: skip
    runner.open()
    run_until(runner, T0 + timedelta(seconds=10))  # "slow" runs on time, takes 2 s
    assert clock.now() == T0 + timedelta(seconds=12)
    clock.advance(timedelta(seconds=15))  # "late" was due 7 s ago
    runner.process_due()
    text = metrics.render()
    buckets = labelled(text, "tickwork_run_duration_seconds_bucket", "le")
    assert (buckets["1.0"], buckets["2.5"], buckets["+Inf"]) == (1, 2, 2)  # 0 s and 2 s
    assert value(text, "tickwork_run_duration_seconds_sum") == 2.0
    lateness = labelled(text, "tickwork_fire_lateness_seconds_bucket", "le")
    assert (lateness["0.001"], lateness["5.0"], lateness["30.0"]) == (1, 1, 2)  # 0 s and 7 s
    assert value(text, "tickwork_fire_lateness_seconds_sum") == 7.0
    assert value(text, "tickwork_fire_lateness_seconds_count") == 2
    assert len(lateness) == len(LATENESS_BUCKETS) + 1
    runner.shutdown()


def test_missed_and_skipped_fires_are_counted(clock: FakeClock) -> None:
    runner = scheduler(clock)
    metrics = instrument(runner)
    runner.add_job(quick, "interval", minutes=1, id="m", misfire_grace_time=5, catchup="none")
    events: list[Event] = []
    runner.add_listener(events.append, EventKind.JOB_MISSED)
    runner.open()
    clock.advance(timedelta(minutes=3, seconds=30))  # three fires passed, all too late
    runner.process_due()
    missed = sum(event.missed for event in events)
    assert missed >= 3
    text = metrics.render()
    assert value(text, "tickwork_missed_total", job_id="m") == missed
    metrics(Event(kind=EventKind.JOB_SKIPPED, at=T0, job_id="m", scheduled_at=T0, attempt=1))
    assert value(metrics.render(), "tickwork_skipped_total", job_id="m") == 1
    runner.shutdown()


def test_next_fire_and_paused_come_from_the_store_at_each_scrape(clock: FakeClock) -> None:
    runner = scheduler(clock)
    metrics = instrument(runner)
    runner.add_job(quick, "interval", minutes=5, id="a")
    runner.add_job(quick, "interval", minutes=7, id="b")
    runner.open()
    run_until(runner, T0 + timedelta(minutes=6))
    runner.pause_job("b")
    text = metrics.render()
    fires = labelled(text, "tickwork_next_fire_timestamp_seconds", "job_id")
    assert fires == {
        job.id: job.next_fire.timestamp() for job in runner.get_jobs() if job.next_fire
    }
    assert fires["a"] == (T0 + timedelta(minutes=10)).timestamp()
    assert labelled(text, "tickwork_job_paused", "job_id") == {"a": 0, "b": 1}
    assert value(text, "tickwork_jobs") == 2
    runner.shutdown()


def test_scheduler_up_follows_its_state(clock: FakeClock) -> None:
    runner = scheduler(clock)
    metrics = instrument(runner)
    runner.add_job(quick, "interval", minutes=5, id="a")

    def up() -> tuple[float, float]:
        text = metrics.render()
        return value(text, "tickwork_scheduler_up"), value(text, "tickwork_scheduler_paused")

    assert up() == (0, 0)
    assert "tickwork_next_fire_timestamp_seconds" not in metrics.render()  # not started
    runner.open()
    assert up() == (1, 0)
    runner.pause()
    assert up() == (1, 1)
    runner.resume()
    runner.shutdown()
    assert up() == (0, 0)


def test_a_run_taken_over_from_a_dead_process_counts_as_a_takeover(
    clock: FakeClock, tmp_path: Path
) -> None:
    path = tmp_path / "jobs.db"
    dead = SQLiteStore(path, lease_time=9)
    dead.add_job(make_job("a"))  # (its function: print)
    assert claim_run(dead) == 0  # its run is going when it "dies" (stops renewing)
    dead._leases.clear()  # (so closing it releases nothing: a crash)
    runner = scheduler(clock, SQLiteStore(path, lease_time=9))
    metrics = instrument(runner)
    runner.open()
    clock.advance(timedelta(seconds=10))  # its lease expired
    runner.process_due()
    text = metrics.render()
    assert value(text, "tickwork_takeovers_total") == 1
    assert value(text, "tickwork_runs_total", job_id="a", outcome="interrupted") == 1
    runner.shutdown()
    dead.close()


def test_the_listener_counts_each_kind_of_end() -> None:
    metrics = Metrics(scheduler(FakeClock(T0)))
    end = {"at": T0 + timedelta(seconds=3), "job_id": "j", "scheduled_at": T0, "attempt": 1}
    lease = LeaseExpired("cut off")
    for kind, exception in [
        (EventKind.JOB_RETRIED, ValueError("x")),  # a failed attempt, retried
        (EventKind.JOB_RETRIED, lease),  # a dead process's run, retried here
        (EventKind.JOB_INTERRUPTED, lease),  # ... not retried
        (EventKind.JOB_INTERRUPTED, None),  # cut off at shutdown
    ]:
        metrics(Event(kind=kind, exception=exception, started_at=T0, **end))
    metrics(Event(kind=EventKind.STORE_ERROR, at=T0, exception=StoreError("disk full")))
    text = metrics.render()
    assert value(text, "tickwork_runs_total", job_id="j", outcome="failure") == 1
    assert value(text, "tickwork_runs_total", job_id="j", outcome="interrupted") == 3
    assert value(text, "tickwork_takeovers_total") == 2
    assert value(text, "tickwork_store_errors_total") == 1
    assert value(text, "tickwork_run_duration_seconds_sum") == 12.0


def test_an_async_scheduler_is_instrumented_alike() -> None:
    async def main() -> str:
        clock = FakeClock(T0)
        runner = AsyncScheduler(clock=clock, timezone="UTC")
        metrics = instrument(runner)
        ran = asyncio.Event()

        async def job() -> None:
            ran.set()

        await runner.add_job(job, "date", run_date=T0, id="async")
        await runner.start()
        await asyncio.wait_for(ran.wait(), 5)
        # Its result reaches the scheduler on a later loop turn (the job's id is in the
        # text before that, in its next-fire gauge: wait for the run's own sample).
        for _ in range(500):
            if 'tickwork_runs_total{job_id="async",outcome="success"}' in metrics.render():
                break
            await asyncio.sleep(0.01)
        text = metrics.render()
        await runner.shutdown()
        return text

    text = asyncio.run(main())
    assert value(text, "tickwork_runs_total", job_id="async", outcome="success") == 1


class FailingStore(MemoryStore):
    def schedules(self) -> Any:
        raise StoreError("the disk is full")


def test_a_store_that_fails_at_a_scrape_leaves_out_the_job_gauges(
    clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    runner = scheduler(clock, FailingStore())
    metrics = instrument(runner)
    runner.add_job(quick, "interval", seconds=10, id="a")
    runner.open()
    run_until(runner, T0 + timedelta(seconds=10))
    text = metrics.render()
    assert "tickwork_next_fire_timestamp_seconds" not in parsed(text)
    assert value(text, "tickwork_runs_total", job_id="a", outcome="success") == 1
    assert "metrics could not read the jobs: the disk is full" in caplog.text
    runner.shutdown()


def test_instrument_refuses_what_is_not_a_scheduler() -> None:
    with pytest.raises(TypeError, match="Scheduler or an AsyncScheduler, got MemoryStore"):
        instrument(MemoryStore())  # type: ignore[arg-type]


# -- the text format ----------------------------------------------------------------------


@pytest.mark.parametrize("job_id", AWKWARD_IDS)
def test_a_job_id_comes_back_from_the_parser_as_it_was(clock: FakeClock, job_id: str) -> None:
    runner = scheduler(clock)
    metrics = instrument(runner)
    runner.add_job(quick, "interval", seconds=10, id=job_id)
    runner.open()
    run_until(runner, T0 + timedelta(seconds=10))
    for text in (metrics.render(), render_store(runner.store, now=clock.now())):
        assert job_id in labelled(text, "tickwork_next_fire_timestamp_seconds", "job_id")
    assert labelled(metrics.render(), "tickwork_runs_total", "job_id") == {job_id: 1}
    runner.shutdown()


def test_the_text_is_the_format_prometheus_client_writes(clock: FakeClock) -> None:
    runner = scheduler(clock)
    metrics = instrument(runner)
    for job_id in AWKWARD_IDS:
        runner.add_job(quick, "interval", seconds=10, id=job_id)
    runner.add_job(fails, "interval", seconds=20, id="fails")
    runner.open()
    run_until(runner, T0 + timedelta(minutes=1))
    registry = CollectorRegistry()
    collector = metrics.register(registry)
    theirs = generate_latest(registry).decode()
    ours = metrics.render()
    assert parsed(ours) == parsed(theirs)
    assert len(parsed(ours)) == 13
    # The lines too, but for how each writes a number (``2`` or ``2.0``).
    assert [line.split(" ")[0] for line in ours.splitlines()] == [
        line.split(" ")[0] for line in theirs.splitlines()
    ]
    registry.unregister(collector)
    assert generate_latest(registry) == b""
    runner.shutdown()


def test_a_registry_holds_one_started_scheduler_and_the_last_one_started(
    clock: FakeClock,
) -> None:
    # An app whose lifespan makes a scheduler at each start (FastAPI, its test client)
    # registers each in turn: the families were written once per lifespan, with
    # tickwork_scheduler_up both 0 and 1, and the same series twice.
    registry = CollectorRegistry()
    first = scheduler(clock)
    metrics = instrument(first)
    first.add_job(quick, "interval", seconds=10, id="job")
    first.open()
    collector = metrics.register(registry)
    # describe() names every family collect() gives: the registry refuses them twice.
    described = {metric.name for metric in collector.describe()}
    assert described == {metric.name for metric in collector.collect()}
    with pytest.raises(ValueError, match="registered in that registry already"):
        metrics.register(registry)
    second = scheduler(clock)
    second_metrics = instrument(second)
    second.open()
    with pytest.raises(ValueError, match="another started scheduler"):
        second_metrics.register(registry)
    first.shutdown()
    second_metrics.register(registry)  # the first one's are replaced
    text = generate_latest(registry).decode()
    assert text.count("# TYPE tickwork_scheduler_up gauge") == 1
    assert "tickwork_scheduler_up 1.0" in text
    second_metrics.unregister(registry)
    assert generate_latest(registry) == b""
    second_metrics.unregister(registry)  # (not there: nothing)
    by_hand = second_metrics.register(registry)
    registry.unregister(by_hand)  # prometheus_client's own call
    third = scheduler(clock)
    third.open()
    instrument(third).register(registry)  # the second, still started, is out
    third.shutdown()
    second.shutdown()


def test_register_without_prometheus_client_names_the_extra(
    clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    metrics = instrument(scheduler(clock))
    monkeypatch.setitem(sys.modules, "prometheus_client", None)
    with pytest.raises(ImportError, match=r"tickwork\[metrics\]"):
        metrics.register()
    assert "tickwork_runs_total" in metrics.render()  # which needs nothing


# -- a store alone ------------------------------------------------------------------------


class Plain(JobStore):
    """A store with no StatsListing and no ProcessListing: render_store reads its jobs
    and history the long way."""

    def __init__(self, inner: MemoryStore) -> None:
        self.inner = inner

    def add_job(self, job: Any, *, replace: bool = False) -> None:
        self.inner.add_job(job, replace=replace)

    def update_job(self, job: Any, *, schedule: bool = True) -> None:
        self.inner.update_job(job, schedule=schedule)

    def remove_job(self, job_id: str) -> None:
        self.inner.remove_job(job_id)

    def get_job(self, job_id: str) -> Any:
        return self.inner.get_job(job_id)

    def get_jobs(self) -> Any:
        return self.inner.get_jobs()

    def claim_fires(self, claims: Any, *, now: datetime) -> Any:
        return self.inner.claim_fires(claims, now=now)

    def record_runs(self, runs: Any, *, now: datetime) -> None:
        self.inner.record_runs(runs, now=now)

    def history(self, job_id: str | None = None, *, limit: int = 100) -> Any:
        return self.inner.history(job_id, limit=limit)

    def mark_broken(self, job_id: str, reason: str) -> None:
        self.inner.mark_broken(job_id, reason)

    def broken_jobs(self) -> dict[str, str]:
        return self.inner.broken_jobs()


def test_a_store_that_cannot_count_cheaply_says_the_same(clock: FakeClock) -> None:
    inner = MemoryStore()
    runner = scheduler(clock, inner)
    runner.add_job(quick, "interval", seconds=10, id="q")
    runner.add_job(fails, "interval", seconds=15, id="f")
    runner.add_job(quick, "interval", seconds=10, id="p")
    runner.open()
    run_until(runner, T0 + timedelta(minutes=1))
    runner.pause_job("p")
    inner.mark_broken("q", "its module is gone")
    fast = parsed(render_store(inner, now=clock.now()))
    slow = parsed(render_store(Plain(inner), now=clock.now()))
    assert {name for name in fast if not name.startswith("tickwork_process")} == set(slow)
    assert {name: fast[name] for name in slow} == slow
    assert (
        slow["tickwork_history_runs"][2][
            ("tickwork_history_runs", (("job_id", "f"), ("outcome", "failure")))
        ]
        == 4
    )
    assert slow["tickwork_broken_jobs"][2] == {("tickwork_broken_jobs", ()): 1}
    runner.shutdown()


def test_a_shared_store_tells_its_processes_and_broken_jobs(tmp_path: Path) -> None:
    path = tmp_path / "jobs.db"
    store = SQLiteStore(path, lease_time=9)
    store.add_jobs([make_job("a"), make_job("b")])
    store.maintain(T0)
    claim_run(store)
    with dbfile.connect(path) as conn:
        conn.execute("""UPDATE jobs SET trigger = '{"type": "lunar"}' WHERE id = 'b'""")
    reader = SQLiteStore(path)
    text = render_store(reader, now=T0)
    assert value(text, "tickwork_processes") == 1
    assert value(text, "tickwork_process_up", process=store.owner) == 1
    assert value(text, "tickwork_process_leases", process=store.owner) == 1
    assert value(text, "tickwork_process_last_seen_timestamp_seconds", process=store.owner) == (
        T0.timestamp()
    )
    assert value(text, "tickwork_job_broken", job_id="b") == 1
    assert labelled(text, "tickwork_next_fire_timestamp_seconds", "job_id") == {
        "a": (T0 + timedelta(seconds=10)).timestamp()
    }
    later = render_store(reader, now=T0 + timedelta(minutes=1))
    assert value(later, "tickwork_process_up", process=store.owner) == 0  # silent since
    store.close()
    reader.close()


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_a_row_nothing_has_loaded_that_does_not_decode_counts_as_broken(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Regression: a row another version wrote (a trigger type this one does not know)
    counted as a healthy job, with a next fire time, until something loaded it; the
    command line's jobs and check called it broken."""
    lunar = """UPDATE {}jobs SET trigger = '{{"type": "lunar"}}' WHERE id = '{}'"""
    if kind == "sqlite":
        path = tmp_path / "jobs.db"

        def store() -> Any:
            return SQLiteStore(path)

        def corrupt(job_id: str) -> None:
            with dbfile.connect(path) as conn:
                conn.execute(lunar.format("", job_id))

    else:
        import psycopg

        from tickwork.stores import PostgresStore

        schema = request.getfixturevalue("pg_tables")

        def store() -> Any:
            return PostgresStore(pg.dsn(), schema=schema)

        def corrupt(job_id: str) -> None:
            with psycopg.connect(pg.dsn(), autocommit=True) as conn:
                conn.execute(lunar.format(f'"{schema}".', job_id))

    def write(*ids: str) -> None:
        writer = store()
        writer.add_jobs([make_job(job_id) for job_id in ids])
        writer.close()

    write("a", "b")
    corrupt("b")
    reader = store()
    try:
        for _ in range(2):  # (the second scrape reads the mark the first one made)
            text = render_store(reader, now=T0)
            assert value(text, "tickwork_broken_jobs") == 1
            assert value(text, "tickwork_job_broken", job_id="b") == 1
            assert set(labelled(text, "tickwork_next_fire_timestamp_seconds", "job_id")) == {"a"}
        assert "lunar" in reader.broken_jobs()["b"]
        # Rows written after the first scrape (a metrics server keeps its store object)
        # are loaded by the next one: c is healthy, d is not.
        write("c", "d")
        corrupt("d")
        text = render_store(reader, now=T0)
        assert value(text, "tickwork_broken_jobs") == 2
        assert value(text, "tickwork_job_broken", job_id="d") == 1
        assert set(labelled(text, "tickwork_next_fire_timestamp_seconds", "job_id")) == {"a", "c"}
    finally:
        reader.close()


def test_render_store_refuses_a_naive_now() -> None:
    with pytest.raises(TypeError, match="aware"):
        store_families(MemoryStore(), now=datetime(2024, 1, 1))


# -- serving ------------------------------------------------------------------------------


Answer = tuple[str, dict[str, str], bytes]


def call(app: Any, path: str = "/metrics", method: str = "GET") -> Answer:
    answer: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]]) -> None:
        answer["status"], answer["headers"] = status, dict(headers)

    body = b"".join(app({"PATH_INFO": path, "REQUEST_METHOD": method}, start_response))
    return answer["status"], answer["headers"], body


def test_the_wsgi_app_serves_the_metrics_of_a_scheduler_or_a_store(clock: FakeClock) -> None:
    runner = scheduler(clock)
    metrics = instrument(runner)
    runner.add_job(quick, "interval", seconds=10, id="a")
    runner.open()
    run_until(runner, T0 + timedelta(seconds=10))
    status, headers, body = call(wsgi_app(metrics))
    assert (status, headers["Content-Type"]) == ("200 OK", CONTENT_TYPE)
    assert int(headers["Content-Length"]) == len(body)
    assert value(body.decode(), "tickwork_runs_total", job_id="a", outcome="success") == 1
    assert call(wsgi_app(metrics), "/")[0] == "200 OK"  # mounted at /metrics itself
    status, _, body = call(wsgi_app(runner.store))
    assert status == "200 OK"
    assert value(body.decode(), "tickwork_history_runs", job_id="a", outcome="success") == 1
    assert call(wsgi_app(metrics), "/metrics", "HEAD")[2] == b""
    assert call(wsgi_app(metrics), "/other")[0] == "404 Not Found"
    status, headers, _ = call(wsgi_app(metrics), "/metrics", "POST")
    assert (status, headers["Allow"]) == ("405 Method Not Allowed", "GET, HEAD")
    runner.shutdown()


def test_the_wsgi_app_answers_503_when_the_store_fails(tmp_path: Path) -> None:
    path = tmp_path / "jobs.db"
    store = SQLiteStore(path)
    store.add_job(make_job("a"))
    store.close()
    path.write_bytes(b"not a database at all" * 100)
    status, _, body = call(wsgi_app(SQLiteStore(path)))
    assert status == "503 Service Unavailable"
    assert b"not a SQLite database" in body


def test_wsgi_app_refuses_what_it_cannot_serve() -> None:
    with pytest.raises(TypeError, match="got int"):
        wsgi_app(3)  # type: ignore[arg-type]


class _WithoutRows:
    """A SQL store's jobs, history and processes without its rows of µs: render_store
    then makes a datetime of each next fire and newest run (``schedules()``,
    ``run_counts()``) and turns it back into a Unix time. (Methods of its own, not
    ``__getattr__``: protocol checks look at the class from Python 3.12 on.)"""

    def __init__(self, store: Any) -> None:
        self.store = store

    def get_jobs(self) -> Any:
        return self.store.get_jobs()

    def history(self, job_id: str | None = None, *, limit: int = 100) -> Any:
        return self.store.history(job_id, limit=limit)

    def broken_jobs(self) -> dict[str, str]:
        return dict(self.store.broken_jobs())

    def schedules(self) -> Any:
        return self.store.schedules()

    def run_counts(self) -> Any:
        return self.store.run_counts()

    def processes(self, *, now: datetime) -> Any:
        return self.store.processes(now=now)


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_a_sql_store_read_as_rows_of_microseconds_says_the_same(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """render_store of a SQL store reads next fires and newest runs as µs and writes them
    as Unix times with no datetime made: the text is the same, byte for byte, as through
    ``schedules()`` and ``run_counts()``, and an outcome a newer tickwork wrote is left
    out both ways (and by ``history()``)."""
    schema = ""
    if kind == "sqlite":
        fast: Any = SQLiteStore(tmp_path / "jobs.db")
    else:
        from tickwork.stores import PostgresStore

        schema = request.getfixturevalue("pg_tables")
        fast = PostgresStore(pg.dsn(), schema=schema)
    slow: Any = _WithoutRows(fast)
    assert isinstance(fast, StatsRows)
    assert not isinstance(slow, StatsRows)
    assert isinstance(slow, StatsListing)
    assert isinstance(slow, ProcessListing)
    clock = FakeClock(T0 + timedelta(microseconds=123_457))  # (a fraction to carry)
    runner = scheduler(clock, fast)
    runner.add_job(quick, "interval", seconds=10, id="q")
    runner.add_job(fails, "interval", seconds=15, id="f")
    runner.add_job(quick, "interval", seconds=7, id="p")
    runner.add_job(quick, "date", run_date=T0 + timedelta(days=1), id="later")
    runner.open()
    run_until(runner, T0 + timedelta(minutes=1, microseconds=1))
    runner.pause_job("p")
    last_q = runner.history("q", limit=1)[0].finished_at
    runs_q = runner.history("q", limit=1000)
    runner.shutdown()
    unknown = ("q", 1, "UTC", 1, "vanished", 1, 2, None, None, "elsewhere", 3)
    columns = "job_id, scheduled_us, zone, attempt, outcome, started_us, finished_us, "
    columns += "error_type, error_message, process, recorded_us"
    if kind == "sqlite":
        with dbfile.connect(tmp_path / "jobs.db") as conn:
            conn.execute(f"INSERT INTO history ({columns}) VALUES ({', '.join('?' * 11)})", unknown)
    else:
        import psycopg

        with psycopg.connect(pg.dsn(), autocommit=True) as conn:
            conn.execute(
                f'INSERT INTO "{schema}".history ({columns}) VALUES ({", ".join(["%s"] * 11)})',
                unknown,
            )
    now = T0 + timedelta(minutes=2)
    text = render_store(fast, now=now)
    assert text == render_store(slow, now=now)
    assert "vanished" not in text
    # history() leaves it out too (it used to fail whole on it: ValueError).
    assert fast.history("q", limit=1000) == runs_q
    assert fast.history(limit=1)[0].outcome.value != "vanished"
    assert labelled(text, "tickwork_next_fire_timestamp_seconds", "job_id")["later"] == (
        (T0 + timedelta(days=1)).timestamp()
    )
    assert value(text, "tickwork_job_paused", job_id="p") == 1
    assert value(text, "tickwork_history_runs", job_id="f", outcome="failure") == 3
    assert last_q is not None
    assert value(text, "tickwork_last_success_timestamp_seconds", job_id="q") == (
        last_q.timestamp()
    )
    fast.close()
