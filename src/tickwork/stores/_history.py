"""Run history records shared by the stores."""

from __future__ import annotations

import json
import logging
import os
import socket
from collections.abc import Container, Mapping, Sequence
from datetime import timezone, tzinfo
from typing import Any, NamedTuple

from .._errors import RemoteJobError, error_type_name
from .._instants import EPOCH as _EPOCH
from .._instants import US as _US
from .._instants import instant
from .._model import Outcome, Run, RunEnd, UnkeptReturn
from .._tz import coerce_timezone, timezone_name
from ._base import RunCount

logger = logging.getLogger("tickwork")

__all__ = [
    "COUNT_RUNS",
    "HISTORY_COLUMNS",
    "KNOWN_OUTCOME",
    "Recorded",
    "counts_from_rows",
    "decode_return",
    "encode_return",
    "error_fields",
    "parents_text",
    "process_name",
    "recorded",
    "recorded_zone",
    "run_from_end",
    "run_from_row",
]

#: The history columns :func:`run_from_row` reads, in its order (both SQL stores).
HISTORY_COLUMNS = (
    "job_id, scheduled_us, zone, attempt, outcome, started_us, finished_us, "
    "error_type, error_message, process"
)

#: The history rows with an outcome this tickwork knows: a newer one, sharing the store,
#: may write others, which ``history()`` and ``run_counts()`` leave out (the values are
#: fixed words, written into the statement).
KNOWN_OUTCOME = "outcome IN ({})".format(", ".join(f"'{outcome.value}'" for outcome in Outcome))

#: The history's runs by job and outcome, with when the newest ended (both SQL stores;
#: ``{history}``: the table).
COUNT_RUNS = (
    "SELECT job_id, outcome, count(*), max(coalesce(finished_us, recorded_us)) "
    f"FROM {{history}} WHERE {KNOWN_OUTCOME} GROUP BY job_id, outcome ORDER BY job_id, outcome"
)

_MESSAGE_LIMIT = 2000
_RAN = frozenset((Outcome.SUCCESS, Outcome.FAILURE, Outcome.INTERRUPTED))
_OUTCOME_BY_ID = {id(outcome): (outcome.value, outcome in _RAN) for outcome in Outcome}
_BY_VALUE = {outcome.value: outcome for outcome in Outcome}


def counts_from_rows(rows: Sequence[Sequence[Any]]) -> list[RunCount]:
    """The :class:`RunCount` records of rows read by :data:`COUNT_RUNS` (which leaves out
    an outcome this tickwork does not know)."""
    make, known, utc = tuple.__new__, _BY_VALUE, timezone.utc
    counts: list[RunCount] = []
    add = counts.append
    for job_id, outcome, count, last in rows:
        at = None if last is None else instant(last, utc)
        add(make(RunCount, (job_id, known[outcome], int(count), at)))
    return counts


def process_name() -> str:
    """``host:pid``: which process recorded a run, or holds a lease."""
    return f"{socket.gethostname()}:{os.getpid()}"


def error_fields(end: RunEnd) -> tuple[str | None, str | None]:
    """(error type, message) for a history row: the exception's, else the reason."""
    return _error_fields(end.error, end.reason)


def _error_fields(error: BaseException | None, reason: str | None) -> tuple[str | None, str | None]:
    """:func:`error_fields` of a run's error and reason (:func:`recorded` has them
    unpacked)."""
    if error is not None:
        remote = getattr(error, "error_type", None) if isinstance(error, RemoteJobError) else None
        if remote:  # (a worker's failure: the type it had there)
            return remote.removeprefix("builtins."), str(error)[:_MESSAGE_LIMIT]
        name = error_type_name(type(error)).removeprefix("builtins.")
        return name, str(error)[:_MESSAGE_LIMIT]
    return None, None if reason is None else reason[:_MESSAGE_LIMIT]


def parents_text(end: RunEnd) -> str | None:
    """The ``parent_ids`` column of a history row: a JSON list, or NULL for none."""
    return json.dumps(list(end.parent_ids)) if end.parent_ids else None


def _parents(text: object) -> tuple[str, ...]:
    if not isinstance(text, str):
        return ()
    try:
        data = json.loads(text)
    except ValueError:
        return ()
    return tuple(item for item in data if isinstance(item, str)) if isinstance(data, list) else ()


def encode_return(value: Any) -> str:
    """A run's return value for the history: ``{"value": ...}`` when it is JSON (as
    job arguments are), else ``{"unkept": "<type>"}`` (an :class:`UnkeptReturn`, from
    a worker, names the type of the value it stands for). Never raises."""
    try:
        return json.dumps({"value": value}, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError, RecursionError):
        kind = value.type_name if isinstance(value, UnkeptReturn) else type(value).__qualname__
        return json.dumps({"unkept": kind}, separators=(",", ":"))


def decode_return(text: str | None) -> tuple[Any, bool]:
    """(value, kept) of :func:`encode_return`'s text; (None, True) for None."""
    if text is None:
        return None, True
    try:
        data = json.loads(text)
    except ValueError:
        return None, False
    if isinstance(data, dict) and "value" in data:
        return data["value"], True
    return None, False


