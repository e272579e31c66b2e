"""tickwork: an embeddable, in-process job scheduler that is right about time."""

from __future__ import annotations

from ._context import current_run
from ._default import default_scheduler, every
from ._engine import SchedulerState
from ._errors import (
    ChainError,
    ConflictingIdError,
    InvalidExpression,
    JobLookupError,
    JobTimeout,
    LeaseExpired,
    SchedulerStateError,
    SerializationError,
    StoreError,
    TickworkError,
    TriggerError,
    TriggerSearchExhausted,
    UnknownTimezone,
    WorkerDied,
)
from ._events import Event, EventKind
from ._fluent import JobBuilder, repeat
from ._model import (
    Catchup,
    ChainOn,
    ConflictPolicy,
    EmittedEvent,
    Job,
    Outcome,
    Overlap,
    RetryPolicy,
    Run,
    RunContext,
    Upstream,
)
from ._tz import LocalTimezoneWarning
from .aio import AsyncScheduler
from .scheduler import Scheduler
from .triggers import (
    AndTrigger,
    CalendarIntervalTrigger,
    CronTrigger,
    DateTrigger,
    DstGap,
    DstOverlap,
    EventTrigger,
    IntervalTrigger,
    MissingDay,
    OrTrigger,
    Trigger,
    UpstreamTrigger,
    trigger_from_dict,
)

__version__ = "0.1.0.dev0"

__all__ = [
    "AndTrigger",
    "AsyncScheduler",
    "CalendarIntervalTrigger",
    "Catchup",
    "ChainError",
    "ChainOn",
    "ConflictPolicy",
    "ConflictingIdError",
    "CronTrigger",
    "DateTrigger",
    "DstGap",
    "DstOverlap",
    "EmittedEvent",
    "Event",
    "EventKind",
    "EventTrigger",
    "IntervalTrigger",
    "InvalidExpression",
    "Job",
    "JobBuilder",
    "JobLookupError",
    "JobTimeout",
    "LeaseExpired",
    "LocalTimezoneWarning",
    "MissingDay",
    "OrTrigger",
    "Outcome",
    "Overlap",
    "RetryPolicy",
    "Run",
    "RunContext",
    "Scheduler",
    "SchedulerState",
    "SchedulerStateError",
    "SerializationError",
    "StoreError",
    "TickworkError",
    "Trigger",
    "TriggerError",
    "TriggerSearchExhausted",
    "UnknownTimezone",
    "Upstream",
    "UpstreamTrigger",
    "WorkerDied",
    "__version__",
    "current_run",
    "default_scheduler",
    "every",
    "repeat",
    "trigger_from_dict",
]
