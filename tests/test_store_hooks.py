"""The engine's side of the optional store protocols: wake-ups and the database's clock.

* A :class:`~tickwork.stores.NotifyingStore` wakes the scheduler when another process
  changed something; the change is taken in at once, not at the next poll. Here the
  "other process" is a second ``SQLiteStore`` on the same file, and the notification
  is sent by the test, from a thread of its own, as a store's listener would.
* A :class:`~tickwork.stores.ClockedStore` has the clock every host agrees on: a
  scheduler on the real clock schedules by it. Here hosts whose clocks are 30 s fast
  or slow (``SystemClock`` subclasses) share a "database" on the true time.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from tickwork import AsyncScheduler, EventKind, Scheduler, StoreError
from tickwork._clock import SAMPLES, CorrectedClock, SystemClock
from tickwork._driver import Pacer
from tickwork._engine import Engine
from tickwork.stores import ClockedStore, MemoryStore, NotifyingStore, SQLiteStore
from tickwork.testing import FakeClock

from .jobs_for_tests import Events

UTC = timezone.utc
T0 = datetime(2024, 1, 1, tzinfo=UTC)
NOOP = "tests.jobs_for_tests:noop"
LIMIT = 3.0


def true_now() -> datetime:
    return datetime.now(UTC)


# -- fake stores ------------------------------------------------------------------------


class NotifyingSQLite(SQLiteStore):
    """A shared store that tells its subscribers when the test says so, and counts
    the reads of changes (``sync``)."""

    def __init__(self, *args: Any, fail_subscribe: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.subscribers: list[tuple[Callable[[], None], Any]] = []
        self.syncs = 0
        self.synced = threading.Condition()
        self._fail_subscribe = fail_subscribe

    def subscribe(
        self,
        callback: Callable[[], None],
        on_error: Callable[[BaseException], None] | None = None,
    ) -> Callable[[], None]:
        if self._fail_subscribe:
            raise StoreError("this store cannot listen (test)")
        entry = (callback, on_error)
        self.subscribers.append(entry)

        def unsubscribe() -> None:
            if entry in self.subscribers:
                self.subscribers.remove(entry)

        return unsubscribe

    def sync(self) -> Any:
        result = super().sync()
        with self.synced:
            self.syncs += 1
            self.synced.notify_all()
        return result

    def wait_syncs(self, count: int) -> None:
        with self.synced:
            assert self.synced.wait_for(lambda: self.syncs >= count, LIMIT), self.syncs

    def from_thread(self, action: Callable[[], None]) -> None:
        """Run *action* in a thread of its own, as a store's listener does."""
        thread = threading.Thread(target=action)
        thread.start()
        thread.join()

    def notify(self, times: int = 1) -> None:
        def send() -> None:
            for _ in range(times):
                for callback, _ in list(self.subscribers):
                    callback()

        self.from_thread(send)

    def lose_hearing(self, error: BaseException) -> None:
        def send() -> None:
            for _, on_error in list(self.subscribers):
                on_error(error)

        self.from_thread(send)


class ClockedMemory(MemoryStore):
    """A store whose "database" clock is *source* (the true time unless told)."""

    def __init__(self, source: Callable[[], datetime] = true_now) -> None:
        super().__init__()
        self.source = source
        self.reads = 0

    def database_now(self) -> datetime:
        self.reads += 1
        return self.source()


class FastClock(SystemClock):
    """A host clock 30 s ahead of the true time."""

    def now(self) -> datetime:
        return super().now() + timedelta(seconds=30)


class SlowClock(SystemClock):
    """A host clock 30 s behind the true time."""

    def now(self) -> datetime:
        return super().now() - timedelta(seconds=30)


def test_the_fake_stores_offer_the_protocols(tmp_path: Path) -> None:
    store = NotifyingSQLite(tmp_path / "jobs.db")
    try:
        assert isinstance(store, NotifyingStore)
        assert not isinstance(store, ClockedStore)
        assert isinstance(ClockedMemory(), ClockedStore)
        assert not isinstance(SQLiteStore(":memory:"), NotifyingStore)
    finally:
        store.close()


