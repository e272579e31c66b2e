"""Chains in a store: which jobs run after which, and the upstream ends that wait for
a downstream run (:class:`ChainStore`, the contract; helpers the stores share).

A chained job (``add_job(load, after="transform")``) has its upstream ids and its
``on`` in its record (``Job.after``, ``Job.on``). A store that supports chains keeps
the edges they make, and, **in the same transaction as the history row** of a run that
ended for good, writes a :class:`ChainRow` for each downstream job whose ``on`` the
run's outcome matches: a pending hand-over, keyed by (downstream id, the upstream run's
nominal fire time, upstream id). Once a (downstream, slot) has a row for every upstream
of the downstream job, one process *claims* it (:meth:`ChainStore.claim_chain`: the
rows are deleted, in one transaction, and a shared store leases the downstream run as
it leases a claimed fire) and starts the downstream run. So a downstream run starts
exactly once per slot, whichever processes ran its upstreams, even if the process that
recorded the last upstream run dies right after: another one finds the complete set
(:meth:`ChainStore.ready_chains`) and claims it.
"""

from __future__ import annotations

from collections.abc import Container, Mapping, Sequence
from datetime import datetime
from typing import Any, NamedTuple, Protocol, runtime_checkable

from .._instants import epoch_us, instant
from .._model import ChainOn, Outcome, RunEnd, Upstream, run_id
from ._history import decode_return, encode_return, error_fields, recorded_zone
from ._rows import zone_name

__all__ = [
    "ChainRow",
    "ChainStore",
    "chain_match",
    "claimed_rows",
    "decode_return",
    "encode_return",
    "end_error",
    "pending_rows",
    "ready_slots",
    "released_rows",
    "upstream_of",
]

#: The outcomes of a run that ended for good that count for each ``on``.
_MATCHES: dict[Outcome, str] = {
    Outcome.SUCCESS: ChainOn.SUCCESS.value,
    Outcome.FAILURE: ChainOn.FAILURE.value,
    Outcome.INTERRUPTED: ChainOn.FAILURE.value,
}


class ChainRow(NamedTuple):
    """One upstream run's end, waiting for its downstream run (see the module)."""

    downstream: str
    slot: datetime
    upstream: str
    run_id: str
    outcome: Outcome
    return_json: str | None
    error: str | None


@runtime_checkable
class ChainStore(Protocol):
    """A store that keeps chains (``add_job(after=...)``). The contract:

    * ``add_job``/``add_jobs``/``update_job`` keep the edges of a job's ``after`` and
      ``on`` fields; ``remove_job(s)`` drops them (:meth:`chain_edges` lists them).
    * ``record_runs``, in the transaction that writes the history rows, writes a
      :class:`ChainRow` for each run that ended for good (``final``) with an outcome
      that ran (success, failure, interrupted) and each downstream job whose ``on``
      matches it (:func:`chain_match`); a row already there for the same key is
      replaced.
    * :meth:`claim_chain` is atomic: of processes claiming one (downstream, slot), one
      gets the rows.

    A store shared by processes also has ``release_chain(downstream, slot, upstream, *,
    now) -> bool`` (looked up with ``getattr``: without it, a claimed run that never
    started is reported interrupted at shutdown). It gives a claimed (downstream, slot)
    whose run never started back, in one transaction (the rows of
    :func:`released_rows` written again, the run's lease deleted), so that the next
    claimer runs it with its upstream runs; False when its lease is no longer this
    process's.
    """

    def chain_edges(self) -> dict[str, tuple[tuple[str, ...], ChainOn]]:
        """Every job with upstreams: its id -> (its upstream ids, its ``on``)."""
        ...

    def ready_chains(self, *, limit: int = 100) -> list[tuple[str, datetime]]:
        """(downstream id, slot) pairs with a row for every upstream of the downstream
        job, oldest first, at most *limit*."""
        ...

    def claim_chain(
        self, downstream: str, slot: datetime, *, now: datetime
    ) -> list[ChainRow] | None:
        """Take the rows of (*downstream*, *slot*) if there is one for each upstream of
        the downstream job: delete them and return them (a shared store also leases
        the downstream run, attempt 1, as ``claim_fires`` does). None when they are not
        all there, or another process took them first."""
        ...


def _returned(end: RunEnd) -> str | None:
    value = end.return_value
    return None if value is None else encode_return(value)


