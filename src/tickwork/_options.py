"""Job options: one table says what each ``add_job`` option is, and everything else reads it.

Theory of operation
-------------------
:data:`OPTIONS` lists every keyword option of ``add_job``, in the order they are
checked: its name, its default (as ``add_job`` declares it), the ``Job`` field it
sets, how a given value is checked and turned into that field's value, and one line
of documentation. From it come:

* :func:`check_options`: ``add_job`` and ``modify_job`` turn what the caller gave into
  ``Job`` fields, with one error message per mistake, naming the option;
* :data:`ADD_OPTION_NAMES`: the options ``add_job`` takes (its decorators and the fluent
  chain read them from here);
* :data:`OPTION_NAMES`: what ``modify_job`` accepts (the checked options, and ``func``);
* :func:`options_of`: a job's current settings as ``check_options`` takes them, so
  ``modify_job`` changes some and checks all again;
* :data:`FIELD_DEFAULTS` and the option fields, which the row codec uses to leave
  defaults out of a stored job.

Options without a check (``id``, ``paused``, ``conflict``, ``first_fire``...) are
about how the job is added rather than how it runs; ``add_job`` handles them and
``modify_job`` refuses them (``pause_job`` and ``resume_job`` change ``paused``).

A check may read options checked before it (``end`` reads ``start``), so the table's
order is part of its meaning: it is also the order in which mistakes are reported.
This module sits below the engine and the row codec: it imports records, checks,
shortcuts and time helpers, never the engine, an executor, a store or a driver.
"""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import reprlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from difflib import get_close_matches
from itertools import compress
from operator import is_not
from types import FunctionType, MappingProxyType
from typing import Any, Protocol
from weakref import WeakKeyDictionary

from ._checks import seconds, storable_text, whole
from ._events import is_async
from ._instants import epoch_us
from ._model import Catchup, ChainOn, ConflictPolicy, Job, Overlap, RetryPolicy
from ._shortcuts import (
    TriggerSpec,
    UnexpectedArguments,
    coerce_datetime,
    coerce_seconds,
    make_trigger,
)
from .triggers import Trigger
from .triggers._base import coerce_enum

__all__ = [
    "ADD_OPTION_NAMES",
    "FIELD_DEFAULTS",
    "OPTIONS",
    "OPTION_NAMES",
    "ExecutorLike",
    "Option",
    "adds_only",
    "check_history_query",
    "check_options",
    "options_of",
    "trigger_spec",
]

# Shared empty values: most jobs have no kwargs or tags, and each empty dict or
# frozenset would cost every job memory.
_NO_KWARGS: Mapping[str, Any] = MappingProxyType({})
_NO_TAGS: frozenset[str] = frozenset()


class ExecutorLike(Protocol):
    """What checking options asks of an executor (every
    :class:`tickwork.executors.Executor` has it). A protocol, so that this module, below
    the row codec, needs nothing from the executors' layer above it."""

    @property
    def runs_coroutines(self) -> bool:
        """Whether coroutine functions run natively there."""

    def check(
        self,
        func: Callable[..., Any] | None,
        func_ref: str | None,
        args: tuple[Any, ...],
        kwargs: Mapping[str, Any],
    ) -> None:
        """Raise if the executor could never run such a job."""


class _Subject:
    """What a check may consult besides the value: the job's function, the executors,
    and the options checked before it (``done``, by option name)."""

    __slots__ = ("done", "executors", "fit", "func", "func_ref", "make_asyncio", "zone")

    def __init__(
        self,
        func: Callable[..., Any],
        func_ref: str | None,
        executors: Mapping[str, ExecutorLike],
        make_asyncio: Callable[[], ExecutorLike],
        fit: bool = True,
        zone: tzinfo | None = None,
    ) -> None:
        self.zone = zone  # (the scheduler's: a naive datetime's error shows it attached)
        self.func = func
        self.func_ref = func_ref
        self.executors = executors
        self.make_asyncio = make_asyncio
        self.fit = fit  # (whether the arguments are checked against the function)
        self.done: dict[str, Any] = {}


#: A check: the given value (the option's default when not given) and the subject,
#: to the field's value; raises ``TypeError`` or ``ValueError`` naming the option.
Check = Callable[[Any, _Subject], Any]