# -- wake-ups ---------------------------------------------------------------------------


@pytest.fixture
def stores(tmp_path: Path) -> Iterator[tuple[NotifyingSQLite, SQLiteStore]]:
    """A notifying store polled every minute, and a peer process's store on its file."""
    path = tmp_path / "jobs.db"
    ours = NotifyingSQLite(path, poll_interval=60)
    peer = SQLiteStore(path)
    yield ours, peer
    ours.close()
    peer.close()


def add_from_peer(peer: SQLiteStore, job_id: str, when: datetime | None = None) -> None:
    """Another process adds a date job due at *when* (now by default)."""
    other = Scheduler(store=peer, timezone="UTC")
    other.add_job(NOOP, "date", run_date=when or true_now(), id=job_id)
    other.shutdown()


def not_within(events: Events, kind: EventKind, seconds: float) -> bool:
    """True when no event of *kind* arrived within *seconds* (a wait, not a sleep)."""
    try:
        events.wait_for(kind, limit=seconds)
    except AssertionError:
        return True
    return False


def test_a_notification_wakes_the_scheduler_and_the_change_is_taken_at_once(
    stores: tuple[NotifyingSQLite, SQLiteStore],
) -> None:
    ours, peer = stores
    events = Events()
    scheduler = Scheduler(store=ours, timezone="UTC")
    scheduler.add_listener(events)
    scheduler.start()
    try:
        assert len(ours.subscribers) == 1
        ours.wait_syncs(1)  # the first step reads what changed before it listened
        add_from_peer(peer, "from-peer")
        # Polled every 60 s: without a word from the store, nothing runs.
        assert not_within(events, EventKind.JOB_EXECUTED, 0.3)
        told = true_now()
        ours.notify()
        (ran,) = events.wait_for(EventKind.JOB_EXECUTED, job_id="from-peer")
        assert (ran.at - told).total_seconds() < 0.5
    finally:
        scheduler.shutdown()
    assert ours.subscribers == []  # unsubscribed at shutdown


def test_a_notification_wakes_an_async_scheduler(
    stores: tuple[NotifyingSQLite, SQLiteStore],
) -> None:
    ours, peer = stores
    events = Events()

    async def main() -> None:
        scheduler = AsyncScheduler(store=ours, timezone="UTC")
        scheduler.add_listener(events)
        await scheduler.start()
        try:
            assert len(ours.subscribers) == 1
            await asyncio.to_thread(ours.wait_syncs, 1)
            add_from_peer(peer, "from-peer")
            await asyncio.to_thread(ours.notify)
            await asyncio.to_thread(events.wait_for, EventKind.JOB_EXECUTED, 1, LIMIT, "from-peer")
        finally:
            await scheduler.shutdown()

    asyncio.run(main())
    assert ours.subscribers == []


def test_a_burst_of_notifications_is_a_few_reads_not_one_each(
    stores: tuple[NotifyingSQLite, SQLiteStore],
) -> None:
    ours, peer = stores
    events = Events()
    scheduler = Scheduler(store=ours, timezone="UTC")
    scheduler.add_listener(events)
    scheduler.start()
    try:
        ours.wait_syncs(1)
        before = ours.syncs
        add_from_peer(peer, "burst")
        ours.notify(times=1000)
        events.wait_for(EventKind.JOB_EXECUTED, job_id="burst")
        # (the run's end may cause a step, but not a read of changes)
        assert 1 <= ours.syncs - before <= 10
    finally:
        scheduler.shutdown()


