"""``tickwork.tracing``: a span per run, current while the job runs in a thread (the
job's own spans are its children), or made from events with the executor's exact
times; checked with opentelemetry-sdk's in-memory exporter."""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

pytest.importorskip("opentelemetry.sdk")

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from tickwork import RetryPolicy, Scheduler
from tickwork.aio import AsyncScheduler
from tickwork.executors import InlineExecutor, ProcessExecutor, ThreadExecutor
from tickwork.stores import MemoryStore
from tickwork.testing import FakeClock, run_until
from tickwork.tracing import instrument

UTC = timezone.utc
T0 = datetime(2024, 1, 1, 12, tzinfo=UTC)

provider: TracerProvider | None = None
clock_for_jobs: FakeClock | None = None
done = threading.Event()


def with_a_child_span() -> str:
    assert provider is not None
    with provider.get_tracer("the job").start_as_current_span("query the database"):
        pass
    done.set()
    return "ok"


def fails() -> None:
    raise ValueError("no such table")


def takes_three_seconds() -> None:
    assert clock_for_jobs is not None
    clock_for_jobs.advance(3)


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    global provider
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    yield memory
    provider.shutdown()
    provider = None


def runs(exporter: InMemorySpanExporter) -> list[ReadableSpan]:
    return [s for s in exporter.get_finished_spans() if s.instrumentation_scope.name == "tickwork"]


def attributes(span: ReadableSpan) -> dict[str, Any]:
    return dict(span.attributes or {})


def test_the_span_is_current_while_the_job_runs_in_a_thread(
    exporter: InMemorySpanExporter,
) -> None:
    done.clear()
    clock = FakeClock(T0)
    runner = Scheduler(clock=clock, executors={"default": ThreadExecutor(2)}, timezone="UTC")
    runner.add_job(with_a_child_span, "date", run_date=T0 - timedelta(seconds=2), id="nightly",
                   misfire_grace_time=None)  # fmt: skip
    instrument(runner, tracer_provider=provider)
    runner.start()
    try:
        assert done.wait(5)
        for _ in range(200):  # the run span ends as the function returns
            if runs(exporter):
                break
            done.wait(0.01)
    finally:
        runner.shutdown()
    [span] = runs(exporter)
    [child] = [s for s in exporter.get_finished_spans() if s.name == "query the database"]
    assert span.name == "nightly"
    assert child.parent is not None
    assert child.parent.span_id == span.context.span_id
    assert child.context.trace_id == span.context.trace_id
    assert attributes(span) == {
        "tickwork.job.id": "nightly",
        "tickwork.run.id": "nightly@2024-01-01T11:59:58Z#1",
        "tickwork.run.scheduled_at": (T0 - timedelta(seconds=2)).isoformat(),
        "tickwork.run.attempt": 1,
        "tickwork.run.lateness": 2.0,
        "tickwork.run.outcome": "success",
    }
    assert span.status.status_code is StatusCode.UNSET


def test_a_failed_run_records_its_exception_and_an_error_status(
    exporter: InMemorySpanExporter,
) -> None:
    clock = FakeClock(T0)
    runner = Scheduler(clock=clock, executors={"default": InlineExecutor()}, timezone="UTC")
    runner.add_job(fails, "date", run_date=T0, id="fails",
                   retry=RetryPolicy(attempts=2, delay=1.0, jitter=0))  # fmt: skip
    instrument(runner, tracer_provider=provider)
    runner.open()
    run_until(runner, T0 + timedelta(seconds=5))
    spans = runs(exporter)
    assert [attributes(s)["tickwork.run.attempt"] for s in spans] == [1, 2]
    assert len(spans) == 2  # one per attempt, none twice (the hook's, not the event's)
    for span in spans:
        assert attributes(span)["tickwork.run.outcome"] == "failure"
        assert span.status.status_code is StatusCode.ERROR
        [event] = span.events
        assert event.name == "exception"
        assert (event.attributes or {})["exception.type"] == "ValueError"
        assert (event.attributes or {})["exception.message"] == "no such table"
    runner.shutdown()


class Elsewhere(InlineExecutor):
    """An executor without run hooks (as if its jobs ran in another process)."""

    runs_hooks = False


def test_an_executor_without_hooks_gets_spans_from_events_with_exact_times(
    exporter: InMemorySpanExporter,
) -> None:
    global clock_for_jobs
    clock = clock_for_jobs = FakeClock(T0 + timedelta(seconds=1))
    runner = Scheduler(clock=clock, executors={"default": Elsewhere()}, timezone="UTC")
    runner.add_job(takes_three_seconds, "date", run_date=T0, id="far", misfire_grace_time=None)
    instrument(runner, tracer_provider=provider)
    runner.open()
    run_until(runner, T0 + timedelta(seconds=1))
    runner.shutdown()
    clock_for_jobs = None
    [span] = runs(exporter)
    assert span.start_time == (T0 + timedelta(seconds=1)).timestamp() * 1e9
    assert span.end_time == (T0 + timedelta(seconds=4)).timestamp() * 1e9
    assert attributes(span)["tickwork.run.lateness"] == 1.0
    assert attributes(span)["tickwork.run.outcome"] == "success"
    assert attributes(span)["tickwork.run.id"] == "far@2024-01-01T12:00:00Z#1"