def chain_match(end: RunEnd) -> str | None:
    """The ``on`` value (besides ``"any"``) a run's end starts downstream jobs for, or
    None when it starts none (not final, or it never ran)."""
    if not end.final:
        return None
    return _MATCHES.get(end.outcome)


def end_error(end: RunEnd) -> str | None:
    """``"Type: message"`` of a failed run's end, for its downstream runs."""
    if end.error is None and end.reason is None:
        return None
    kind, message = error_fields(end)
    if kind is None:
        return message
    return f"{kind}: {message}"


def chain_rows(
    runs: Sequence[RunEnd],
    edges: Mapping[str, tuple[tuple[str, ...], ChainOn]],
) -> list[ChainRow]:
    """The rows *runs* write, for a store that keeps its edges in memory."""
    if not edges:
        return []
    rows: list[ChainRow] = []
    for end in runs:
        match = chain_match(end)
        if match is None:
            continue
        for downstream, (upstreams, on) in edges.items():
            if end.job_id in upstreams and on.value in (match, "any"):
                rows.append(
                    ChainRow(
                        downstream,
                        end.scheduled_at,
                        end.job_id,
                        run_id(end.job_id, end.scheduled_at, end.attempt),
                        end.outcome,
                        _returned(end),
                        end_error(end),
                    )
                )
    return rows


def pending_rows(runs: Sequence[RunEnd], now_us: int) -> list[tuple[Any, ...]]:
    """The hand-over rows *runs* write in an SQL store, one per run that starts
    downstream jobs: (slot us, zone, run id, outcome, return JSON, error, *now_us*,
    upstream job id, the ``on`` it matches besides ``"any"``)."""
    rows = []
    for end in runs:
        match = chain_match(end)
        if match is None:
            continue
        scheduled = end.scheduled_at
        rows.append(
            (
                epoch_us(scheduled),
                zone_name(scheduled),
                run_id(end.job_id, scheduled, end.attempt),
                end.outcome.value,
                _returned(end),
                end_error(end),
                now_us,
                end.job_id,
                match,
            )
        )
    return rows


def released_rows(
    downstream: str, slot: datetime, upstream: Mapping[str, Upstream], now_us: int
) -> list[tuple[Any, ...]]:
    """The hand-over rows that give a claimed (downstream, slot) back, from the
    upstream runs its run carried (``release_chain``): (downstream, slot µs, zone,
    upstream job id, run id, outcome, return JSON, error, *now_us*)."""
    slot_us, zone = epoch_us(slot), zone_name(slot)
    return [
        (
            downstream,
            slot_us,
            zone,
            up.job_id,
            up.run_id,
            up.outcome.value,
            None if up.return_value is None else encode_return(up.return_value),
            up.error,
            now_us,
        )
        for up in upstream.values()
    ]


def upstream_of(rows: Sequence[ChainRow]) -> dict[str, Upstream]:
    """The ``current_run().upstream`` mapping of a claimed set of rows."""
    found: dict[str, Upstream] = {}
    for row in rows:
        value, _ = decode_return(row.return_json)
        found[row.upstream] = Upstream(
            job_id=row.upstream,
            run_id=row.run_id,
            outcome=row.outcome,
            return_value=value,
            error=row.error,
        )
    return found


def ready_slots(rows: Sequence[Sequence[Any]]) -> list[tuple[str, datetime]]:
    """The (downstream, slot) pairs of *rows* as an SQL store reads them (downstream,
    slot in microseconds, zone)."""
    return [(down, instant(slot_us, recorded_zone(zone))) for down, slot_us, zone in rows]


def claimed_rows(
    downstream: str,
    slot_us: int,
    rows: Sequence[Sequence[Any]],
    upstreams: Container[str] | None = None,
) -> list[ChainRow]:
    """The :class:`ChainRow` s of a claimed (downstream, slot): *rows* as an SQL store
    reads them (upstream, zone, run id, outcome, return JSON, error); only those of
    *upstreams* when given."""
    return [
        ChainRow(
            downstream,
            instant(slot_us, recorded_zone(zone)),
            upstream,
            run,
            Outcome(outcome),
            returned,
            error,
        )
        for upstream, zone, run, outcome, returned, error in rows
        if upstreams is None or upstream in upstreams
    ]
