"""The due-time heap (``_deadlines.Deadlines``) on its own, with plain owners.

The core's tests drive it through ``SchedulerCore`` (tests/test_core.py, the heap
section); these pin the rules the core relies on: liveness asked of the owner (a fire
entry by identity, a retry entry by its key), exact stale counts, pruning past the
floor, and entries handed out in due order.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import pytest

from tickwork import _deadlines
from tickwork._deadlines import Deadlines, Entry


@dataclass
class Owner:
    entry: Entry | None = None
    retries: set[int] | None = None


def entry(due: int, job_id: str, key: int) -> Entry:
    # Built at run time: equal tuple literals in one function may be one constant, and
    # liveness is by identity.
    return (due, key, job_id)


_keys = itertools.count(1)


def fire(owners: dict[str, Owner], deadlines: Deadlines, job_id: str, due: int) -> Entry:
    """Queue *job_id*'s next fire at *due*, letting go of its previous one first (as
    the core does: an entry is reported stale once its owner no longer holds it)."""
    owner = owners.setdefault(job_id, Owner())
    if owner.entry is not None:
        owner.entry = None
        deadlines.went_stale(1)
    # A new key each time, as the core's generations: entries due at one instant come
    # out in the order they were queued.
    new = owner.entry = entry(due, job_id, next(_keys))
    deadlines.add(new)
    return new


def test_nothing_queued_has_no_deadline() -> None:
    deadlines = Deadlines({})
    assert deadlines.next_deadline() is None
    assert deadlines.expire(10**18) == []
    assert len(deadlines) == deadlines.stale == 0


def test_live_entries_come_out_in_due_order_and_only_when_due() -> None:
    owners: dict[str, Owner] = {}
    deadlines = Deadlines(owners)
    c, a, b = (
        fire(owners, deadlines, job_id, due) for job_id, due in [("c", 30), ("a", 10), ("b", 20)]
    )
    assert deadlines.next_deadline() == 10
    assert deadlines.expire(9) == []
    assert deadlines.expire(20) == [a, b]
    assert deadlines.next_deadline() == 30
    # Handed out, not let go of: the owners still hold them (the caller clears them).
    assert owners["a"].entry is a
    assert deadlines.expire(30) == [c]
    assert len(deadlines) == deadlines.stale == 0


def test_a_fire_entry_is_live_only_while_its_owner_holds_that_very_tuple() -> None:
    owners: dict[str, Owner] = {}
    deadlines = Deadlines(owners)
    old = fire(owners, deadlines, "j", 10)
    # The job added again under its id, same time, same generation: an equal tuple,
    # but not the one queued first.
    owners["j"] = Owner(entry(10, "j", old[1]))
    deadlines.went_stale(1)
    assert owners["j"].entry == old
    assert not deadlines.is_live(old)
    assert deadlines.expire(10) == []  # the equal entry was never queued
    assert deadlines.stale == 0


def test_a_retry_entry_is_live_while_its_key_is_pending() -> None:
    owners = {"j": Owner(retries={-1, -2})}
    deadlines = Deadlines(owners)
    first, second = entry(5, "j", -1), entry(6, "j", -2)
    deadlines.add_many([second, first])
    assert deadlines.is_live(first)
    owners["j"].retries = {-2}  # the first retry dropped
    deadlines.went_stale(1)
    assert not deadlines.is_live(first)
    assert deadlines.expire(100) == [second]
    assert deadlines.stale == 0


def test_entries_of_an_owner_that_is_gone_are_stale() -> None:
    owners: dict[str, Owner] = {}
    deadlines = Deadlines(owners)
    fire(owners, deadlines, "gone", 1)
    kept = fire(owners, deadlines, "kept", 2)
    del owners["gone"]
    deadlines.went_stale(1)
    assert deadlines.next_deadline() == 2  # the stale entry in front is dropped
    assert (len(deadlines), deadlines.stale) == (1, 0)
    assert deadlines.expire(2) == [kept]


def test_stale_entries_are_counted_out_when_expired_behind_a_live_one() -> None:
    owners: dict[str, Owner] = {}
    deadlines = Deadlines(owners)
    live = fire(owners, deadlines, "a", 1)
    for due in (5, 6, 7):
        fire(owners, deadlines, "b", due)  # 5 and 6 go stale
    assert deadlines.stale == 2
    assert deadlines.expire(6) == [live]
    assert deadlines.stale == 0
    assert len(deadlines) == 1


@pytest.mark.parametrize("floor", [0, 10, 64])
def test_the_heap_is_rebuilt_once_stale_entries_pass_twice_the_live_ones(
    monkeypatch: pytest.MonkeyPatch, floor: int
) -> None:
    monkeypatch.setattr(_deadlines, "PRUNE_FLOOR", floor)
    owners: dict[str, Owner] = {}
    deadlines = Deadlines(owners)
    live = [fire(owners, deadlines, f"j{n}", n) for n in range(3)]
    moves = 0
    while True:
        before = len(deadlines)
        fire(owners, deadlines, "moving", 1000 + moves)
        moves += 1
        if len(deadlines) <= before:
            break
        assert moves < 1000, "never pruned"
    # Pruned at the first stale count over both the floor and twice the live ones (the
    # three jobs: the moving one has let go of its entry when it reports it stale).
    assert moves - 1 == max(floor, 2 * 3) + 1
    assert deadlines.stale == 0
    assert len(deadlines) == 4  # the three, and the moving job's newest
    assert deadlines.expire(10**6)[:3] == live
    assert deadlines.stale == 0


# -- a backlog taken out of the heap in bulk -------------------------------------------------


def _backlog(owners: dict[str, Owner], deadlines: Deadlines, count: int) -> list[Entry]:
    """*count* fires, most due at 100 and a few later, queued in a scrambled order."""
    queued = [
        fire(owners, deadlines, f"j{(n * 7919) % count:05d}", 100 if n % 10 else 100 + n)
        for n in range(count)
    ]
    return sorted(queued)


def test_a_big_backlog_comes_out_in_due_order_in_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_deadlines, "BULK_FLOOR", 64)
    owners: dict[str, Owner] = {}
    deadlines = Deadlines(owners)
    queued = _backlog(owners, deadlines, 500)
    # Some go stale before they come due: counted out on the way, never handed out.
    for gone in ("j00003", "j00250"):
        del owners[gone]
    deadlines.went_stale(2)
    expected = [e for e in queued if e[0] <= 300 and e[2] not in ("j00003", "j00250")]
    taken: list[Entry] = []
    bulk = False
    while chunk := deadlines.expire(300, 40):
        assert len(chunk) <= 40
        taken += chunk
        bulk = bulk or bool(deadlines._run)
        # The count and the next deadline stay exact while a bulk run is pending.
        assert len(deadlines) - deadlines.stale == sum(
            1 for e in queued if e[2] in owners and e not in taken
        )
    assert taken == expected
    assert bulk  # the bulk path was taken...
    assert deadlines._run == []  # ... and is done with
    assert deadlines.next_deadline() == 310  # (n = 210)


def test_an_entry_queued_during_a_bulk_run_comes_out_in_its_place(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_deadlines, "BULK_FLOOR", 64)
    owners: dict[str, Owner] = {}
    deadlines = Deadlines(owners)
    queued = _backlog(owners, deadlines, 200)
    first = deadlines.expire(150, 10)
    second = deadlines.expire(150, 10)  # takes the due entries out in bulk
    assert deadlines._run
    early = fire(owners, deadlines, "early", 50)  # due before everything left
    late = fire(owners, deadlines, "late", 120)  # due after everything left at 100
    assert deadlines.next_deadline() == 50
    rest = deadlines.expire(150)
    assert first + second == queued[:20]
    assert rest == sorted([early, late, *(e for e in queued[20:] if e[0] <= 150)])
    assert rest[0] is early


def test_pruning_during_a_bulk_run_keeps_every_live_entry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_deadlines, "BULK_FLOOR", 64)
    owners: dict[str, Owner] = {}
    deadlines = Deadlines(owners)
    queued = _backlog(owners, deadlines, 200)
    taken = deadlines.expire(100, 10) + deadlines.expire(100, 10)
    assert deadlines._run
    # Most of the rest go stale: the index is rebuilt from the live ones, run and heap.
    kept = {e[2] for e in queued[20::5]}
    for job_id in {e[2] for e in queued[20:]} - kept:
        del owners[job_id]
        deadlines.went_stale(1)
    assert deadlines.stale < 2 * len(kept)
    assert deadlines.expire(10**6) == [e for e in queued[20:] if e[2] in kept]
    assert len(taken) == 20
    assert len(deadlines) == deadlines.stale == 0