def test_the_span_is_current_in_an_asyncio_task_and_its_worker_threads(
    exporter: InMemorySpanExporter,
) -> None:
    async def main() -> None:
        clock = FakeClock(T0)
        runner = AsyncScheduler(clock=clock, timezone="UTC")
        finished = asyncio.Event()

        async def coroutine_job() -> None:
            assert provider is not None
            with provider.get_tracer("the job").start_as_current_span("in the task"):
                await asyncio.sleep(0)
            finished.set()

        def plain_job() -> None:
            assert provider is not None
            with provider.get_tracer("the job").start_as_current_span("in a thread"):
                pass

        await runner.add_job(coroutine_job, "date", run_date=T0, id="coro")
        await runner.add_job(plain_job, "date", run_date=T0, id="plain", executor="asyncio")
        instrument(runner, tracer_provider=provider)
        await runner.start()
        await asyncio.wait_for(finished.wait(), 5)
        for _ in range(200):
            if len(runs(exporter)) == 2:
                break
            await asyncio.sleep(0.01)
        await runner.shutdown()

    asyncio.run(main())
    spans = {span.name: span for span in exporter.get_finished_spans()}
    for run, child in (("coro", "in the task"), ("plain", "in a thread")):
        parent = spans[child].parent
        assert parent is not None
        assert parent.span_id == spans[run].context.span_id
        assert attributes(spans[run])["tickwork.run.outcome"] == "success"


def test_a_run_cancelled_at_its_timeout_has_an_error_status_from_the_hook(
    exporter: InMemorySpanExporter,
) -> None:
    # The hook's span of a coroutine cancelled at its timeout ended UNSET, with no
    # exception event (OpenTelemetry records an Exception only; CancelledError is not).
    async def main() -> None:
        runner = AsyncScheduler(timezone="UTC")
        instrument(runner, tracer_provider=provider)

        async def stuck() -> None:
            await asyncio.sleep(10)

        await runner.start()
        await runner.add_job(stuck, "interval", hours=1, id="first", run_immediately=True,
                             timeout=0.05)  # fmt: skip
        for _ in range(300):  # (the first run's span comes from events: it adds the hook)
            if runs(exporter):
                break
            await asyncio.sleep(0.01)
        await runner.add_job(stuck, "interval", hours=1, id="hooked", run_immediately=True,
                             timeout=0.05)  # fmt: skip
        for _ in range(300):
            if len(runs(exporter)) == 2:
                break
            await asyncio.sleep(0.01)
        await runner.shutdown()

    asyncio.run(main())
    spans = {span.name: span for span in runs(exporter)}
    for name in ("first", "hooked"):
        span = spans[name]
        assert span.status.status_code is StatusCode.ERROR, name
        assert attributes(span)["tickwork.run.outcome"] == "failure"
        assert [event.name for event in span.events] == ["exception"], name


def test_an_executor_made_later_gets_the_hook_after_its_first_run(
    exporter: InMemorySpanExporter,
) -> None:
    done.clear()
    clock = FakeClock(T0)
    runner = Scheduler(clock=clock, executors={"default": InlineExecutor()}, timezone="UTC")
    instrument(runner, tracer_provider=provider)

    async def coroutine_job() -> None:
        assert provider is not None
        with provider.get_tracer("the job").start_as_current_span("child"):
            pass
        done.set()

    runner.add_job(coroutine_job, "interval", seconds=10, id="c")  # the "asyncio" executor
    runner.open()
    try:
        for fire in (1, 2):
            done.clear()
            run_until(runner, T0 + timedelta(seconds=10 * fire))
            assert done.wait(5)
            for _ in range(200):  # its result comes from the executor's loop thread
                runner.process_due()
                if len(runs(exporter)) == fire:
                    break
                done.wait(0.01)
    finally:
        runner.shutdown()
    first, second = runs(exporter)
    children = [s for s in exporter.get_finished_spans() if s.name == "child"]
    parents = [child.parent.span_id if child.parent else None for child in children]
    assert parents == [None, second.context.span_id]  # the first was made from events
    assert first.context.span_id not in parents


def test_uninstrument_stops_the_spans(exporter: InMemorySpanExporter) -> None:
    clock = FakeClock(T0)
    executor = InlineExecutor()
    runner = Scheduler(clock=clock, executors={"default": executor}, timezone="UTC")
    runner.add_job(fails, "interval", seconds=10, id="j", retry=None)
    tracing = instrument(runner, tracer_provider=provider)
    runner.open()
    run_until(runner, T0 + timedelta(seconds=10))
    tracing.uninstrument()
    run_until(runner, T0 + timedelta(seconds=30))
    assert len(runs(exporter)) == 1
    with pytest.raises(LookupError):
        executor.remove_run_hook(tracing.hook)
    runner.shutdown()


def test_a_process_executor_offers_no_hook() -> None:
    executor = ProcessExecutor()
    assert not executor.runs_hooks
    with pytest.raises(TypeError, match="ProcessExecutor does not run hooks"):
        executor.add_run_hook(lambda request: threading.Lock())


def test_a_failing_hook_is_logged_and_never_fails_the_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(request: Any) -> Any:
        raise RuntimeError("hook bug")

    clock = FakeClock(T0)
    executor = InlineExecutor()
    executor.add_run_hook(broken)
    runner = Scheduler(clock=clock, executors={"default": executor}, timezone="UTC")
    runner.add_job(with_a_child_span, "date", run_date=T0, id="j")
    global provider
    provider = TracerProvider()
    runner.open()
    run_until(runner, T0)
    [run] = runner.history("j")
    assert run.outcome.value == "success"
    assert "run hook" in caplog.text
    assert "hook bug" in caplog.text
    runner.shutdown()
    provider = None


def test_instrument_says_which_extra_it_needs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "opentelemetry", None)
    with pytest.raises(ImportError, match=r"tickwork\[otel\]"):
        instrument(Scheduler(store=MemoryStore()))


def test_instrument_refuses_what_is_not_a_scheduler() -> None:
    with pytest.raises(TypeError, match="got MemoryStore"):
        instrument(MemoryStore())  # type: ignore[arg-type]
