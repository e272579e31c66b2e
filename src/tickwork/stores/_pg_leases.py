"""The leases of a ``PostgresStore``: claims, renewal, takeover and hand-off.

These are the lease rules of :class:`~tickwork.stores.SharedJobStore`, in SQL; the
module docstring of :mod:`tickwork.stores.postgres` tells the whole story.

- :meth:`PGLeases.claim_fires`: one statement per batch. The claims are folded in
  Python first (a job claimed twice in a batch: the later claim sees the earlier), into
  at most one *candidate* per job and stored next fire time; the statement locks the
  claimed jobs with ``FOR UPDATE SKIP LOCKED``, moves those whose stored next fire
  matches a candidate, inserts a run slot for each run they start (a slot taken
  already: the claim moves the job but starts no run), leases the runs whose slots
  were free, and counts the leases other owners hold on the jobs.
- :meth:`PGLeases.maintain`: renews this store's leases every third of
  ``lease_time``, reports those another took, takes over the leases of owners found
  dead (their advisory lock is free) at once and expired ones otherwise (expired by
  both the caller's clock and the server's), each under a new token, if this process
  can run it (a read finds those first: the job's executor is one its scheduler
  dispatches to, and the job loads here); prunes every minute.
- :meth:`PGLeases.hand_off_retries`: leaves a pending retry's lease to no one.
- :meth:`PGLeases.processes`: the registered processes and the leases each holds;
  ``maintain`` writes this store's heartbeat (``processes.seen_us``) with the renewal.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from .._tz import epoch_us, require_aware
from ._base import ClaimLike, HandOffLike, ProcessInfo, Takeover, Upkeep
from ._history import lose, supersede
from ._history import started as started_runs
from ._pg_history import LOCK_HELD, PGHistory, still_free
from ._pg_schema import DB_NOW_US, JOB_COLUMNS, instant, liveness_key
from ._pg_share import DISPATCHING
from ._processes import LeaseRow, ProcessRow, listing
from ._rows import takeover, zone_name
from ._share import aliases_of

__all__ = ["PGLeases"]

_UTC = timezone.utc
_CLAIM = """
WITH c AS (
    SELECT * FROM unnest(%(id)b::text[], %(expected)b::bigint[], %(new)b::bigint[],
        %(keep)b::bool[], %(zone)b::text[], %(remaining)b::bigint[], %(cand)b::int[])
        AS c(id, expected, new_us, keep_zone, zone, remaining, cand)
), win AS (
    -- Only rows whose stored fire matches are locked (a lost claim writes nothing), and
    -- PostgreSQL checks the match again on the newest version of a row it locks.
    SELECT c.* FROM {s}.jobs j JOIN c
    ON c.id = j.id AND j.next_fire_us IS NOT DISTINCT FROM c.expected
    WHERE NOT j.paused
    FOR UPDATE OF j SKIP LOCKED
), moved AS (
    -- (A broken mark goes: the claiming scheduler loaded the job; the mark told what
    -- another process found.)
    UPDATE {s}.jobs j SET next_fire_us = w.new_us,
        next_fire_zone = CASE WHEN w.keep_zone THEN j.next_fire_zone ELSE w.zone END,
        remaining_runs = coalesce(w.remaining, j.remaining_runs), broken = NULL,
        xid = pg_current_xact_id()
    FROM win w WHERE j.id = w.id
    RETURNING w.cand
), runs AS (
    SELECT r.cand, r.job_id, r.scheduled_us
    FROM unnest(%(run_cand)b::int[], %(run_job)b::text[], %(run_at)b::bigint[])
        AS r(cand, job_id, scheduled_us)
    WHERE r.cand IN (SELECT cand FROM win)
), slotted AS (
    INSERT INTO {s}.slots (job_id, scheduled_us, owner, claimed_us)
    SELECT job_id, scheduled_us, %(owner)s, %(now)s FROM runs
    ON CONFLICT DO NOTHING
    RETURNING job_id, scheduled_us
), refused AS (
    SELECT DISTINCT r.cand FROM runs r WHERE NOT EXISTS (
        SELECT 1 FROM slotted s WHERE s.job_id = r.job_id AND s.scheduled_us = r.scheduled_us)
), leased AS (
    INSERT INTO {s}.leases (job_id, scheduled_us, attempt, owner, expires_us)
    SELECT job_id, scheduled_us, 1, %(owner)s, %(expires)s FROM runs
    WHERE cand NOT IN (SELECT cand FROM refused)
    ON CONFLICT DO NOTHING
    RETURNING token, job_id, scheduled_us
), counts AS MATERIALIZED (
    SELECT job_id, count(*) AS n FROM {s}.leases
    WHERE job_id IN (SELECT id FROM win) AND owner <> %(owner)s AND owner <> ''
    GROUP BY job_id
)
SELECT 'w', w.cand, NULL::text, NULL::bigint, coalesce(n.n, 0),
    w.cand IN (SELECT cand FROM refused)