@dataclass(frozen=True, slots=True)
class Option:
    """One ``add_job`` option."""

    #: The keyword.
    name: str
    #: What ``add_job`` takes when it is not given (its signature's default).
    default: Any
    #: One line for a reader: what the option does.
    doc: str
    #: The ``Job`` field it sets (of the same name), or None when it sets none of its
    #: own (``coalesce`` sets ``catchup``; ``conflict`` decides how the job is added).
    field: str | None = None
    #: How ``check_options`` checks it; None: ``add_job`` handles it, and
    #: ``modify_job`` cannot change it.
    check: Check | None = None
    #: ``modify_job`` forgets the job's current value when this other option is
    #: changed, so the value follows from the change (``overlap`` from ``max_instances``).
    reset_by: str | None = None
    #: None is a value of its own ("no limit", "not set"), kept without a check.
    optional: bool = False


# -- the checks, in table order -------------------------------------------------------


def _default_name(func: object, func_ref: str | None) -> str:
    """The name of a job given none: its function's reference (or qualified name)."""
    return func_ref or getattr(func, "__qualname__", None) or repr(func)


def _name(value: object, subject: _Subject) -> str:
    if value is None:
        return _default_name(subject.func, subject.func_ref)
    if not isinstance(value, str):
        raise TypeError(f"name must be a str, got {value!r}")
    storable_text(value, "name")
    return value


def _args(value: object, subject: _Subject) -> tuple[Any, ...]:
    if type(value) is tuple:  # the usual case, () included, without the ABC check
        return value
    if isinstance(value, (str, bytes, Mapping, set, frozenset)) or not isinstance(value, Iterable):
        # (A dict would pass as its keys: kwargs= is meant.)
        raise TypeError(f"args must be a list or tuple of arguments, got {value!r}")
    return tuple(value)


def _kwargs(value: Any, subject: _Subject) -> Mapping[str, Any]:
    if not value:  # None or empty: the shared empty mapping
        return _NO_KWARGS
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        raise TypeError(f"kwargs must be a mapping with str keys, got {value!r}")
    return dict(value)


def _executor(value: object, subject: _Subject) -> str:
    executors = subject.executors
    if value is None:
        alias = "default"
        executor = executors[alias]
        if is_async(subject.func) and not executor.runs_coroutines:
            # A coroutine function needs an event loop: the asyncio executor, made on
            # first use so that programs without coroutine jobs never start its thread.
            alias = "asyncio"
            found = executors.get(alias)
            executor = subject.make_asyncio() if found is None else found
    elif isinstance(value, str) and value in executors:
        alias = value
        executor = executors[alias]
    else:
        known = ", ".join(sorted(executors))
        if not isinstance(value, str):
            raise TypeError(
                f"executor must be the alias (a str) of one of the scheduler's executors "
                f"(configured: {known}), got {value!r}"
            )
        raise ValueError(f"unknown executor {value!r} (configured: {known})")
    done = subject.done
    executor.check(subject.func, subject.func_ref, done["args"], done["kwargs"])
    if subject.fit and getattr(getattr(executor, "enqueuer", None), "task", None) is None:
        _fits(subject.func, done["args"], done["kwargs"])  # (a named Celery task takes them)
    return alias


#: Signatures of job functions, found once per function (None: it has none to read).
_SIGNATURES: WeakKeyDictionary[Any, inspect.Signature | None] = WeakKeyDictionary()


def _fits(
    func: Callable[..., Any] | None, args: tuple[Any, ...], kwargs: Mapping[str, Any]
) -> None:
    """Refuse, at the call, arguments the function cannot be called with (each run would
    fail with the same ``TypeError`` in the background)."""
    if func is None:
        return
    if not args and not kwargs and type(func) is FunctionType:
        # The usual job, a function called with nothing: taken at once if it requires
        # nothing (what its signature would say, without building it).
        code = func.__code__
        if code.co_argcount == len(func.__defaults__ or ()) and code.co_kwonlyargcount == len(
            func.__kwdefaults__ or ()
        ):
            return
    try:
        signature = _SIGNATURES[func]
    except (KeyError, TypeError):  # (not seen yet; or not weakly referable, or unhashable)
        try:
            # (Not through __wrapped__: a decorator may supply arguments itself.)
            signature = inspect.signature(func, follow_wrapped=False)
        except (TypeError, ValueError):  # a builtin with no signature to read
            signature = None
        with contextlib.suppress(TypeError):
            _SIGNATURES[func] = signature
    if signature is None:
        return
    try:
        signature.bind(*args, **kwargs)
    except TypeError as error:
        name = getattr(func, "__qualname__", None) or repr(func)
        given = f"args={reprlib.repr(list(args))}, kwargs={reprlib.repr(dict(kwargs))}"
        empty = inspect.Signature.empty
        bare = signature.replace(  # (the parameters, without annotations)
            parameters=[p.replace(annotation=empty) for p in signature.parameters.values()],
            return_annotation=empty,
        )
        raise TypeError(f"{given} do not fit {name}{bare}: {error}") from None