def run_from_end(end: RunEnd, process: str) -> Run:
    error_type, message = error_fields(end)
    started = end.started_at
    ran = end.outcome in _RAN
    returned = end.return_value
    # (Through JSON, as the SQL stores keep it: the same value, or "not kept".)
    value, kept = (None, True) if returned is None else decode_return(encode_return(returned))
    return Run(
        job_id=end.job_id,
        scheduled_at=end.scheduled_at,
        attempt=end.attempt,
        outcome=end.outcome,
        started_at=started,
        finished_at=end.at if ran else None,
        error_type=error_type,
        error_message=message,
        process=process,
        parent_ids=end.parent_ids,
        return_value=value,
        return_kept=kept,
    )


def recorded_zone(name: str) -> tzinfo:
    """The zone a row recorded by name; UTC for a zone this machine lacks (the instant
    is kept all the same)."""
    try:
        return coerce_timezone(name)
    except (LookupError, TypeError):
        return timezone.utc


def run_from_row(row: Sequence[Any]) -> Run:
    """The :class:`~tickwork.Run` of a history row read as :data:`HISTORY_COLUMNS`
    (then, from a store that keeps them, the ``parent_ids`` and ``return_json``
    columns); its times in the zone recorded with it (UTC for a zone this machine
    lacks)."""
    job_id, scheduled_us, zone, attempt, outcome, started, finished, kind, message, process = row[
        :10
    ]
    parents, returned = (row[10], row[11]) if len(row) > 11 else (None, None)
    value, kept = decode_return(returned)
    tz = recorded_zone(zone)
    return Run(
        job_id=job_id,
        scheduled_at=instant(scheduled_us, tz),
        attempt=attempt,
        outcome=Outcome(outcome),
        started_at=None if started is None else instant(started, tz),
        finished_at=None if finished is None else instant(finished, tz),
        error_type=kind,
        error_message=message,
        process=process,
        parent_ids=_parents(parents),
        return_value=value,
        return_kept=kept,
    )


class Recorded(NamedTuple):
    """What a batch of ended runs writes (:func:`recorded`)."""

    #: A history row per run: job id, scheduled_us, zone, attempt, outcome, started_us,
    #: finished_us, error type, error message, then the values of ``tail``.
    rows: list[tuple[Any, ...]]
    #: The tokens of the leases to release (the runs whose last attempt ended), and
    #: their keys (job id, scheduled_us), to forget once committed.
    release: list[int]
    released: list[tuple[str, int]]
    #: (next attempt, token) of the leases of runs with another attempt to come, the
    #: attempt negative while it waits for its time (see :data:`PENDING`).
    again: list[tuple[int, int]]
    #: The token of the lease this store holds for each row's run (None: none), for a
    #: store to leave out the rows of runs whose lease another process took over.
    tokens: list[int | None]


def recorded(
    runs: Sequence[RunEnd],
    leases: Mapping[tuple[str, int], int],
    tail: tuple[Any, ...] = (),
    *,
    chains: bool = False,
) -> Recorded:
    """The history rows of *runs* (each ending with the values of *tail*) and what
    becomes of the leases this store holds (*leases*: (job id, scheduled_us) to token),
    by the lease rules of
    :class:`~tickwork.stores.SharedJobStore`: a final run releases its lease; one with
    another attempt to come (not a missed fire) keeps it, set to that attempt.
    *chains*: each row has the ``parent_ids`` and ``return_json`` columns before *tail*."""
    rows: list[tuple[Any, ...]] = []
    release: list[int] = []
    released: list[tuple[str, int]] = []
    again: list[tuple[int, int]] = []
    tokens: list[int | None] = []
    add_row, get_token, add_token = rows.append, leases.get, tokens.append
    # By identity (an Outcome's hash is a Python call): its text, and whether it ran.
    outcomes = _OUTCOME_BY_ID
    missed = Outcome.MISSED
    epoch, us = _EPOCH, _US
    zones: dict[int, str] = {}
    last = _EPOCH  # the instant scheduled of the run before, and in µs
    last_us = 0
    # One pass, each RunEnd unpacked at once, in the order of its fields (read by name
    # they cost more than the row they make, and a batch is a backlog's worth); each
    # row made in one go.
    for (
        job_id,
        scheduled_at,
        attempt,
        outcome,
        at,
        started_at,
        error,
        reason,
        final,
        returned,
        parent_ids,
    ) in runs:
        # (A backlog's runs are mostly of one instant. The fold too: instants in one zone
        # compare by their wall times alone, and a fold's two hours have the same.)
        if scheduled_at == last and scheduled_at.fold == last.fold:
            scheduled_us = last_us
        else:
            last, scheduled_us = scheduled_at, (scheduled_at - epoch) // us
            last_us = scheduled_us
        tz = scheduled_at.tzinfo
        zone = zones.get(id(tz))
        if zone is None:
            zone = zones[id(tz)] = timezone_name(tz) if tz is not None else "UTC"
        if error is None and reason is None:
            error_type = message = None
        else:
            error_type, message = _error_fields(error, reason)
        text, ran = outcomes[id(outcome)]
        started_us = None if started_at is None else (started_at - epoch) // us
        finished_us = (at - epoch) // us if ran else None
        if chains:
            add_row(
                (
                    job_id,
                    scheduled_us,
                    zone,
                    attempt,
                    text,
                    started_us,
                    finished_us,
                    error_type,
                    message,
                    json.dumps(list(parent_ids)) if parent_ids else None,
                    None if returned is None else encode_return(returned),
                    *tail,
                )
            )
        else:
            add_row(
                (
                    job_id,
                    scheduled_us,
                    zone,
                    attempt,
                    text,
                    started_us,
                    finished_us,
                    error_type,
                    message,
                    *tail,
                )
            )
        token = get_token((job_id, scheduled_us))
        add_token(token)
        if token is not None:
            if final:
                release.append(token)
                released.append((job_id, scheduled_us))
            elif outcome is not missed:
                again.append((PENDING * (attempt + 1), token))
    return Recorded(rows, release, released, again, tokens)