FROM win w LEFT JOIN counts n ON n.job_id = w.id
UNION ALL
SELECT 'l', NULL, job_id, scheduled_us, token, NULL FROM leased
"""

_RENEW = "UPDATE {s}.leases SET expires_us = %s WHERE owner = %s RETURNING token"

#: Other owners with leases: each one's soonest expiry, and whether it is dead (no
#: live process row holds its advisory lock); then each dispatching process, with its
#: executors (expiry NULL: the processes a due backlog is split between, see
#: ._pg_share).
#: (Two ranges of the owner index, either side of this store's own leases, which a plain
#: ``owner <> %s`` would read through: 20,000 of them in a backlog.)
_OTHER_OWNERS = """
SELECT l.owner, min(l.expires_us),
    l.owner <> '' AND NOT EXISTS (
        SELECT 1 FROM {s}.processes p WHERE p.owner = l.owner AND {held}), NULL::text
FROM {s}.leases l WHERE l.owner < %(owner)s OR l.owner > %(owner)s GROUP BY l.owner
UNION ALL
SELECT q.owner, NULL, NULL, q.executors FROM ({dispatching}) q
"""

#: The leases ``maintain`` may take over (expired, or of owners found dead), each with its
#: job's row (NULLs: not stored) and the row's version (``xid``), less those of a job
#: for an executor this process does not dispatch to (``aliases``: NULL when it was not
#: told) and those of rows it found it cannot run (``refused``, "id:xid" each).
_CANDIDATES = f"""
SELECT l.token, l.job_id, j.* FROM {{s}}.leases l LEFT JOIN LATERAL (
    SELECT {JOB_COLUMNS}, xid::text AS version,
        coalesce(options ->> 'executor', 'default') AS alias
    FROM {{s}}.jobs WHERE id = l.job_id) j ON true
WHERE l.owner <> %(owner)s
    AND (l.expires_us < least(%(now)s, {DB_NOW_US}) OR l.owner = ANY(%(dead)b::text[]))
    AND (j.id IS NULL OR (
        (%(aliases)s::text[] IS NULL OR j.alias = ANY(%(aliases)s::text[]))
        AND j.id || ':' || j.version NOT IN (SELECT unnest(%(refused)b::text[]))))
ORDER BY l.expires_us LIMIT 1000
"""
#: Where the row's version is among a candidate's job columns (``_fields`` order).
_VERSION_AT = 15

_TAKE_OVER = f"""
UPDATE {{s}}.leases l SET token = DEFAULT, owner = %(owner)s, expires_us = %(expires)s,
    attempt = abs(l.attempt)
