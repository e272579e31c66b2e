"""Job stores: where the scheduler keeps its jobs.

* :class:`MemoryStore` (the default): in memory, for one process.
* :class:`SQLiteStore`: one SQLite file, shared by the processes of one machine.
* :class:`PostgresStore`: a PostgreSQL database, shared by the processes of many hosts
  (the extra ``tickwork[postgres]``; psycopg is imported only when one is made).

To write a store of your own: :class:`JobStore` and :class:`SharedJobStore` are the
contract, with :class:`WindowedJobStore` for a store that lists its jobs in due order,
:class:`NotifyingStore` for one that tells of other processes' changes at once and
:class:`ClockedStore` for one whose server's clock the hosts schedule by and
:class:`ProcessListing` for one that lists the processes using it and
:class:`StatsListing` for one that counts for metrics cheaply and
:class:`EventLog` for one that keeps emitted events for every process on it and
:class:`QueueOutcomes` for one that task queue workers write runs' outcomes to (their
docstrings say what each method changes, returns and raises);
:class:`Claim`, :class:`HandOff`, :class:`Takeover`, :class:`Upkeep` and
:class:`RunEnd` are the records the scheduler and a store exchange;
:mod:`tickwork.stores.codec` turns a job into plain data and back; and
``tickwork.testing.JobStoreContract`` / ``SharedJobStoreContract`` are the test suites
a store passes. ``docs/writing-a-store.md`` walks through one.
"""

from __future__ import annotations

from .._model import RunEnd
from . import codec
from ._base import (
    Claim,
    ClaimLike,
    ClockedStore,
    HandOff,
    HandOffLike,
    JobSchedule,
    JobStore,
    LeaseInfo,
    NotifyingStore,
    ProcessInfo,
    ProcessListing,
    RunCount,
    SharedJobStore,
    StatsListing,
    Takeover,
    Upkeep,
    WindowedJobStore,
)
from ._eventlog import EventLog
from ._queue_outcomes import QueueOutcomes
from .memory import MemoryStore
from .postgres import PostgresStore
from .sqlite import SQLiteStore

__all__ = [
    "Claim",
    "ClaimLike",
    "ClockedStore",
    "EventLog",
    "HandOff",
    "HandOffLike",
    "JobSchedule",
    "JobStore",
    "LeaseInfo",
    "MemoryStore",
    "NotifyingStore",
    "PostgresStore",
    "ProcessInfo",
    "ProcessListing",
    "QueueOutcomes",
    "RunCount",
    "RunEnd",
    "SQLiteStore",
    "SharedJobStore",
    "StatsListing",
    "Takeover",
    "Upkeep",
    "WindowedJobStore",
    "codec",
]
