"""The leases of a ``SQLiteStore``: claims, renewal, takeover and hand-off.

These are the lease rules of :class:`~tickwork.stores.SharedJobStore`, in SQL; the
module docstring of :mod:`tickwork.stores.sqlite` tells the whole story.

- :meth:`SQLiteLeases.claim_fires` moves each job's next fire time by compare-and-set
  and inserts a lease per run the claim starts, in one write transaction and a few
  statements per batch.
- :meth:`SQLiteLeases.maintain` renews this process's leases every third of
  ``lease_time``, reports those another process took, takes over expired leases and
  those of holders found dead on this machine (:mod:`._liveness`), each under a new
  token, and prunes the history every minute. It takes only runs this process can run
  (a read finds them first: the job's executor is one its scheduler dispatches to, and
  the job loads here); it leaves the others as they are, for a process that can.
- :meth:`SQLiteLeases.hand_off_retries` leaves a pending retry's lease to no one
  (owner ``""``), due when the retry is.
- :meth:`SQLiteLeases.processes` lists the scheduler processes: ``maintain`` registers
  this one in the ``processes`` table and beats there every third of ``lease_time``
  (with the renewal, and the executors its scheduler dispatches to), ``close`` removes
  it; each ``maintain`` reads the others (their number is ``Upkeep.peers``; those that
  dispatch split a due backlog, :mod:`._sqlite_share`).

Releasing a lease at a run's end is part of recording it (:mod:`._sqlite_history`).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sqlite3
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from .._errors import StoreError
from .._instants import EPOCH as _EPOCH
from .._instants import US as _US
from .._tz import aware_us, epoch_us
from ._base import ClaimLike, HandOffLike, ProcessInfo, Takeover, Upkeep
from ._history import lose, started, supersede
from ._liveness import identity, is_dead
from ._processes import LeaseRow, ProcessRow, listing
from ._rows import HANDED_OFF as _HANDED_OFF
from ._rows import takeover, zone_name
from ._sqlite_connection import _RETURNING, in_lists, insert_rows
from ._sqlite_history import SQLiteHistory
from ._sqlite_schema import JOB_COLUMNS, instant

__all__ = ["SQLiteLeases"]

_UTC = timezone.utc
#: The jobs whose claims won, moved on together: every job of one IN list gets the same
#: next fire, zone (kept, or set) and remaining runs (kept when None). A broken mark
#: goes: the claiming scheduler loaded the job (the mark told what another found).
_MOVE = (
    "UPDATE jobs SET next_fire_us = ?, "
    "next_fire_zone = CASE WHEN ? THEN next_fire_zone ELSE ? END, "
    "remaining_runs = coalesce(?, remaining_runs), broken = NULL, seq = ? "
    "WHERE id IN ({})"
)
_LEASE = (
    "INSERT OR REPLACE INTO leases (token, job_id, scheduled_us, attempt, owner, expires_us, "
    "holder) VALUES (?, ?, ?, 1, ?, ?, ?)"
)
#: The values of :data:`_LEASE` a backlog's leases have alike: scheduled_us, owner,
#: expiry, holder (see :func:`insert_rows`).
_LEASE_ALIKE = (2, 3, 4, 5)
#: The first fencing token of a batch: above every token ever given (``sqlite_sequence``
#: keeps AUTOINCREMENT's high mark, which deleted leases do not lower) and every stored.
_NEXT_TOKEN = (
    "SELECT max(coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'leases'), 0), "
    "coalesce((SELECT max(token) FROM leases), 0)) + 1"
)
#: Whether another process holds a lease (owner, then the hand-off owner ''): two ranges
#: of the owner index, where ``owner != ?`` would scan past each of this process's leases
#: (100,000 of them in a backlog).
_OTHERS_HOLD = (
    "SELECT 1 FROM leases WHERE owner > :owner OR (owner < :owner AND owner > :handed) LIMIT 1"
)
#: Each other owner, its holder and its soonest expiry: the owner index on either side of
#: this process's own leases, which a plain ``owner != ?`` would read through.
_OTHER_OWNERS = (
    "SELECT owner, holder, min(expires_us) FROM leases WHERE owner < :owner GROUP BY owner "
    "UNION ALL "
    "SELECT owner, holder, min(expires_us) FROM leases WHERE owner > :owner GROUP BY owner"
)
#: What a job that is not stored (or is paused) "stores" as its next fire: no claim on
#: it wins, not even one that expects None.
_ABSENT = object()
#: This process's heartbeat (registering it first), with the executors its scheduler
#: dispatches to (see ._sqlite_share).
_BEAT = (
    "INSERT INTO processes (owner, host, pid, holder, started_us, seen_us, executors) "
    "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (owner) DO UPDATE SET seen_us = "
    "excluded.seen_us, executors = excluded.executors"
)
#: Every registered process and every lease held by a process, in one statement (one
#: snapshot): (kind, owner, host, pid, holder, started or scheduled, seen or expiry,
#: job id, attempt).
_PROCESSES = (
    "SELECT 'p', owner, host, pid, holder, started_us, seen_us, NULL, NULL FROM processes "
    "UNION ALL SELECT 'l', owner, NULL, NULL, holder, scheduled_us, expires_us, job_id, attempt "
    "FROM leases WHERE owner != ''"
)
#: The other processes that beat within a lease time (alive, as far as the file knows):
#: owner, identity, executors (see ._sqlite_share).
PEERS = "SELECT owner, holder, executors FROM processes WHERE owner != ? AND seen_us >= ?"
#: The leases ``maintain`` may take over (expired, or of owners found dead), each with
#: its job's row (NULLs: not stored) and the row's version (``seq``), less those of a job
#: for an executor this process does not dispatch to (``aliases``: NULL when it was not
#: told) and those of rows it found it cannot run (``refused``, "id:seq" each).
_CANDIDATES = f"""
SELECT l.token, l.job_id, j.* FROM leases l LEFT JOIN (
    SELECT {JOB_COLUMNS}, next_fire_zone, broken, seq, CASE WHEN json_valid(options)
        THEN coalesce(json_extract(options, '$.executor'), 'default') ELSE '' END AS alias
    FROM jobs) j ON j.id = l.job_id