def test_lost_hearing_is_one_event_and_a_log_line_and_polling_goes_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "jobs.db"
    ours = NotifyingSQLite(path, poll_interval=0.2)
    peer = SQLiteStore(path)
    events = Events()
    scheduler = Scheduler(store=ours, timezone="UTC")
    scheduler.add_listener(events)
    scheduler.start()
    try:
        ours.wait_syncs(1)
        ours.lose_hearing(ConnectionError("LISTEN connection dropped"))
        ours.lose_hearing(ConnectionError("still down"))  # the same outage
        (event,) = events.wait_for(EventKind.STORE_ERROR)
        assert isinstance(event.exception, StoreError)
        assert isinstance(event.exception.__cause__, ConnectionError)
        assert "NotifyingSQLite" in (event.reason or "")
        add_from_peer(peer, "polled")
        events.wait_for(EventKind.JOB_EXECUTED, job_id="polled")  # by the 0.2 s poll
        assert len(events.of(EventKind.STORE_ERROR)) == 1
        # It hears again; the next outage is a new one.
        ours.notify()
        ours.lose_hearing(ConnectionError("dropped again"))
        events.wait_for(EventKind.STORE_ERROR, count=2)
    finally:
        scheduler.shutdown()
        peer.close()
    lines = [r for r in caplog.records if "stopped telling" in r.getMessage()]
    assert len(lines) == 2
    assert all(r.levelno == logging.WARNING for r in lines)
    assert "NotifyingSQLite" in lines[0].getMessage()


def test_a_store_that_cannot_subscribe_is_reported_and_polled(tmp_path: Path) -> None:
    path = tmp_path / "jobs.db"
    ours = NotifyingSQLite(path, poll_interval=0.2, fail_subscribe=True)
    peer = SQLiteStore(path)
    events = Events()
    scheduler = Scheduler(store=ours, timezone="UTC")
    scheduler.add_listener(events)
    scheduler.start()
    try:
        events.wait_for(EventKind.STORE_ERROR)
        add_from_peer(peer, "polled")
        events.wait_for(EventKind.JOB_EXECUTED, job_id="polled")
    finally:
        scheduler.shutdown()
        peer.close()


def test_a_failed_start_leaves_no_subscription(tmp_path: Path) -> None:
    class Failing(NotifyingSQLite):
        def load_jobs(self) -> Any:
            raise StoreError("cannot read (test)")

        def due_jobs(self, *, after: Any, limit: int) -> Any:
            raise StoreError("cannot read (test)")

    store = Failing(tmp_path / "jobs.db")
    scheduler = Scheduler(store=store, timezone="UTC")
    with pytest.raises(StoreError):
        scheduler.start()
    assert store.subscribers == []
    scheduler.shutdown()


def test_a_store_of_one_process_is_not_subscribed() -> None:
    class Lonely(MemoryStore):
        subscribed = False

        def subscribe(self, callback: Any, on_error: Any = None) -> Callable[[], None]:
            self.subscribed = True
            return lambda: None

    store = Lonely()
    with Scheduler(store=store, timezone="UTC"):
        pass
    assert not store.subscribed  # nothing to hear of: no other process shares it


# -- the database's clock ---------------------------------------------------------------


@pytest.mark.parametrize("host", [FastClock, SlowClock], ids=["30s-fast", "30s-slow"])
def test_a_host_with_a_wrong_clock_runs_a_date_job_on_the_databases_time(
    host: type[SystemClock], caplog: pytest.LogCaptureFixture
) -> None:
    store = ClockedMemory()
    events = Events()
    ran: list[datetime] = []
    got = threading.Event()

    def job() -> None:
        ran.append(true_now())
        got.set()

    with Scheduler(store=store, clock=host(), timezone="UTC") as scheduler:
        scheduler.add_listener(events)
        due = true_now() + timedelta(seconds=0.3)
        scheduler.add_job(job, "date", run_date=due)
        assert got.wait(LIMIT)
    # (On time by the database's clock: the host's is 30 s off. A loaded machine may be
    # a few hundred ms late.)
    assert abs((ran[0] - due).total_seconds()) < 1.0
    assert isinstance(scheduler.clock, CorrectedClock)
    # at start (and at most once more in 10 s), SAMPLES readings each
    assert SAMPLES <= store.reads <= 2 * SAMPLES
    (line,) = [r for r in caplog.records if "off the database" in r.getMessage()]
    assert line.levelno == logging.WARNING
    assert ("+30.0 s" if host is FastClock else "-30.0 s") in line.getMessage()