def _tags(value: Any, subject: _Subject) -> frozenset[str]:
    if value is None:
        return _NO_TAGS
    if isinstance(value, str):
        tags: tuple[Any, ...] = (value,)
    elif isinstance(value, Iterable) and not isinstance(value, Mapping):
        tags = tuple(value)  # (a generator is read once: all its tags are kept)
    else:  # (a dict would pass as its keys)
        raise TypeError(f"tags must be a str or an iterable of str, got {value!r}")
    if not all(isinstance(tag, str) for tag in tags):
        raise TypeError(f"tags must be strings, got {value!r}")
    if "" in tags:
        raise ValueError(f"tags must be non-empty strings, got {value!r}")
    return frozenset(tags) if tags else _NO_TAGS


def _start(value: object, subject: _Subject) -> datetime | None:
    return coerce_datetime(value, "start", subject.zone)


def _end(value: object, subject: _Subject) -> datetime | None:
    end = coerce_datetime(value, "end", subject.zone)
    start = subject.done["start"]
    if start and end and epoch_us(end) < epoch_us(start):
        raise ValueError(f"end {end} is before start {start}")
    return end


def _misfire_grace_time(value: object, subject: _Subject) -> timedelta | None:
    negative = (isinstance(value, timedelta) and value < timedelta(0)) or (
        isinstance(value, (int, float)) and not isinstance(value, bool) and value < 0
    )
    grace = None if negative else coerce_seconds(value, "misfire_grace_time")
    if negative or (grace is not None and not grace):
        # (0: no run starts the very microsecond it is due, every one would be missed.)
        raise ValueError(
            "misfire_grace_time must be a positive duration (seconds, or a timedelta) or "
            f"None for no limit, got {value!r}"
            + ("" if negative else ": with 0 every run would be missed")
        )
    return grace


def _coalesce(value: object, subject: _Subject) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"coalesce must be a bool, got {value!r}")
    return value


def _catchup(value: object, subject: _Subject) -> Catchup:
    coalesce = subject.done["coalesce"]
    if coalesce is not None:
        implied = Catchup.LATEST if coalesce else Catchup.ALL
        if value is not None and coerce_enum(Catchup, value, "catchup") is not implied:
            raise ValueError(f"coalesce={coalesce} contradicts catchup={value!r}")
        return implied
    return Catchup.LATEST if value is None else coerce_enum(Catchup, value, "catchup")


def _max_catchup(value: object, subject: _Subject) -> int:
    return whole(value, "max_catchup")


def _count(name: str) -> Check:
    """A check of a count: a whole number >= 1."""

    def check(value: object, subject: _Subject) -> int:
        return whole(value, name)

    return check


def _max_instances(value: object, subject: _Subject) -> int:
    return 1 if value is None else whole(value, "max_instances")


def _overlap(value: object, subject: _Subject) -> Overlap:
    if value is None:
        value = Overlap.ALLOW if subject.done["max_instances"] > 1 else Overlap.SKIP
    return coerce_enum(Overlap, value, "overlap")


def _jitter(value: object, subject: _Subject) -> timedelta | None:
    return coerce_seconds(value, "jitter") or None  # no jitter is None, not zero


def _retry(value: object, subject: _Subject) -> RetryPolicy:
    if isinstance(value, int) and not isinstance(value, bool):
        value = RetryPolicy(attempts=value)
    if not isinstance(value, RetryPolicy):
        raise TypeError(f"retry must be a RetryPolicy or a number of attempts, got {value!r}")
    return value