WHERE l.owner != :owner
    AND (l.expires_us < :now OR l.owner IN (SELECT value FROM json_each(:dead)))
    AND (j.id IS NULL OR (
        (:aliases IS NULL OR j.alias IN (SELECT value FROM json_each(:aliases)))
        AND j.id || ':' || j.seq NOT IN (SELECT value FROM json_each(:refused))))
ORDER BY l.expires_us LIMIT 1000
"""
#: Where the row's version is among a candidate's job columns (``_fields`` order).
_VERSION_AT = 13
#: The candidates found takeable, still as they were read: taken in the write.
_TAKE = (
    "SELECT token, job_id, scheduled_us, attempt, owner FROM leases "
    "WHERE token IN (SELECT value FROM json_each(:tokens)) AND owner != :owner "
    "AND (expires_us < :now OR owner IN (SELECT value FROM json_each(:dead))) "
    "ORDER BY expires_us"
)
#: Seconds a closing store waits for a busy file to remove its process row.
_LEAVE_WAIT = 1.0
#: A process silent this long, and holding no lease, is forgotten when the history is
#: pruned (until then it is listed, as not alive).
_FORGET_US = 3_600_000_000


#: A claim's compare-and-set for jobs claimed alike: every job of one IN list expected at
#: the same instant and moved to the same state; then the same, the winners returned.
_SET_ALL = _MOVE + " AND next_fire_us IS ? AND NOT paused"
_SET_EACH = _SET_ALL + " RETURNING id"

#: A batch's outcome: the result of each claim (0: won; None: lost), the jobs moved, the
#: lease rows of the runs won (job id, scheduled_us, owner, expiry, holder).
_Decided = tuple[list[int | None], list[str], list[tuple[str, int, str, int, str | None]]]


def _set_each(
    execute: Any, prepared: list[tuple[Any, ...]], seq: int, *, contended: bool
) -> _Decided:
    """The claims of a batch that claims each job once, decided by the writes alone: the
    claims alike (expected at one instant, moved to one state: a backlog of one-off
    jobs, or of one interval) are one ``UPDATE`` per IN list. No read first (where a job
    claimed twice needs one).

    Mostly every claim of a list wins, which the count of rows changed shows: then
    nothing is read back. A list with a loser is undone (a savepoint) and written again
    with ``RETURNING id``, whose rows are the winners; *contended* (the last batch lost
    claims: other processes race for the same fires) writes that way at once."""
    groups: dict[tuple[Any, ...], list[str]] = {}
    for job_id, expected_us, new_us, same, zone, remaining, _ in prepared:
        groups.setdefault((new_us, same, zone, remaining, expected_us), []).append(job_id)
    lost: set[str] = set()
    for (new_us, same, zone, remaining, expected_us), job_ids in groups.items():
        first = 0
        for marks, chunk in in_lists(job_ids):
            # (An IN list is padded with its last id: it counts once.)
            count = min(len(job_ids) - first, len(chunk))
            params = (new_us, same, zone, remaining, seq, *chunk, expected_us)
            first += len(chunk)
            if not contended:
                execute("SAVEPOINT claim")
                if execute(_SET_ALL.format(marks), params).rowcount == count:
                    execute("RELEASE claim")
                    continue
                execute("ROLLBACK TO claim")
                execute("RELEASE claim")
            won = {row[0] for row in execute(_SET_EACH.format(marks), params).fetchall()}
            lost.update(job_id for job_id in chunk if job_id not in won)
    results: list[int | None] = []
    leases: list[tuple[str, int, str, int, str | None]] = []
    moved: list[str] = []
    if not lost:
        for claim in prepared:
            leases += claim[6]
            moved.append(claim[0])
        return [0] * len(prepared), moved, leases
    for claim in prepared:
        if claim[0] in lost:
            results.append(None)  # claimed elsewhere, changed, gone, paused
        else:
            results.append(0)
            leases += claim[6]
            moved.append(claim[0])
    return results, moved, leases


def _set_in_turn(
    execute: Any, prepared: list[tuple[Any, ...]], ids: list[str], seq: int
) -> _Decided:
    """The claims of a batch decided in order (a later claim of a job sees an earlier
    one) against one read of the jobs' next fire times; then only the winners are
    written."""
    results: list[int | None] = []
    # (The write lock is held from BEGIN IMMEDIATE: no other process can move a job
    # between this read and the writes.)
    stored: dict[str, int | None] = {}
    for marks, chunk in in_lists(ids):
        stored.update(
            execute(
                f"SELECT id, next_fire_us FROM jobs WHERE id IN ({marks}) AND NOT paused",
                chunk,
            ).fetchall()
        )
    # Each winner's final state (a job claimed twice moves twice): (next fire,
    # whether the zone column is kept, else the zone to set, remaining runs).
    moved: dict[str, tuple[Any, ...]] = {}
    leases: list[tuple[str, int, str, int, str | None]] = []
    for job_id, expected_us, new_us, same, zone, remaining, run_rows in prepared:
        if stored.get(job_id, _ABSENT) != expected_us:
            results.append(None)  # claimed elsewhere, changed, gone, paused
            continue
        stored[job_id] = new_us
        state = moved.get(job_id)
        if state is None:
            moved[job_id] = (new_us, same, zone, remaining)
        else:
            keep, name = (state[1], state[2]) if same else (False, zone)
            left = state[3] if remaining is None else remaining
            moved[job_id] = (new_us, keep, name, left)
        results.append(0)
        leases += run_rows
    # Jobs moved alike (a backlog of one-off jobs, or of one interval) are written
    # by one statement per IN list.
    groups: dict[tuple[Any, ...], list[str]] = {}
    for job_id, state in moved.items():
        groups.setdefault(state, []).append(job_id)
    for (new_us, same, zone, remaining), job_ids in groups.items():
        for marks, chunk in in_lists(job_ids):
            execute(_MOVE.format(marks), (new_us, same, zone, remaining, seq, *chunk))
    return results, list(moved), leases


class SQLiteLeases(SQLiteHistory):
    """The ``leases`` table: runs claimed, renewed, taken over and handed off."""

    lease_time: float
    poll_interval: float | None
    _renew_at_us: int  # when this process's leases are next renewed
    _prune_at_us: int  # when the history is next pruned
    _beat_at_us: int  # when this process next tells the file it is alive
    _registered: str  # the owner name this process registered in ``processes`` ("": none)
    _claims_lost: bool  # whether the last batch claimed lost some of its claims
    _now_us: int  # the latest instant a caller gave (µs; see ._sqlite_share)
    #: The change counters of this process's claims since the last sync (which leaves
    #: their rows out: the scheduler made those changes), and the jobs they claimed
    #: that another process had changed since the sync before (reported all the same).
    _claimed_seqs: set[int]
    _unseen: set[str]

    _unreadable: set[str]  # (JobRows': rows not decoded here, never claimed here)
    _refused: set[str]  # (JobRows': rows of jobs whose runs are left to others)

    if TYPE_CHECKING:  # (SQLiteShare's, JobRows')

        def _new_peers(self, rows: list[tuple[str, str | None, str | None]]) -> None: ...

        def _takeable(self, rows: Sequence[Sequence[Any]], version_at: int) -> list[Any]: ...

    def claim_fires(self, claims: Sequence[ClaimLike], *, now: datetime) -> list[int | None]:
        """Claim the fires and lease their runs, all in one transaction; for each fire
        claimed, count the job's runs other processes hold leases for.

        A batch costs a handful of statements whatever its size: the compare-and-sets,
        one ``UPDATE ... RETURNING`` per group of claims alike (expected at one instant,
        moved to one state) and IN list, whose rows are the winners (a batch that claims
        a job twice, or a SQLite before 3.35, reads the next fire times first and
        decides in turn); the leases, many rows per ``INSERT`` (their tokens given
        here, so none is read back); and, when other processes hold leases, a read of
        their counts.
        """
        if not claims:
            return []
        unreadable = self._unreadable
        if unreadable and not unreadable.isdisjoint(claim[0] for claim in claims):
            # A record this store could not decode is not claimed (no scheduler holds it).
            answers = iter(self.claim_fires([c for c in claims if c[0] not in unreadable], now=now))
            return [None if claim[0] in unreadable else next(answers) for claim in claims]
        now_us = epoch_us(now)
        if now_us > self._now_us:
            self._now_us = now_us  # (what is due, for the page reads)
        expires = now_us + round(self.lease_time * 1_000_000)
        holder = identity()
        self._connection()  # (which names this process's owner: a forked child's own)
        owner = self.owner
        # Everything that needs no lock is worked out first: the write lock (other
        # processes wait for it) is held for the reads and writes alone.
        prepared: list[tuple[Any, ...]] = []
        add = prepared.append
        epoch, us = _EPOCH, _US  # (epoch_us inline: this runs once per claim)
        # The instant expected, as the claim before had it (a backlog's fires are mostly
        # due at one instant: a compare costs a third of the sum). The fold too: instants
        # in one zone compare by their wall times alone, and a fold's two hours have
        # the same.
        last = epoch
        last_us = 0
        for job_id, expected, new_next, remaining, runs in claims:
            if expected is None:
                expected_us = None
            elif expected == last and expected.fold == last.fold:
                expected_us = last_us
            else:
                last, expected_us = expected, (expected - epoch) // us
                last_us = expected_us
            if new_next is None:
                new_us = zone = None
                same = False
            else:
                new_us = (new_next - epoch) // us
                # Same zone as the fire it replaces: the zone column stays right.
                same = expected is not None and new_next.tzinfo is expected.tzinfo
                zone = None if same else zone_name(new_next)
            if len(runs) == 1 and runs[0] is expected and expected_us is not None:
                # (Mostly the one run of the fire claimed: its instant is known.)
                run_rows = [(job_id, expected_us, owner, expires, holder)]
            else:
                run_rows = [(job_id, epoch_us(at), owner, expires, holder) for at in runs]
            add((job_id, expected_us, new_us, same, zone, remaining, run_rows))
        ids = list(dict.fromkeys([claim[0] for claim in claims]))
        results: list[int | None] = []
        taken: dict[tuple[str, int], int] = {}
        alone = not self._depth  # (a transaction of its own, not the caller's)
        noted = False
        unseen: list[str] = []
        with self._write("claim due runs") as conn:
            seq = self._seq(conn)
            execute = conn.execute
            if alone and seq > self._seen_seq:
                # Others wrote since the last sync, which will read this claim's rows:
                # it leaves them out (the scheduler made the change), but for those
                # another process changed since the sync before, noted here.
                noted = True
                for marks, chunk in in_lists(ids):
                    unseen += [
                        row[0]
                        for row in execute(
                            f"SELECT id FROM jobs WHERE id IN ({marks}) AND seq > ?",
                            (*chunk, self._seen_seq),
                        )
                    ]
            if _RETURNING and len(ids) == len(prepared):
                results, won, leases = _set_each(
                    execute, prepared, seq, contended=self._claims_lost
                )
            else:
                results, won, leases = _set_in_turn(execute, prepared, ids, seq)
            self._claims_lost = None in results
            if not won:
                return results
            # Runs in progress elsewhere matter only if another process holds a lease (a
            # retry handed off at shutdown is no run in progress). Counted before this
            # batch's own leases are taken, which are never counted.
            if execute(_OTHERS_HOLD, {"owner": owner, "handed": _HANDED_OFF}).fetchone():
                counts: dict[str, int] = {}
                for marks, chunk in in_lists(won):
                    counts.update(
                        execute(
                            "SELECT job_id, count(*) FROM leases WHERE owner != ? AND "
                            f"owner != ? AND job_id IN ({marks}) GROUP BY job_id",
                            (owner, _HANDED_OFF, *chunk),
                        ).fetchall()
                    )
                if counts:
                    for index, claim in enumerate(claims):
                        if results[index] is not None:
                            results[index] = counts.get(claim[0], 0)
            if leases:
                # The tokens are given here, each above any ever given (the write lock
                # is held: no one else gives one meanwhile), so none is read back; a
                # run leased twice in the batch keeps the later row, and token.
                first = execute(_NEXT_TOKEN).fetchone()[0]
                tokens = range(first, first + len(leases))
                insert_rows(
                    conn,
                    _LEASE,
                    [(t, *row) for t, row in zip(tokens, leases, strict=True)],
                    # A backlog's runs, scheduled at one instant: that, the owner, the
                    # expiry and the holder bound once per statement (1.5 -> 1.1 µs a
                    # lease); runs at instants of their own are written row by row (the
                    # search for rows alike would cost more than it saves).
                    _LEASE_ALIKE if leases[0][1] == leases[-1][1] else (),
                )
                taken = {(row[0], row[1]): t for t, row in zip(tokens, leases, strict=True)}
        self._leases.update(taken)  # once committed
        if noted:
            self._claimed_seqs.add(seq)
            self._unseen.update(unseen)
        return results

    def maintain(self, now: datetime, *, take_over: bool = True) -> Upkeep:
        """Renew this process's leases when due, take over the runs of dead processes
        (lease expired, or holder found dead on this machine) that this process can run,
        prune the history.

        Meant to be called every ``poll_interval``: the look for dead holders is one
        small read; writes happen only when there is something to renew, take or prune.
        Runs this process cannot run (:meth:`_takeable`: a job for an executor it does
        not dispatch to, or whose record does not load here) are found by a read, and
        left as they are for a process that can.
        """
        now_us = epoch_us(now)
        if now_us > self._now_us:
            self._now_us = now_us  # (what is due, and graces, for the page reads)
        lease_us = round(self.lease_time * 1_000_000)
        lost: list[tuple[str, datetime]] = []
        taken: list[Takeover] = []
        renew = bool(self._leases) and now_us >= self._renew_at_us
        prune = now_us >= self._prune_at_us
        self._connection()  # (which names this process's owner: a forked child's own)
        beat = renew or now_us >= self._beat_at_us or self._registered != self.owner
        dead: list[str] = []
        expired = False
        soonest: int | None = None  # when another process's lease next expires
        # (Read first: it counts the others' beats, not this one's, and is one statement.)
        others = self._read(PEERS, (self.owner, now_us - lease_us))
        peers = len(others)
        self._new_peers(others)
        if take_over:
            for owner, holder, expires in self._read(_OTHER_OWNERS, {"owner": self.owner}):
                if holder and is_dead(holder):
                    dead.append(owner)
                elif expires < now_us:
                    expired = True
                elif soonest is None or expires < soonest:
                    soonest = expires
        poll = self.lease_time if self.poll_interval is None else self.poll_interval
        next_us = now_us + round(min(poll, self.lease_time / 3) * 1_000_000)
        if self._leases:
            next_us = min(next_us, max(self._renew_at_us, now_us + 1))
        if soonest is not None:
            next_us = min(next_us, soonest + 1)
        next_at = now + timedelta(microseconds=next_us - now_us)
        if prune:
            self._refused.clear()  # (a module deployed since, say: looked at again)
        takeable: list[int] = []
        if dead or expired:
            found = self._read(
                _CANDIDATES,
                {"owner": self.owner, "now": now_us, "dead": json.dumps(dead),
                 "aliases": self._dispatching, "refused": json.dumps(sorted(self._refused))},
            )  # fmt: skip
            takeable = self._takeable(found, _VERSION_AT)
        if not (renew or prune or takeable or beat):
            return Upkeep(lost, taken, next_at, peers)
        with self._write("renew leases") as conn:
            if beat:
                conn.execute(
                    _BEAT,
                    (self.owner, socket.gethostname(), os.getpid(), identity(), now_us, now_us,
                     self._dispatching),
                )  # fmt: skip
            if renew:
                conn.execute(
                    "UPDATE leases SET expires_us = ? WHERE owner = ?",
                    (now_us + lease_us, self.owner),
                )
                self._renew_at_us = now_us + lease_us // 3
                held = {
                    row[0]
                    for row in conn.execute(
                        "SELECT token FROM leases WHERE owner = ?", (self.owner,)
                    )
                }
                for key, token in list(self._leases.items()):
                    if token not in held:
                        del self._leases[key]
                        lost.append((key[0], instant(key[1], _UTC)))
                        lose(self._taken_from_me, key, token)
            if takeable:
                # (As read, unless another process took or renewed a lease since.)
                rows = conn.execute(
                    _TAKE,
                    {"tokens": json.dumps(takeable), "owner": self.owner, "now": now_us,
                     "dead": json.dumps(dead)},
                ).fetchall()  # fmt: skip
                holder = identity()
                for token, job_id, scheduled_us, attempt, owner in rows:
                    conn.execute("DELETE FROM leases WHERE token = ?", (token,))
                    # (The attempt made positive: the taker runs it now, started.)
                    row = (job_id, scheduled_us, abs(attempt), self.owner, now_us + lease_us)
                    cursor = conn.execute(
                        "INSERT INTO leases (job_id, scheduled_us, attempt, owner, expires_us, "
                        "holder) VALUES (?, ?, ?, ?, ?, ?)",
                        (*row, holder),
                    )
                    key = (job_id, scheduled_us)
                    self._leases[key] = cursor.lastrowid or 0
                    supersede(self._superseded, self._taken_from_me, key, attempt)
                    taken.append(
                        takeover(job_id, instant(scheduled_us, _UTC), attempt, owner, dead)
                    )
                if taken and not renew:
                    self._renew_at_us = min(self._renew_at_us, now_us + lease_us // 3)
            if prune:
                self._prune(conn, now_us)
                conn.execute(
                    "DELETE FROM processes WHERE seen_us < ? AND owner != ? AND NOT EXISTS "
                    "(SELECT 1 FROM leases l WHERE l.owner = processes.owner)",
                    (now_us - max(_FORGET_US, 2 * lease_us), self.owner),
                )
                self._prune_at_us = now_us + 60_000_000
        if beat:  # (once committed)
            self._registered = self.owner
            self._beat_at_us = now_us + lease_us // 3
        return Upkeep(lost, taken, next_at, peers)

    def processes(self, *, now: datetime) -> list[ProcessInfo]:
        """The scheduler processes using the file, with the leases each holds (see
        :class:`~tickwork.stores.ProcessListing`).

        A process is listed from its scheduler's first step (its first
        :meth:`maintain`) until it closes the store, or, if it never does (it was
        killed), until it has been silent for an hour and holds no lease. *alive*: False
        when its identity on this machine shows it ended (a PID gone or reused), or when
        its last heartbeat is more than ``lease_time`` before *now* (its leases are then
        taken over as expired); True otherwise. An owner of leases with no record of its
        own is alive (None) unless shown dead, or all its leases have expired (False).
        """
        now_us = aware_us(now, "now")
        lease_us = round(self.lease_time * 1_000_000)
        registered: list[ProcessRow] = []
        leases: list[LeaseRow] = []
        holders: dict[str, str] = {}
        for kind, owner, host, pid, holder, first, second, job_id, attempt in self._read(
            _PROCESSES
        ):
            if holder:
                holders.setdefault(owner, holder)
            if kind == "l":
                leases.append(LeaseRow(owner, job_id, first, abs(attempt), second))
                continue
            alive = not (holder and is_dead(holder)) and second + lease_us >= now_us
            registered.append(ProcessRow(owner, host, pid, first, second, alive))

        def unregistered(owner: str, owned: list[LeaseRow]) -> bool | None:
            holder = holders.get(owner)
            if (holder and is_dead(holder)) or all(lease.expires_us < now_us for lease in owned):
                return False
            return None

        return listing(registered, leases, unregistered)

    def close(self) -> None:
        """Close the file, removing this process from those :meth:`processes` lists
        (a scheduler's ``shutdown()`` calls it)."""
        with self._lock:
            conn = self._conn
            if conn is not None and self._registered and self._pid == os.getpid():
                # Best effort, waiting a second at most for a busy file: a row left
                # behind is listed as not alive once silent, and forgotten later.
                registered = self._registered
                with contextlib.suppress(sqlite3.Error, StoreError):
                    self._retry_busy(
                        lambda: conn.execute(
                            "DELETE FROM processes WHERE owner = ?", (registered,)
                        ),
                        "leave the file",
                        _LEAVE_WAIT,
                    )
                self._registered = ""
                self._beat_at_us = 0
            # (A store object opened again dispatches nothing until a scheduler says.)
            self._dispatching = None
        super().close()

    def start_retries(self, runs: Sequence[tuple[str, datetime, int]]) -> list[bool]:
        """Mark the leases of retries (job id, scheduled time, attempt) that start now as
        runs going (``_history.PENDING``); for each, whether it may start: False when
        another process took its lease over meanwhile (it runs it). A retry of no lease
        here (a run asked for) may start."""
        rows = []
        for job_id, scheduled_at, attempt in runs:
            rows.append((attempt, self._leases.get((job_id, epoch_us(scheduled_at)))))
        if all(token is None for _, token in rows):
            return [True] * len(rows)
        with self._write("start retries") as conn:
            starts = [
                token is None
                or conn.execute(
                    "UPDATE leases SET attempt = ? WHERE token = ?", (attempt, token)
                ).rowcount
                == 1
                for attempt, token in rows
            ]
        return started(runs, starts)

    def hand_off_retries(self, retries: Sequence[HandOffLike], *, now: datetime) -> list[bool]:
        """Leave each pending retry (job id, scheduled time, attempt, due) that this
        process holds a lease for to whichever process looks next: its lease stays in
        the file, held by no one and due then."""
        kept = []
        rows = []
        for job_id, scheduled_at, attempt, due in retries:
            key = (job_id, epoch_us(scheduled_at))
            token = self._leases.get(key)
            kept.append(token is not None)
            if token is not None:
                rows.append((key, (_HANDED_OFF, attempt, epoch_us(due), token)))
        if rows:
            with self._write("hand off pending retries") as conn:
                conn.executemany(
                    "UPDATE leases SET owner = ?, holder = NULL, attempt = ?, expires_us = ? "
                    "WHERE token = ?",
                    [row for _, row in rows],
                )
            for key, _ in rows:
                del self._leases[key]
        return kept