FROM (
    SELECT token, owner, attempt FROM {{s}}.leases
    WHERE token = ANY(%(tokens)b::bigint[]) AND owner <> %(owner)s
        AND (expires_us < least(%(now)s, {DB_NOW_US}) OR (owner = ANY(%(dead)b::text[])
            AND NOT EXISTS (SELECT 1 FROM {{s}}.processes p
                            WHERE p.owner = leases.owner AND {{held}})))
    ORDER BY expires_us
    FOR UPDATE SKIP LOCKED
) old
WHERE l.token = old.token
RETURNING l.token, l.job_id, l.scheduled_us, old.attempt, old.owner
"""

#: (With the heartbeat, a dispatching process stays one for a lease time more.)
_BEAT = (
    f"UPDATE {{s}}.processes SET seen_us = %s, dispatch_until_us = {DB_NOW_US} + %s "
    "WHERE owner = %s"
)

#: Every registered process (alive: it holds its advisory lock) and every lease held by
#: a process, in one statement (one snapshot).
_PROCESSES = """
SELECT 'p', p.owner, p.host, p.pid, p.started_us, p.seen_us, {held}, NULL::text, NULL::int
FROM {s}.processes p
UNION ALL
SELECT 'l', l.owner, NULL, NULL, l.scheduled_us, l.expires_us, NULL, l.job_id, l.attempt
FROM {s}.leases l WHERE l.owner <> ''
"""

_START_RETRIES = """
UPDATE {s}.leases l SET attempt = r.attempt
FROM unnest(%s::bigint[], %s::int[]) AS r(token, attempt)
WHERE l.token = r.token AND l.owner = %s
RETURNING l.token
"""

_HAND_OFF = """
UPDATE {s}.leases l SET owner = '', attempt = h.attempt, expires_us = h.due
FROM unnest(%s::bigint[], %s::int[], %s::bigint[]) AS h(token, attempt, due)
WHERE l.token = h.token AND l.owner = %s
RETURNING l.token
"""


class PGLeases(PGHistory):
    """The ``leases`` and ``slots`` tables: runs claimed, renewed, taken over, handed off."""

    lease_time: float
    poll_interval: float | None
    _renew_at_us: int  # when this store's leases are next renewed
    _prune_at_us: int  # when the history is next pruned
    _beat_at_us: int  # when this store's scheduler next writes its heartbeat
    _handed_off: bool  # another process told of runs it left in the store since maintain
    _recheck: set[str]  # jobs sync must report (a claim skipped or lost them)

    _refused: set[str]  # (JobRows': rows of jobs whose runs are left to others)
    _unreadable: set[str]  # (JobRows': rows not decoded here, never claimed here)

    if TYPE_CHECKING:  # (PGShare's, JobRows')

        def _new_live_set(self, entries: Sequence[tuple[str, str | None]]) -> None: ...

        def _takeable(self, rows: Sequence[Sequence[Any]], version_at: int) -> list[Any]: ...

    def claim_fires(self, claims: Sequence[ClaimLike], *, now: datetime) -> list[int | None]:
        """Claim the fires and lease their runs: one statement for the whole batch."""
        if not claims:
            return []
        unreadable = self._unreadable
        if unreadable and not unreadable.isdisjoint(claim[0] for claim in claims):
            # A record this store could not decode is not claimed (no scheduler holds it).
            answers = iter(self.claim_fires([c for c in claims if c[0] not in unreadable], now=now))
            return [None if claim[0] in unreadable else next(answers) for claim in claims]
        now_us = epoch_us(now)
        expires = now_us + round(self.lease_time * 1_000_000)
        owner = self.owner
        # Per job, its claims in order; each distinct expected fire time among them
        # starts a chain (the claims that win if the stored fire is that one).
        by_job: dict[str, list[int]] = {}
        prepared = []
        for index, (job_id, expected, new_next, remaining, runs) in enumerate(claims):
            expected_us = None if expected is None else epoch_us(expected)
            if new_next is None:
                new_us, same, zone = None, False, None
            else:
                new_us = epoch_us(new_next)
                same = expected is not None and new_next.tzinfo is expected.tzinfo
                zone = None if same else zone_name(new_next)
            at = [
                expected_us if moment is expected and expected_us is not None else epoch_us(moment)
                for moment in runs
            ]
            prepared.append((job_id, expected_us, new_us, same, zone, remaining, at))
            by_job.setdefault(job_id, []).append(index)
        cols: dict[str, list[Any]] = {
            key: [] for key in ("id", "expected", "new", "keep", "zone", "remaining", "cand")
        }
        run_cols: dict[str, list[Any]] = {"run_cand": [], "run_job": [], "run_at": []}
        chains: list[list[int]] = []  # candidate -> the claims that win with it
        for job_id, indexes in by_job.items():
            starts: set[int | None] = set()
            for first, start in enumerate(indexes):
                expected_us = prepared[start][1]
                if expected_us in starts:
                    continue
                starts.add(expected_us)
                current = expected_us
                winners = []
                state: tuple[Any, ...] | None = None
                for index in indexes[first:]:
                    _, exp, new_us, same, zone, remaining, at = prepared[index]
                    if exp != current:
                        continue
                    winners.append(index)
                    current = new_us
                    if state is None:
                        state = (new_us, same, zone, remaining)
                    else:
                        keep, name = (state[1], state[2]) if same else (False, zone)
                        left = state[3] if remaining is None else remaining
                        state = (new_us, keep, name, left)
                assert state is not None
                cand = len(chains)
                chains.append(winners)
                for key, value in zip(
                    ("id", "expected", "new", "keep", "zone", "remaining", "cand"),
                    (job_id, expected_us, *state, cand),
                    strict=True,
                ):
                    cols[key].append(value)
                for index in winners:
                    for at_us in prepared[index][6]:
                        run_cols["run_cand"].append(cand)
                        run_cols["run_job"].append(job_id)
                        run_cols["run_at"].append(at_us)
        results: list[int | None] = [None] * len(claims)
        taken: dict[tuple[str, int], int] = {}
        with self._tx("claim due runs") as tx:
            rows = tx.conn.execute(
                _CLAIM.format(s=self._s),
                {**cols, **run_cols, "owner": owner, "now": now_us, "expires": expires},
            ).fetchall()
            for kind, cand, job_id, at_us, number, refused in rows:
                if kind == "w":
                    tx.wrote = True
                    for index in chains[cand]:
                        # A run slot taken already (that fire ran): the job moved on,
                        # and this claim starts nothing.
                        results[index] = None if refused and prepared[index][6] else number
                else:
                    taken[(job_id, at_us)] = number
        self._leases.update(taken)  # once committed
        # Claims that lost: the job was locked by another transaction (which may roll
        # back), changed, claimed elsewhere or removed. The next sync reports each such
        # job as it is then, changed or not, so that this process never forgets one.
        self._recheck.update(
            claims[index][0] for index, result in enumerate(results) if result is None
        )
        return results

    def maintain(self, now: datetime, *, take_over: bool = True) -> Upkeep:
        """Renew this store's leases when due, take over the runs of dead processes
        (advisory lock free) and expired leases that this process can run, prune the
        history every minute.

        Meant to be called every ``poll_interval``: when there is nothing to do it costs
        one small read (on the liveness connection, which it checks by the way). Runs
        this process cannot run (``_takeable``: a job for an executor it does not
        dispatch to, or whose record does not load here) are found by a read, and left
        as they are for a process that can."""
        now_us = epoch_us(now)
        if take_over:
            self._handed_off = False  # (cleared first: one told meanwhile is seen again)
        lease_us = round(self.lease_time * 1_000_000)
        lost: list[tuple[str, datetime]] = []
        taken: list[Takeover] = []
        renew = bool(self._leases) and now_us >= self._renew_at_us
        prune = now_us >= self._prune_at_us
        beat = renew or now_us >= self._beat_at_us
        dead: list[str] = []
        expired = False
        soonest: int | None = None
        alive = LOCK_HELD.format(lock=liveness_key(self.schema))
        dispatching = DISPATCHING.format(s=self._s, held=alive, now=DB_NOW_US)
        sql = _OTHER_OWNERS.format(s=self._s, held=alive, dispatching=dispatching)
        others = self._live_read(sql, {"owner": self.owner})
        live = [(row[0], row[3]) for row in others if row[1] is None]
        self._new_live_set(live)
        # The other processes that claim runs: while there are any, the scheduler
        # claims a backlog they do not split in parts its workers can start soon.
        peers = sum(1 for owner, _ in live if owner != self.owner)
        if take_over:
            # An owner whose lock is free is dead once it stays free for DEAD_AFTER: a
            # process whose connections were cut (terminated, a network blip) takes its
            # lock back within that, and its runs are not taken from under it.
            free: list[str] = []
            for owner, expires, is_dead, _ in others:
                if expires is None:
                    continue  # (a live process)
                if is_dead:
                    free.append(owner)
                elif expires < now_us:
                    expired = True
                elif soonest is None or expires < soonest:
                    soonest = expires
            self._free_since, dead, recheck = still_free(self._free_since, free, now_us)
            if recheck is not None and (soonest is None or recheck - 1 < soonest):
                soonest = recheck - 1  # (looked at again then)
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
            aliases = aliases_of(self._dispatching)
            found = self._read(
                _CANDIDATES.format(s=self._s),
                {"owner": self.owner, "now": now_us, "dead": dead, "refused": list(self._refused),
                 "aliases": None if aliases is None else list(aliases)},
                "look for runs to take over",
            )  # fmt: skip
            takeable = self._takeable(found, _VERSION_AT)
        if not (renew or prune or takeable or beat):
            return Upkeep(lost, taken, next_at, peers)
        with self._tx("renew leases") as tx:
            execute = tx.conn.execute
            if beat:
                execute(_BEAT.format(s=self._s), (now_us, lease_us, self.owner))
            if renew:
                held = {
                    row[0]
                    for row in execute(
                        _RENEW.format(s=self._s), (now_us + lease_us, self.owner)
                    ).fetchall()
                }
                self._renew_at_us = now_us + lease_us // 3
                for key, token in list(self._leases.items()):
                    if token not in held:
                        del self._leases[key]
                        lost.append((key[0], instant(key[1], _UTC)))
                        lose(self._taken_from_me, key, token)
            if takeable:
                # (As read, unless another process took or renewed a lease since.)
                rows = execute(
                    _TAKE_OVER.format(s=self._s, held=alive),
                    {"owner": self.owner, "expires": now_us + lease_us, "now": now_us,
                     "dead": dead, "tokens": takeable},
                ).fetchall()  # fmt: skip
                for token, job_id, scheduled_us, attempt, owner in rows:
                    key = (job_id, scheduled_us)
                    self._leases[key] = token
                    supersede(self._superseded, self._taken_from_me, key, attempt)
                    taken.append(
                        takeover(job_id, instant(scheduled_us, _UTC), attempt, owner, dead)
                    )
                if taken and not renew:
                    self._renew_at_us = min(self._renew_at_us, now_us + lease_us // 3)
            if prune:
                self._prune(tx, now_us)
                self._prune_at_us = now_us + 60_000_000
        if beat:  # (once committed)
            self._beat_at_us = now_us + lease_us // 3
        return Upkeep(lost, taken, next_at, peers)

    def processes(self, *, now: datetime) -> list[ProcessInfo]:
        """The scheduler processes using the schema, with the leases each holds (see
        :class:`~tickwork.stores.ProcessListing`).

        A store object is listed once its scheduler has looked after its leases
        (:meth:`maintain`, which writes its heartbeat), or while it holds leases; it is
        gone from the list when it closes the store, or within a minute of dying (the
        next prune by any host). *alive*: whether it holds its session advisory lock,
        as the server sees at the call (*now* is not needed: the lock is freed the
        moment the process or its connection dies). An owner of leases with no row is
        not alive (False): a live store object always has its row.
        """
        require_aware(now, "now")
        del now  # (the server decides: see above)
        held = LOCK_HELD.format(lock=liveness_key(self.schema))
        registered: list[ProcessRow] = []
        leases: list[LeaseRow] = []
        for kind, owner, host, pid, first, second, alive, job_id, attempt in self._read(
            _PROCESSES.format(s=self._s, held=held), action="list the processes"
        ):
            if kind == "l":
                leases.append(LeaseRow(owner, job_id, first, abs(attempt), second))
            else:
                registered.append(ProcessRow(owner, host, pid, first, second, bool(alive)))
        owners = {lease.owner for lease in leases}
        # A store object no scheduler looks after (the command line, a dashboard) is no
        # scheduler process.
        registered = [row for row in registered if row.seen_us is not None or row.owner in owners]
        return listing(registered, leases, lambda owner, owned: False)

    def upkeep_wanted(self) -> bool:
        """Whether another process told (``NOTIFY``) of runs it left in the store
        since the last :meth:`maintain` that took over runs: the scheduler then calls
        it at once rather than at its next poll (optional; see ``StoreLink``)."""
        return self._handed_off

    def _forked(self) -> None:
        super()._forked()
        self._beat_at_us = 0  # a process of its own: it registers and beats at once

    def _live_read(self, sql: str, params: Any) -> list[Any]:
        """A read on the liveness connection, which checks it: a connection that died
        is made again (and the lock taken again) first."""
        import psycopg

        self._check_live_fast()
        with self._live_lock:
            live = self._live
            if live is not None:
                try:
                    return live.execute(sql, params).fetchall()
                except psycopg.OperationalError:
                    pass  # lost: made again below
                except psycopg.Error as error:
                    raise self._error(error, "look for dead processes") from error
        self._check_live()
        with self._live_lock:
            live = self._live
            assert live is not None
            try:
                return live.execute(sql, params).fetchall()
            except psycopg.Error as error:
                raise self._error(error, "look for dead processes") from error

    def _check_live_fast(self) -> None:
        if self._live is None:
            self.open()

    def start_retries(self, runs: Sequence[tuple[str, datetime, int]]) -> list[bool]:
        """Mark the leases of retries (job id, scheduled time, attempt) that start now as
        runs going (``_history.PENDING``); for each, whether it may start: False when
        another process took its lease over meanwhile (it runs it). A retry of no lease
        here (a run asked for) may start."""
        tokens = [self._leases.get((job_id, epoch_us(at))) for job_id, at, _ in runs]
        held = [(token, run[2]) for token, run in zip(tokens, runs, strict=True) if token]
        if not held:
            return [True] * len(runs)
        with self._tx("start retries") as tx:
            started = {
                row[0]
                for row in tx.conn.execute(
                    _START_RETRIES.format(s=self._s),
                    ([token for token, _ in held], [attempt for _, attempt in held], self.owner),
                )
            }
            tx.wrote = bool(started)
        return started_runs(runs, [token is None or token in started for token in tokens])

    def hand_off_retries(self, retries: Sequence[HandOffLike], *, now: datetime) -> list[bool]:
        """Leave each pending retry this store holds a lease for to whichever store
        looks next: its lease stays, held by no one and due then."""
        keys: list[tuple[str, int] | None] = []
        tokens, attempts, dues = [], [], []
        for job_id, scheduled_at, attempt, due in retries:
            key = (job_id, epoch_us(scheduled_at))
            token = self._leases.get(key)
            keys.append(key if token is not None else None)
            if token is not None:
                tokens.append(token)
                attempts.append(attempt)
                dues.append(epoch_us(due))
        if not tokens:
            return [False] * len(keys)
        with self._tx("hand off pending retries") as tx:
            kept = {
                row[0]
                for row in tx.conn.execute(
                    _HAND_OFF.format(s=self._s), (tokens, attempts, dues, self.owner)
                ).fetchall()
            }
            if kept and self.notify:
                # (The others take them at their next step, not at their next poll.)
                tx.conn.execute("SELECT pg_notify(%s, %s)", (self.channel, self.owner + "\t"))
        found = []
        for asked in keys:
            token = None if asked is None else self._leases.get(asked)
            found.append(token in kept)
            if asked is not None and token is not None:
                del self._leases[asked]
        return found
