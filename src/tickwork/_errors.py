"""The exceptions tickwork raises.

Every error derives from :class:`TickworkError`; each leaf also derives from the
builtin a caller would naturally catch (``ValueError``, ``LookupError``...), so
``except ValueError`` keeps working for code that does not know tickwork.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "ChainError",
    "ConflictingIdError",
    "InvalidExpression",
    "JobLookupError",
    "JobTimeout",
    "LeaseExpired",
    "RemoteJobError",
    "SchedulerStateError",
    "SerializationError",
    "StoreError",
    "TickworkError",
    "TriggerError",
    "TriggerSearchExhausted",
    "UnknownTimezone",
    "WorkerDied",
    "error_type_name",
]


class TickworkError(Exception):
    """Base class of every exception raised by tickwork."""


class InvalidExpression(TickworkError, ValueError):
    """A cron expression (or another schedule spelling) cannot be used.

    The message names the field, the offending token and why it was refused.
    ``field`` and ``token`` are also available as attributes (``None`` when the
    problem is with the expression as a whole).
    """

    def __init__(
        self,
        message: str,
        *,
        expression: str | None = None,
        field: str | None = None,
        token: str | None = None,
    ) -> None:
        super().__init__(message)
        self.expression = expression
        self.field = field
        self.token = token


class UnknownTimezone(TickworkError, LookupError):
    """A timezone name is not a known IANA zone."""


class TriggerSearchExhausted(TickworkError, RuntimeError):
    """A combining trigger gave up looking for an instant all its parts agree on."""


class TriggerError(TickworkError, ValueError):
    """A job's trigger raised instead of saying when the job fires next: an
    :class:`AndTrigger` that gave up (:class:`TriggerSearchExhausted`), or an error in
    a custom trigger. The message names the job and the trigger's error, which is also
    the ``__cause__``; ``job_id`` holds the job's id.

    Raised by the call that asked (``add_job``, ``modify_job``, ``reschedule_job``,
    ``resume_job``, ``next_fire_times``, ``last_expected_fire``, ``backfill``). At a fire
    time nothing raises: the scheduler pauses the job and reports it instead.
    """

    def __init__(self, message: str, *, job_id: str) -> None:
        super().__init__(message)
        self.job_id = job_id


class JobLookupError(TickworkError, LookupError):
    """No job with the given id exists (or a job's function cannot be found)."""


class ConflictingIdError(TickworkError, ValueError):
    """A job with the given id already exists and the conflict policy says raise."""


class ChainError(TickworkError, ValueError):
    """A change to chained jobs (``after=...``) was refused: it would close a cycle
    (the message shows it, ``a -> b -> a``), or remove a job others run after (the
    message names them; ``remove_job(id, cascade=True)`` or ``detach=True``)."""


class SchedulerStateError(TickworkError, RuntimeError):
    """The scheduler (or an executor) is not in a state that allows the call."""


class JobTimeout(TickworkError, TimeoutError):
    """A run took longer than its job's ``timeout`` and was stopped."""


class SerializationError(TickworkError, ValueError):
    """A job cannot be stored: its function or arguments cannot be represented as data."""


class WorkerDied(TickworkError, RuntimeError):
    """The worker process running a job exited (crashed, or was killed) before the job
    returned. The message names the job and the exit code or signal."""


class StoreError(TickworkError, OSError):
    """A job store cannot do what was asked: the file is not a tickwork database (or is
    corrupt, or from a newer tickwork), the disk is full or read-only, or another
    process kept it locked too long. The message names the file and the cause; nothing
    that was stored is lost."""


class LeaseExpired(TickworkError, RuntimeError):
    """A run was cut off: the process running it stopped renewing its lease (it crashed
    or was killed), so another process took the run over. A job's ``RetryPolicy``
    retries it when ``LeaseExpired`` is in ``retry_on`` (it is, by default)."""


class RemoteJobError(TickworkError, RuntimeError):
    """A job handed to a task queue failed on a worker (or never ran there: its
    reference did not import, its task expired, its worker died). The message names the
    job, the exception's type and text; :attr:`error_type` holds the type's
    ``module.QualName`` and :attr:`remote_traceback` the worker's traceback text."""

    def __init__(self, message: str, error_type: str = "", remote_traceback: str = "") -> None:
        super().__init__(message)
        self.error_type = error_type
        self.remote_traceback = remote_traceback

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (str(self), self.error_type, self.remote_traceback))


def error_type_name(kind: type[BaseException]) -> str:
    """The ``module.QualName`` of an exception type as tickwork records it (history's
    ``error_type``, a task queue's outcome): tickwork's own errors as ``tickwork.Name``,
    where users import them from, not by their private module. One function, so a run
    on a task queue's worker and a local one record the same name."""
    module = kind.__module__
    if module.startswith("tickwork._"):
        return f"tickwork.{kind.__qualname__}"
    return f"{module}.{kind.__qualname__}"