@pytest.mark.parametrize("host", [FastClock, SlowClock], ids=["30s-fast", "30s-slow"])
def test_an_async_host_with_a_wrong_clock_runs_on_the_databases_time(
    host: type[SystemClock],
) -> None:
    store = ClockedMemory()

    async def main() -> tuple[datetime, datetime]:
        got = asyncio.Event()
        ran: list[datetime] = []

        async def job() -> None:
            ran.append(true_now())
            got.set()

        async with AsyncScheduler(store=store, clock=host(), timezone="UTC") as scheduler:
            due = true_now() + timedelta(seconds=0.3)
            await scheduler.add_job(job, "date", run_date=due)
            await asyncio.wait_for(got.wait(), LIMIT)
        return ran[0], due

    ran, due = asyncio.run(main())
    assert abs((ran - due).total_seconds()) < 1.0  # (30 s off by the host's clock)
    assert store.reads >= 1


def test_a_fake_clock_is_never_corrected() -> None:
    store = ClockedMemory(lambda: T0 + timedelta(hours=5))
    clock = FakeClock(T0)
    scheduler = Scheduler(store=store, clock=clock, timezone="UTC")
    scheduler.open()
    try:
        scheduler.process_due()
        assert scheduler.clock is clock
        assert scheduler.engine.clock.now() == T0
        assert store.reads == 0
    finally:
        scheduler.shutdown()


def test_a_users_clock_is_never_corrected() -> None:
    class MyClock(FakeClock):
        pass

    store = ClockedMemory()
    clock = MyClock(T0)
    with Scheduler(store=store, clock=clock, timezone="UTC") as scheduler:
        assert scheduler.clock is clock
    assert store.reads == 0


def test_a_store_without_a_clock_leaves_the_system_clock_alone() -> None:
    with Scheduler(timezone="UTC") as scheduler:
        assert type(scheduler.clock) is SystemClock


# -- CorrectedClock ---------------------------------------------------------------------


class Source:
    """A reference clock: the base's time plus *ahead* seconds, or an error."""

    def __init__(self, base: FakeClock, ahead: float) -> None:
        self.base = base
        self.ahead = ahead
        self.error: Exception | None = None
        self.calls = 0

    def __call__(self) -> datetime:
        self.calls += 1
        if self.error is not None:
            raise self.error
        return self.base.now() + timedelta(seconds=self.ahead)


def test_the_offset_is_measured_at_most_once_per_interval() -> None:
    base = FakeClock(T0)
    source = Source(base, 30)
    clock = CorrectedClock(base, source)
    assert clock.due()
    clock.refresh()
    assert clock.now() == T0 + timedelta(seconds=30)
    assert clock.monotonic() == base.monotonic()
    for _ in range(100):
        clock.refresh()
        clock.now()
    base.advance(9.9)
    clock.refresh()
    assert source.calls == SAMPLES  # one measurement
    base.advance(0.1)
    source.ahead = 31
    clock.refresh()
    assert source.calls == 2 * SAMPLES
    assert clock.offset == timedelta(seconds=31)
    assert clock.shifted == pytest.approx(31.0)


def test_the_reading_with_the_shortest_round_trip_sets_the_offset() -> None:
    """The first reading may include opening a connection (40 ms here, the source's
    clock read at its end): its midpoint would put the host 20 ms ahead, and every run
    20 ms early. The quick readings after it give the offset exactly."""
    base = FakeClock(T0)

    class Connecting(Source):
        def __call__(self) -> datetime:
            if self.calls == 0:
                self.base.advance(0.04)
            return super().__call__()

    source = Connecting(base, 30)
    clock = CorrectedClock(base, source)
    assert clock.measure()
    assert source.calls == SAMPLES
    assert clock.offset == timedelta(seconds=30)


def test_a_failing_source_keeps_the_last_offset_and_is_tried_again_later(
    caplog: pytest.LogCaptureFixture,
) -> None:
    base = FakeClock(T0)
    source = Source(base, -30)
    clock = CorrectedClock(base, source)
    assert clock.measure()
    source.error = StoreError("connection refused")
    base.advance(10)
    assert not clock.measure()
    assert clock.offset == timedelta(seconds=-30)
    assert clock.now() == base.now() - timedelta(seconds=30)
    assert not clock.due()  # not again at once...
    base.advance(10)
    assert clock.due()  # ... but after the interval
    clock.refresh()
    assert source.calls == SAMPLES + 2  # a measurement, then two that failed at once
    failures = [r for r in caplog.records if "could not read the clock" in r.getMessage()]
    assert len(failures) == 1  # once per outage
    source.error = None
    source.ahead = -29.5
    base.advance(10)
    clock.refresh()
    assert clock.offset == timedelta(seconds=-29.5)