def _timeout(value: object, subject: _Subject) -> float:
    if isinstance(value, timedelta):
        value = value.total_seconds()
    return seconds(value, "timeout", positive=True)


def _after(value: object, subject: _Subject) -> tuple[str, ...]:
    ids = (value,) if isinstance(value, str) else value
    if not isinstance(ids, (tuple, list)) or not all(isinstance(i, str) and i for i in ids):
        raise TypeError(f"after must be a job id or a list of job ids, got {value!r}")
    if len(set(ids)) != len(ids):
        raise ValueError(f"after names a job twice: {value!r}")
    return tuple(ids)


def _on(value: object, subject: _Subject) -> ChainOn:
    return coerce_enum(ChainOn, value, "on")


# -- the table ------------------------------------------------------------------------

OPTIONS: tuple[Option, ...] = (
    Option("id", None, "unique id of the job (default: a random hex string)", field="id"),
    Option("name", None, "a label for logs (default: the function's reference)",
           field="name", check=_name),
    Option("args", (), "positional arguments for the function", field="args", check=_args),
    Option("kwargs", None, "keyword arguments for the function", field="kwargs", check=_kwargs),
    Option("executor", None,
           'alias of the executor that runs the job ("default"; "asyncio" for coroutines)',
           field="executor", check=_executor),
    Option("tags", (), "a string or strings; get_jobs(tag) selects by tag",
           field="tags", check=_tags),
    Option("start", None, "the job fires only at or after this time",
           field="start", check=_start, optional=True),
    Option("end", None, "the job fires only at or before this time",
           field="end", check=_end, optional=True),
    Option("misfire_grace_time", None, "seconds a run may start late; later runs are missed",
           field="misfire_grace_time", check=_misfire_grace_time, optional=True),
    Option("coalesce", None, 'APScheduler\'s spelling: True is catchup="latest", False "all"',
           check=_coalesce, optional=True),
    Option("catchup", None, 'which runs of a backlog execute (Catchup; default "latest")',
           field="catchup", check=_catchup, reset_by="coalesce"),
    Option("max_catchup", 100, 'with catchup="all", run at most this many (the most recent)',
           field="max_catchup", check=_max_catchup),
    Option("max_instances", None, "how many runs of the job may go on at once (default 1)",
           field="max_instances", check=_max_instances),
    Option("overlap", None,
           'what a run does at max_instances (Overlap; "skip", "allow" above 1 instance)',
           field="overlap", check=_overlap, reset_by="max_instances"),
    Option("jitter", None, "start each run up to this many seconds late",
           field="jitter", check=_jitter, optional=True),
    Option("retry", None, "a RetryPolicy, or a number of attempts",
           field="retry", check=_retry, optional=True),
    Option("timeout", None, "seconds; enforced by the asyncio and process executors only",
           field="timeout", check=_timeout, optional=True),
    Option("max_consecutive_failures", None, "pause the job after this many failed runs in a row",
           field="max_consecutive_failures", check=_count("max_consecutive_failures"),
           optional=True),
    Option("remaining_runs", None, "remove the job after this many scheduled runs",
           field="remaining_runs", check=_count("remaining_runs"), optional=True),
    Option("after", (), "run after these jobs (a job id or ids), for each of their slots",
           field="after", check=_after),
    Option("on", ChainOn.SUCCESS,
           'which ends of the upstream runs start it (ChainOn: "success", "failure", "any")',
           field="on", check=_on),
    Option("on_failure", None,
           "a function (or job id) run after the job fails for good: a job with on=\"failure\""),
    Option("paused", False, "add the job paused", field="paused"),
    Option("pause_note", None, "why the job is paused (with paused=True)", field="pause_note"),
    Option("conflict", ConflictPolicy.RAISE, "what happens when the id exists (ConflictPolicy)"),
    Option("replace_existing", False, 'True is APScheduler\'s spelling of conflict="replace"'),
    Option("run_immediately", False, "run once now, then on the trigger"),
    Option("first_fire", None, "an explicit first fire time instead of the trigger's"),
)  # fmt: skip