#: The sign of a lease's ``attempt`` while it holds a retry waiting for its time (not a
#: run going): a process that takes it over from a dead owner runs that attempt (a
#: handed-off retry), where a run cut off is recorded ``interrupted`` and counts as an
#: attempt. The attempt turns positive when the retry starts (``start_retries``).
PENDING = -1


def started(runs: Sequence[tuple[str, Any, int]], starts: list[bool]) -> list[bool]:
    """*starts*, the answer of ``start_retries`` for *runs*, once the retries another
    process took over are logged."""
    for (job_id, scheduled_at, attempt), ok in zip(runs, starts, strict=True):
        if not ok:
            logger.warning(
                "tickwork: the retry of job %r scheduled %s (attempt %d) was taken over "
                "by another process, which runs it",
                job_id,
                scheduled_at.isoformat(),
                attempt,
            )
    return starts


#: The most leases a store remembers as taken over (the oldest are forgotten).
_LOST_KEPT = 10_000


def lose(lost: dict[tuple[str, int], int], key: tuple[str, int], token: int) -> None:
    """Remember that the lease *token* of the run *key* was taken over (``maintain``
    found it gone): the run's end, whenever it comes, is not recorded."""
    _remember(lost, key, token)


def _remember(table: dict[tuple[str, int], int], key: tuple[str, int], value: int) -> None:
    """``table[key] = value``, the oldest entry forgotten past ``_LOST_KEPT``."""
    table[key] = value
    if len(table) > _LOST_KEPT:
        del table[next(iter(table))]


def supersede(
    superseded: dict[tuple[str, int], int],
    lost: Mapping[tuple[str, int], int],
    key: tuple[str, int],
    attempt: int,
) -> None:
    """This store takes over the lease of run *key* (at attempt *attempt*) from a process
    that had taken it from this one (a frozen process wakes to find its taker dead): the
    ends of the attempts before it that still go here are no longer this store's to
    record (:func:`drop_superseded`), though it holds the key's lease again."""
    if key in lost:
        _remember(superseded, key, abs(attempt))


def drop_superseded(
    runs: Sequence[RunEnd], superseded: dict[tuple[str, int], int]
) -> Sequence[RunEnd]:
    """*runs* but the ends of attempts superseded by a lease taken back (:func:`supersede`),
    logged as fenced ends are."""
    kept = []
    for run in runs:
        if superseded.get((run.job_id, (run.scheduled_at - _EPOCH) // _US), 0) > run.attempt:
            _log_fenced(run)
        else:
            kept.append(run)
    return kept


def leases_of(
    held: dict[tuple[str, int], int], lost: dict[tuple[str, int], int]
) -> Mapping[tuple[str, int], int]:
    """The leases :func:`recorded` goes by: those held, and those taken over (whose
    tokens no longer match, so their runs' rows are left out)."""
    return {**lost, **held} if lost else held


def fenced(
    batch: Recorded, runs: Sequence[RunEnd], kept: Container[int]
) -> tuple[list[tuple[Any, ...]], list[RunEnd]]:
    """The rows of *batch*, and the *runs* they record, but those whose lease is no
    longer this store's (*kept*: the tokens still held): another process took the run
    over, recorded it cut off and may run it again; the stalled process that ran it must
    not record its end as well (logged instead)."""
    rows, kept_runs = [], []
    for run, row, token in zip(runs, batch.rows, batch.tokens, strict=True):
        if token is None or token in kept:
            rows.append(row)
            kept_runs.append(run)
        else:
            _log_fenced(run)
    return rows, kept_runs


def _log_fenced(run: RunEnd) -> None:
    logger.warning(
        "tickwork: the run of job %r scheduled %s (attempt %d) ended here after "
        "another process took its claim over; its end (%s) is not recorded",
        run.job_id,
        run.scheduled_at.isoformat(),
        run.attempt,
        run.outcome.value,
    )