def test_a_first_measurement_that_fails_is_not_logged_and_is_due_again_at_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    base = FakeClock(T0)
    source = Source(base, 30)
    source.error = StoreError("the schema was written by a newer tickwork")
    clock = CorrectedClock(base, source)
    # The start's measurement: the store's own error fails the start, if it does.
    assert not clock.measure()
    assert clock.due()
    assert [r for r in caplog.records if "clock" in r.getMessage()] == []
    # The first step's (the store opened): a failure now is logged, once.
    clock.refresh()
    clock.refresh()
    assert not clock.due()
    (line,) = [r for r in caplog.records if "could not read the clock" in r.getMessage()]
    assert "scheduling by this host's clock meanwhile and trying again every 10 s" in (
        line.getMessage()
    )
    assert clock.offset == timedelta(0)
    source.error = None
    base.advance(10)
    clock.refresh()
    assert clock.offset == timedelta(seconds=30)


def test_a_store_that_cannot_open_fails_the_start_without_promising_a_clock_retry(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Broken(ClockedMemory):
        """As a PostgresStore whose schema is newer: every call opens it, and fails."""

        def refuse(self, *args: Any, **kwargs: Any) -> Any:
            raise StoreError("the schema was written by a newer tickwork (test)")

        database_now = load_jobs = due_jobs = refuse  # type: ignore[assignment]

    scheduler = Scheduler(store=Broken(), timezone="UTC")
    with pytest.raises(StoreError, match="newer tickwork"):
        scheduler.start()
    scheduler.shutdown()
    assert [r.getMessage() for r in caplog.records if "clock" in r.getMessage()] == []


def test_a_source_that_returns_a_naive_time_is_a_failure() -> None:
    base = FakeClock(T0)
    clock = CorrectedClock(base, lambda: datetime(2024, 1, 1))
    assert not clock.measure()
    assert clock.offset == timedelta(0)


def test_the_offset_is_taken_against_the_midpoint_of_the_query() -> None:
    base = FakeClock(T0)

    def slow_query() -> datetime:
        base.advance(0.2)  # the query takes 0.4 s, answered halfway
        answer = base.now() + timedelta(seconds=5)
        base.advance(0.2)
        return answer

    clock = CorrectedClock(base, slow_query)
    clock.measure()
    assert clock.offset == timedelta(seconds=5)


def test_a_correction_is_not_taken_for_a_wall_clock_jump(
    caplog: pytest.LogCaptureFixture,
) -> None:
    base = FakeClock(T0)
    source = Source(base, 0)
    clock = CorrectedClock(base, source)
    clock.measure()
    engine = Engine(clock=clock, timezone="UTC")
    pacer = Pacer(engine)
    for _ in pacer.sleeps(10):
        base.advance(10)
    source.ahead = 5  # measured anew: the offset moved 5 s
    clock.measure()
    pacer.check_jump()
    assert "wall clock moved" not in caplog.text
    # A real jump still is.
    for _ in pacer.sleeps(10):
        base.advance(10)
        base.jump(5)
    pacer.check_jump()
    assert "wall clock moved +5.0 s" in caplog.text


def test_a_backlog_defers_notified_reads_until_it_is_done(tmp_path: Path) -> None:
    """While due fires wait in the core, a notification does not read the changes at
    once (the others are claiming the same backlog: each read would take in their
    claims); the read comes at the first step after the backlog is done. A paused
    scheduler, which dispatches nothing, reads at once."""
    from tickwork._core import SchedulerCore
    from tickwork._decision import Decision
    from tickwork._references import resolve_reference
    from tickwork._storelink import StoreLink

    path = tmp_path / "jobs.db"
    ours = NotifyingSQLite(path, poll_interval=60)
    peer = SQLiteStore(path)
    try:
        for n in range(3):
            add_from_peer(peer, f"due-{n}", T0)
        link = StoreLink(ours, SchedulerCore(), resolve_reference, {"default"})
        link.load()
        link.subscribe(lambda: None, T0)
        now = T0 + timedelta(seconds=1)
        link.upkeep(now, Decision(), running=True)  # the first look (the poll's)
        assert ours.syncs == 1
        ours.notify()
        link.upkeep(now, Decision(), running=False)  # paused: read at once
        assert ours.syncs == 2
        assert not link.changes_pending
        ours.notify()
        link.upkeep(now, Decision(), running=True)  # three fires due here: not yet
        assert ours.syncs == 2
        assert link.changes_pending
        batch = Decision()
        link.dispatch(now, batch, limit=2)
        link.upkeep(now, batch, running=True)  # one fire still due: not yet
        assert ours.syncs == 2
        link.dispatch(now, batch, limit=2)
        assert link.next_dispatch(now) == now  # a step to read what was told
        link.upkeep(now, batch, running=True)  # the backlog is done: read now
        assert ours.syncs == 3
        assert not link.changes_pending
    finally:
        ours.close()
        peer.close()


def test_jobs_left_to_other_processes_defer_notified_reads_to_the_poll(
    tmp_path: Path,
) -> None:
    """While the store says due jobs it left to other processes are not yet known to be
    claimed (``waiting_on_others``: a backlog split between processes), a notification
    does not read the changes at once (each read would take in the others' claims one
    by one), and the step does not spin on it: the poll reads them."""
    from tickwork._core import SchedulerCore
    from tickwork._decision import Decision
    from tickwork._references import resolve_reference
    from tickwork._storelink import StoreLink

    class Splitting(NotifyingSQLite):
        waiting = True

        def waiting_on_others(self) -> bool:
            return self.waiting

    ours = Splitting(tmp_path / "jobs.db", poll_interval=10)
    try:
        link = StoreLink(ours, SchedulerCore(), resolve_reference, {"default"})
        link.load()
        link.subscribe(lambda: None, T0)
        link.upkeep(T0, Decision(), running=True)  # the first look (the poll's)
        assert ours.syncs == 1
        ours.notify()
        now = T0 + timedelta(seconds=1)
        link.upkeep(now, Decision(), running=True)
        assert ours.syncs == 1
        assert link.changes_pending
        assert link.next_dispatch(now) is None  # nothing due: no step at once
        poll = T0 + timedelta(seconds=10)
        assert link.next_wakeup(None)[0] == poll
        link.upkeep(poll, Decision(), running=True)  # the poll reads them
        assert ours.syncs == 2
        assert not link.changes_pending
        ours.waiting = False
        ours.notify()
        assert link.next_dispatch(poll) == poll
        link.upkeep(poll, Decision(), running=True)  # nothing left waiting: at once
        assert ours.syncs == 3
    finally:
        ours.close()


class DispatchingSQLite(SQLiteStore):
    """A SQLite store that takes ``dispatching`` as PostgreSQL's does, and records it."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.told: list[list[str] | None] = []

    def dispatching(self, executors: list[str] | None) -> None:
        self.told.append(executors)


def test_a_store_is_told_again_when_the_executors_or_the_pause_change(tmp_path: Path) -> None:
    """The store hears which executors this process dispatches to once per change: an
    alias swapped for another (the same number of executors) is a change too."""
    from tickwork._core import SchedulerCore
    from tickwork._storelink import StoreLink

    store = DispatchingSQLite(tmp_path / "jobs.db")
    executors = {"default": None, "ea": None}
    link = StoreLink(store, SchedulerCore(), lambda ref: print, executors)
    try:
        link.tell_dispatching(True)
        link.tell_dispatching(True)  # nothing changed: not told again
        del executors["ea"]
        executors["eb"] = None
        link.tell_dispatching(True)
        link.tell_dispatching(False)  # paused
        assert store.told == [["default", "ea"], ["default", "eb"], None]
    finally:
        store.close()