#: The options :func:`check_options` checks, as (name, default, check, optional), in order.
_CHECKED: tuple[tuple[str, Any, Check, bool], ...] = tuple(
    (option.name, option.default, option.check, option.optional)
    for option in OPTIONS
    if option.check is not None
)
#: The checked options whose check gives one value for the default whatever else is
#: given (most jobs leave them at it), besides those where None means "not set".
_SETTLED = ("args", "kwargs", "tags", "max_catchup", "max_instances", "after", "on")
#: A default no caller passes: the options always checked are compared with it.
_ALWAYS: Any = object()
_NAMES = tuple(name for name, _, _, _ in _CHECKED)
_GIVEN_DEFAULTS = tuple(default for _, default, _, _ in _CHECKED)
#: Each checked option's field value for its default, found once (_ALWAYS where it
#: depends on the job: the name, the executor, options that follow from others).
_SETTLED_VALUES = tuple(
    None
    if optional and default is None
    else check(default, None)  # type: ignore[arg-type]  # (these read no subject)
    if name in _SETTLED
    else _ALWAYS
    for name, default, check, optional in _CHECKED
)
#: What a given value is compared with: the default where its result is settled.
_PROBES = tuple(
    _ALWAYS if value is _ALWAYS else default
    for value, default in zip(_SETTLED_VALUES, _GIVEN_DEFAULTS, strict=True)
)
_SETTLED_FIELDS = dict(zip(_NAMES, _SETTLED_VALUES, strict=True))
_INDEXES = tuple(range(len(_CHECKED)))
#: Checked options that set no field of their own: not in check_options' result.
_NO_FIELD = tuple(option.name for option in OPTIONS if option.check and option.field is None)
#: Checked options with a field: what options_of reads from a job, (name, field).
_FIELDS = tuple(
    (option.name, option.field) for option in OPTIONS if option.check and option.field is not None
)
_RESETS = tuple((option.name, option.reset_by) for option in OPTIONS if option.reset_by is not None)

#: What ``modify_job`` accepts: every checked option, and ``func`` (a new function).
OPTION_NAMES: frozenset[str] = frozenset({option[0] for option in _CHECKED} | {"func"})
#: The options ``add_job`` takes besides its function and trigger (every row of the table).
ADD_OPTION_NAMES: frozenset[str] = frozenset(option.name for option in OPTIONS)


def trigger_spec(
    trigger: Trigger | str | None,
    args: tuple[Any, ...],
    given: Mapping[str, Any],
    *,
    now: datetime,
    zone: tzinfo,
    real_time: bool = True,
) -> TriggerSpec:
    """The trigger ``add_job`` (or one of its decorators) was asked for, as
    :func:`~tickwork._shortcuts.make_trigger` builds it; arguments the shortcut does not
    take are a ``TypeError`` that says they may be misspelt job options, naming the
    closest option (``retries``: did you mean ``retry``?)."""
    try:
        return make_trigger(trigger, args, given, now=now, zone=zone, real_time=real_time)
    except UnexpectedArguments as error:
        known = [*error.allowed, *sorted(ADD_OPTION_NAMES)]
        hints = [
            _APSCHEDULER[name] if name in _APSCHEDULER else f"{name}: did you mean {close[0]}?"
            for name in error.names
            if name in _APSCHEDULER or (close := get_close_matches(name, known, n=1))
        ]
        message = str(error)[:-1] + "; or a job option of add_job"
        raise TypeError(message + "".join(f"; {hint}" for hint in hints) + ")") from None


#: What APScheduler 3's add_job arguments that tickwork spells otherwise are here.
_APSCHEDULER = {
    "next_run_time": "next_run_time is APScheduler's: here first_fire=<aware datetime> "
    "(next_run_time=None, to add the job paused, is paused=True)",
    "jobstore": "jobstore is APScheduler's: here a scheduler has one store, Scheduler(store=...)",
}


def _field_defaults() -> dict[str, Any]:
    defaults: dict[str, Any] = {}
    for item in dataclasses.fields(Job):
        if item.default is not dataclasses.MISSING:
            defaults[item.name] = item.default
        elif item.default_factory is not dataclasses.MISSING:
            defaults[item.name] = item.default_factory()
    return defaults


#: Each ``Job`` field's default, as the record declares it: what a stored job leaves out.
FIELD_DEFAULTS: Mapping[str, Any] = MappingProxyType(_field_defaults())


