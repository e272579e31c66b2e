"""The event log contract: :class:`~tickwork.stores._eventlog.EventLog` of a shared
store, as pytest tests.

Part of ``tickwork.testing.SharedJobStoreContract`` (which subclasses this class): each
test here runs for a shared store that keeps events and is skipped for one that does
not. Two processes are stood for by two store objects on the same data (the ``store``
and ``peer`` fixtures of the shared suite).
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import replace
from datetime import timedelta

import pytest

from .._model import EmittedEvent
from ._base import SharedJobStore
from ._contract import T0
from ._eventlog import EVENT_GAP, EventLog

__all__ = ["EventLogContract"]


def _log(store: SharedJobStore) -> EventLog:
    if not isinstance(store, EventLog):
        pytest.skip(f"{type(store).__name__} keeps no events (EventLog)")
    return store


def _event(n: int, name: str = "order.created", *, at: int | None = None) -> EmittedEvent:
    """Event *n*, emitted *at* microseconds after T0 (by default *n*)."""
    return EmittedEvent(
        id=f"{n:032x}",
        name=name,
        payload={"n": n, "items": ["a", None, 1.5, True]},
        emitted_at=T0 + timedelta(microseconds=n if at is None else at),
    )


def _check_apart(events: list[EmittedEvent]) -> None:
    """Assert that *events*, in the order they were written, were stored at rising
    instants at least ``EVENT_GAP`` apart (never before the first's own)."""
    instants = [event.emitted_at for event in events]
    assert instants[0] >= T0
    gaps = [later - earlier for earlier, later in itertools.pairwise(instants)]
    assert all(gap >= EVENT_GAP for gap in gaps), instants


class EventLogContract:
    """The :class:`~tickwork.stores._eventlog.EventLog` tests of
    ``SharedJobStoreContract``."""

    def test_an_event_written_handled_is_not_listed_unhandled(self, store: SharedJobStore) -> None:
        log = _log(store)
        stored, taken = log.record_event(_event(1), [("a", _event(1).id)], handled=True, now=T0)
        assert (stored, taken) == (_event(1), [True])
        assert log.unhandled_events(limit=10) == []

    def test_unhandled_events_come_back_whole_oldest_first(self, store: SharedJobStore) -> None:
        log = _log(store)
        written = [_event(n, at=n * 10) for n in (1, 3, 2)]
        # (Each is far enough from the others to keep its own instant: the third, older
        # than the latest, comes back second.)
        stored = [log.record_event(event, [], handled=False, now=T0)[0] for event in written]
        assert stored == written
        found = log.unhandled_events(limit=10)
        assert found == [_event(1, at=10), _event(2, at=20), _event(3, at=30)]
        assert [event.emitted_at.utcoffset() for event in found] == [timedelta(0)] * 3
        assert log.unhandled_events(limit=2) == found[:2]

    def test_events_written_at_one_instant_are_stored_at_instants_apart(
        self, store: SharedJobStore
    ) -> None:
        # Event runs are scheduled at their event's instant: two events at one instant
        # would give two runs of a job one run id (and one chain hand-over).
        log = _log(store)
        stored = [log.record_event(_event(n, at=5), [], handled=n % 2 == 0, now=T0)[0]
                  for n in range(1, 5)]  # fmt: skip
        assert stored[0] == _event(1, at=5)  # (the first keeps its instant)
        assert [event.id for event in stored] == [_event(n).id for n in range(1, 5)]
        _check_apart(stored)
        assert log.unhandled_events(limit=10) == stored[::2]

    def test_an_event_far_from_the_others_keeps_its_own_instant(
        self, store: SharedJobStore, peer: SharedJobStore
    ) -> None:
        # A process whose clock is ahead (or a test's FakeClock left at a later time on
        # the store) must not move the events of the others on: emitted_at is when emit
        # was called, and an event run's scheduled_at is its event's instant.
        mine, theirs = _log(store), _log(peer)
        hour = 3_600_000_000
        written = [
            _event(n, at=at)
            for n, at in enumerate([hour, 0, 10, hour - 2, hour + 2, 2 * hour], start=1)
        ]
        for n, event in enumerate(written):
            log = theirs if n % 2 == 0 else mine
            assert log.record_event(event, [], handled=False, now=T0)[0] == event, event
        assert mine.unhandled_events(limit=10) == sorted(written, key=lambda e: e.emitted_at)

    def test_an_event_too_close_to_another_is_stored_at_the_first_free_instant(
        self, store: SharedJobStore, peer: SharedJobStore
    ) -> None:
        mine, theirs = _log(store), _log(peer)
        for n, at in [(1, 100), (2, 300), (3, 304)]:
            theirs.record_event(_event(n, at=at), [], handled=n == 2, now=T0)
        cases = [
            (4, 100, 102),  # at another's instant: EVENT_GAP after it
            (5, 103, 104),  # a microsecond after another: EVENT_GAP after it
            (6, 301, 302),  # between two EVENT_GAP * 2 apart: between them
            (7, 299, 306),  # before one, with no room up to the last of the run
            (8, 98, 98),  # EVENT_GAP before another: kept
        ]
        for n, at, expected in cases:
            event = _event(n, at=at)
            stored = mine.record_event(event, [], handled=n % 2 == 0, now=T0)[0]
            assert stored == replace(event, emitted_at=T0 + timedelta(microseconds=expected)), n
        # A long run of events closer than EVENT_GAP to the next: past its end.
        for n in range(10, 70):
            theirs.record_event(_event(n, at=1000), [], handled=n % 3 == 0, now=T0)
        last = _event(70, at=1001)
        assert mine.record_event(last, [], handled=True, now=T0)[0].emitted_at == (
            T0 + timedelta(microseconds=1000 + 60 * 2)
        )

    def test_events_written_by_two_processes_at_one_instant_are_stored_apart(
        self, store: SharedJobStore, peer: SharedJobStore
    ) -> None:
        mine, theirs = _log(store), _log(peer)
        stored = [
            log.record_event(_event(n, at=5), [("a", _event(n).id)], handled=True, now=T0)[0]
            for n, log in enumerate([mine, theirs, theirs, mine, theirs])
        ]
        _check_apart(stored)
        # A later instant is kept as it is.
        later = _event(9, at=1000)
        assert theirs.record_event(later, [], handled=True, now=T0)[0] == later

    def test_events_written_at_once_by_two_processes_are_stored_apart(
        self, store: SharedJobStore, peer: SharedJobStore
    ) -> None:
        # Two writers at the same moment, not one after the other: the latest event
        # each reads must be the other's when it wrote first (on any host).
        logs = [_log(store), _log(peer)]
        start = threading.Barrier(2)
        stored: list[list[EmittedEvent]] = [[], []]

        def write(index: int) -> None:
            start.wait(5)
            for n in range(25):
                event = _event(100 * index + n, at=5)
                stored[index].append(logs[index].record_event(event, [], handled=False,
                                                              now=T0)[0])  # fmt: skip

        threads = [threading.Thread(target=write, args=(index,)) for index in (0, 1)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
        assert [len(mine) for mine in stored] == [25, 25]
        everything = sorted(stored[0] + stored[1], key=lambda event: event.emitted_at)
        _check_apart(everything)
        assert logs[0].unhandled_events(limit=100) == everything

    def test_a_slot_is_taken_once_among_processes(
        self, store: SharedJobStore, peer: SharedJobStore
    ) -> None:
        mine, theirs = _log(store), _log(peer)
        event = _event(1)
        mine.record_event(event, [], handled=False, now=T0)
        slots = [("a", event.id), ("b", event.id)]
        assert theirs.claim_event_runs(slots[:1], [event.id], now=T0) == [True]
        assert mine.claim_event_runs(slots, [event.id], now=T0) == [False, True]
        assert mine.unhandled_events(limit=10) == []

    def test_released_slots_make_their_event_unhandled_again(
        self, store: SharedJobStore, peer: SharedJobStore
    ) -> None:
        mine, theirs = _log(store), _log(peer)
        event = _event(1)
        mine.record_event(event, [("a", event.id)], handled=True, now=T0)
        mine.release_event_runs([("a", event.id)], now=T0)
        assert theirs.unhandled_events(limit=10) == [event]
        assert theirs.claim_event_runs([("a", event.id)], [event.id], now=T0) == [True]

    def test_slots_of_a_live_owner_are_not_orphans(
        self, store: SharedJobStore, peer: SharedJobStore
    ) -> None:
        mine, theirs = _log(store), _log(peer)
        event = _event(1)
        mine.record_event(event, [("a", event.id)], handled=True, now=T0)
        assert theirs.orphaned_event_runs(now=T0) == []
        mine.finish_event_runs([("a", event.id)], now=T0)
        assert theirs.orphaned_event_runs(now=T0) == []
