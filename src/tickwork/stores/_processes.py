"""The processes of a shared store, as :meth:`ProcessListing.processes` lists them.

Both SQL stores read the same two things in one statement (one snapshot): a row per
registered process (its ``processes`` table, written by ``maintain()``) and a row per
lease held by a process (not the handed-off ones, owner ``""``). :func:`listing` turns
them into :class:`~tickwork.stores.ProcessInfo` records; each store says how it tells
whether a process is alive.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from typing import NamedTuple

from .._instants import instant
from ._base import LeaseInfo, ProcessInfo

__all__ = ["LeaseRow", "ProcessRow", "listing", "split_owner"]

_UTC = timezone.utc


class ProcessRow(NamedTuple):
    """A registered process: its owner name, host, pid, start and last heartbeat
    (µs since the epoch, None if unknown), and whether the store finds it alive."""

    owner: str
    host: str | None
    pid: int | None
    started_us: int | None
    seen_us: int | None
    alive: bool | None


class LeaseRow(NamedTuple):
    """A lease held by *owner*."""

    owner: str
    job_id: str
    scheduled_us: int
    attempt: int
    expires_us: int


def split_owner(owner: str) -> tuple[str | None, int | None]:
    """(host, pid) of an owner name ``host:pid:nonce`` (None where it is not one)."""
    parts = owner.rsplit(":", 2)
    if len(parts) == 3 and parts[1].isdigit():
        return parts[0] or None, int(parts[1])
    return None, None


def _at(us: int | None) -> datetime | None:
    return None if us is None else instant(us, _UTC)


def listing(
    processes: Iterable[ProcessRow],
    leases: Iterable[LeaseRow],
    unregistered: Callable[[str, list[LeaseRow]], bool | None],
) -> list[ProcessInfo]:
    """The :class:`ProcessInfo` of each registered process and of each other owner of
    leases (whose liveness *unregistered* tells, from its owner name and leases),
    ordered as :meth:`ProcessListing.processes` promises."""
    held: dict[str, list[LeaseRow]] = {}
    for lease in leases:
        held.setdefault(lease.owner, []).append(lease)
    rows = {row.owner: row for row in processes}
    for owner, owned in held.items():
        if owner not in rows:
            host, pid = split_owner(owner)
            rows[owner] = ProcessRow(owner, host, pid, None, None, unregistered(owner, owned))
    found = []
    for row in rows.values():
        owned = sorted(
            held.get(row.owner, ()), key=lambda lease: (lease.scheduled_us, lease.job_id)
        )
        found.append(
            ProcessInfo(
                id=row.owner,
                host=row.host,
                pid=row.pid,
                started=_at(row.started_us),
                last_seen=_at(row.seen_us),
                alive=row.alive,
                leases=tuple(
                    LeaseInfo(
                        job_id=lease.job_id,
                        scheduled_at=instant(lease.scheduled_us, _UTC),
                        attempt=lease.attempt,
                        expires=instant(lease.expires_us, _UTC),
                    )
                    for lease in owned
                ),
            )
        )
    found.sort(key=lambda info: (info.started is None, _key(info.started), info.id))
    return found


def _lease_order(lease: LeaseRow) -> tuple[int, str]:
    return lease.scheduled_us, lease.job_id


def _key(moment: datetime | None) -> datetime:
    return datetime.min.replace(tzinfo=_UTC) if moment is None else moment