def check_options(
    given: Mapping[str, Any],
    *,
    func: Callable[..., Any],
    func_ref: str | None,
    executors: Mapping[str, ExecutorLike],
    make_asyncio: Callable[[], ExecutorLike],
    fit: bool = True,
    zone: tzinfo | None = None,
) -> dict[str, Any]:
    """Check job options and return them as ``Job`` fields (keyword arguments for ``Job``).

    Args:
        given: options by name; one not given takes its default. Names the table does
            not check (``id``, ``paused``...) are ignored.
        func, func_ref: the job's function and its reference (the default name; the
            executor checks it can run them).
        executors: the configured executors, by alias.
        make_asyncio: called when a coroutine function goes to the ``"asyncio"``
            executor by default (the ``"default"`` one does not run coroutines) and
            *executors* has none; returns the new executor, which the caller keeps
            (adds to its executors). Nothing else is changed.
        fit: check the arguments against the function's signature (not when a change
            leaves both as they were: a call that did not cause a mismatch is not refused
            for it).
        zone: the scheduler's zone, which the error of a naive datetime shows attached.

    Raises:
        TypeError, ValueError: an option is wrong; the message names it. The first
            wrong one in table order is reported.
        Whatever the executor's ``check`` raises (``SerializationError`` for a
            function a process executor cannot import).
    """
    subject = _Subject(func, func_ref, executors, make_asyncio, fit, zone)
    done = subject.done
    values = tuple(map(given.get, _NAMES, _GIVEN_DEFAULTS))
    # Most options of most jobs are left at their default, whose value was found once:
    # only the others are checked, in table order (a check reads only options before
    # it). (map and compress pick them in C: a call per option showed in add_job.)
    done.update(_SETTLED_FIELDS)
    for index in compress(_INDEXES, map(is_not, values, _PROBES)):
        name, _, check, optional = _CHECKED[index]
        value = values[index]
        # Many options of many jobs are None ("no limit"): skip the call for those.
        done[name] = value if value is None and optional else check(value, subject)
    for name in _NO_FIELD:
        del done[name]
    return done


def options_of(
    job: Job,
    changes: Mapping[str, Any] = _NO_KWARGS,
    *,
    was: tuple[Callable[..., Any] | None, str | None] | None = None,
) -> dict[str, Any]:
    """*job*'s settings as :func:`check_options` takes them, with *changes* applied.

    Checking the result gives the job's fields after ``modify_job(**changes)``. A
    setting that follows from a changed option is left out, so it follows again:
    ``coalesce`` replaces ``catchup``, and a new ``max_instances`` picks ``overlap``'s
    default unless ``overlap`` is changed too. So do the name and the executor a job
    got by default from its function, when given *was* (the function and its reference
    before a change of function): a new function names the job and picks its executor,
    as ``add_job`` would (a coroutine function goes to ``"asyncio"``). Nothing is
    checked here.
    """
    current = {name: getattr(job, field) for name, field in _FIELDS}
    for name, reset_by in _RESETS:
        if reset_by in changes:
            del current[name]
    if was is not None:
        func, ref = was
        if job.name == _default_name(func, ref):
            current["name"] = None
        if job.executor == ("asyncio" if inspect.iscoroutinefunction(func) else "default"):
            current["executor"] = None
    current.update(changes)
    return current


def check_history_query(job_id: object, limit: object) -> None:
    """The arguments of ``history(job_id, limit=...)``: a str or None, a whole number."""
    if job_id is not None and not isinstance(job_id, str):
        raise TypeError(f"job_id must be a str or None, got {job_id!r}")
    whole(limit, "limit", minimum=0)


def adds_only(entry: Mapping[str, Any]) -> bool:
    """Whether an ``add_jobs`` entry can only add a job, replacing or changing none: no
    ``replace_existing``, ``conflict`` or ``on_failure`` (which may name an existing
    job). Such a batch is built before the store's write lock is taken: an id another
    process takes meanwhile fails the insert, and the batch with it."""
    if entry.get("replace_existing") or entry.get("on_failure") is not None:
        return False
    return entry.get("conflict", ConflictPolicy.RAISE) in (ConflictPolicy.RAISE, "raise")
