"""``BatchExecutor.submit_many``: the hand-over the thread, asyncio and process
executors share, checked on a minimal subclass and on each of them."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence

import pytest

from tickwork._clock import SystemClock
from tickwork._errors import SchedulerStateError
from tickwork._model import RunRequest
from tickwork.executors import AsyncioExecutor, ProcessExecutor, ThreadExecutor
from tickwork.executors._base import BatchExecutor

from . import jobs
from .jobs import Recorder, make_request


class Queue(BatchExecutor):
    """Keeps batches; says whether its lock was held when each came in."""

    kind = "test"

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._closed = False
        self.batches: list[list[RunRequest]] = []
        self.locked: list[bool] = []

    def _enqueue(self, batch: Sequence[RunRequest]) -> None:
        self.locked.append(self._lock.locked())
        self.batches.append(list(batch))

    def submit(self, request: RunRequest) -> None:
        self.submit_many((request,))

    def shutdown(self, wait: bool = True, timeout: float | None = None) -> None:
        with self._lock:
            self._closed = True


def test_a_batch_is_enqueued_whole_under_the_lock() -> None:
    queue = Queue()
    requests = [make_request(jobs.add, n, 1) for n in range(3)]
    queue.submit_many(requests)
    queue.submit_many(make_request(jobs.add, n, 1) for n in range(2))  # any iterable
    assert queue.batches[0] == requests
    assert len(queue.batches[1]) == 2
    assert queue.locked == [True, True]


def test_an_empty_batch_enqueues_nothing() -> None:
    queue = Queue()
    queue.submit_many([])
    queue.submit_many(iter(()))
    assert queue.batches == []


def test_a_closed_executor_refuses_naming_itself_and_enqueues_nothing() -> None:
    queue = Queue()
    queue.shutdown()
    with pytest.raises(
        SchedulerStateError, match=r"^cannot submit runs: the test executor is shut down$"
    ):
        queue.submit_many([make_request(jobs.add, 1, 1)])
    with pytest.raises(SchedulerStateError):
        queue.submit_many([])  # refused even when there is nothing to queue
    assert queue.batches == []


# -- the executors built on it ----------------------------------------------------------

FACTORIES: dict[str, Callable[[], BatchExecutor]] = {
    "thread": ThreadExecutor,
    "asyncio": AsyncioExecutor,
    "process": lambda: ProcessExecutor(max_workers=1),
}


@pytest.fixture(params=sorted(FACTORIES))
def executor(request: pytest.FixtureRequest) -> Iterator[BatchExecutor]:
    made = FACTORIES[request.param]()
    made.start(Recorder(), SystemClock())
    yield made
    made.shutdown(wait=True, timeout=5)


def test_each_executor_names_itself_when_shut_down(executor: BatchExecutor) -> None:
    executor.shutdown(wait=True)
    message = f"cannot submit runs: the {executor.kind} executor is shut down"
    with pytest.raises(SchedulerStateError) as caught:
        executor.submit_many([make_request(jobs.add, 1, 1)])
    assert str(caught.value) == message


def test_an_empty_batch_starts_nothing(executor: BatchExecutor) -> None:
    executor.submit_many([])
    # No worker thread, event loop or dispatcher was started for it.
    started = {
        "thread": lambda: bool(executor._threads),  # type: ignore[attr-defined]
        "asyncio": lambda: executor._loop is not None,  # type: ignore[attr-defined]
        "process": lambda: executor._dispatcher is not None,  # type: ignore[attr-defined]
    }
    assert not started[executor.kind]()


def test_the_asyncio_loop_gets_a_copy_of_the_batch() -> None:
    executor = AsyncioExecutor()
    recorder = Recorder()
    executor.start(recorder, SystemClock())
    batch = [make_request(jobs.add, n, 1) for n in range(3)]
    executor.submit_many(batch)
    batch.clear()  # the caller may reuse its list at once
    results = recorder.wait_for(3)
    assert sorted(result.return_value for result in results) == [1, 2, 3]
    executor.shutdown(wait=True, timeout=5)
