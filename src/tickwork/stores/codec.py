"""The row codec: a :class:`~tickwork.Job` as plain data, and back.

A store that keeps jobs outside the process (a file, a database, a document store)
keeps each one as a :class:`JobRow`, made by :func:`encode_job` and turned back into a
job by :func:`decode_job`::

    from tickwork.stores import codec

    row = codec.encode_job(job)            # a JobRow: str, int and None values
    data = row._asdict()                   # the same as a dict, ready for json.dumps
    same = codec.decode_job(data)          # == job (with func=None: see decode_job)

Theory of operation
-------------------
The fields a store queries or updates on their own (``next_fire_us``, ``paused``,
``remaining_runs``, ``consecutive_failures``) are values of their own; the rest is
text. ``trigger`` is the JSON of ``Trigger.to_dict()`` (:func:`encode_trigger`);
``options`` is the JSON of every other setting, with the settings equal to the ``Job``
default left out, so a job with default settings stores ``{}``. Arguments are JSON
unless the store asks for pickle (``pickle_args=True``), when they are pickle bytes;
:func:`decode_job` tells the two apart by the value's type, so one store can hold both.
``next_fire_zone`` keeps the zone of the next fire time when it is not the trigger's.

Encoding refuses, with a :class:`~tickwork.SerializationError` naming the job and the
offending value, anything that would not come back equal: a function without an
importable ``"module:qualname"``, and arguments that JSON would change or cannot hold (a
tuple comes back a list, a datetime cannot be written at all). Decoding raises only
:class:`~tickwork.SerializationError` for bad data, whatever the row holds, so a store can
keep a broken row, report it (``broken_jobs()``) and go on with the others.

Decoding is on the path of a store's start (every row, every time), so it is built to be
cheap: triggers and options are immutable values shared by many jobs, so both are
cached by their JSON text, and the ``Job`` is built by straight-line generated code.

The run history has a helper too: :func:`run_from_end` turns what the scheduler
reports to :meth:`~tickwork.stores.JobStore.record_runs` into the
:class:`~tickwork.Run` that :meth:`~tickwork.stores.JobStore.history` returns.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta, timezone, tzinfo
from types import MappingProxyType
from typing import Any, NamedTuple

from .._errors import SerializationError
from .._instants import EPOCH as _EPOCH
from .._model import Job, RetryPolicy, Run, RunEnd
from .._references import imports_allowed
from .._serialize import (
    _DEFAULTS,
    _OPTION_FIELDS,
    _PICKLE_PROTOCOL,
    _ROW_FIELDS,
    _args_problem,
    _decode_options,
    _decode_trigger,
    _encode_args,
    _encode_options,
    _func_error,
    _options,
    _parse,
    _pickle_part,
    _remember,
    _short_repr,
    _trigger_text,
    _triggers,
    _type_name,
    fire_zone,
    remember_trigger,
)
from .._serialize import trigger_misses as _misses
from .._tz import coerce_timezone, epoch_us, timezone_name
from ..triggers import DateTrigger, Trigger
from ._history import process_name
from ._history import run_from_end as _run_from_end

__all__ = [
    "JobRow",
    "SerializationError",
    "decode_job",
    "decode_trigger",
    "encode_job",
    "encode_trigger",
    "process_name",
    "run_from_end",
]

_MESSAGE_LIMIT = 300
# Most jobs have no kwargs; sharing one empty value saves a dict per job.
_NO_KWARGS: Mapping[str, Any] = MappingProxyType({})
_EMPTY_ARGS_PICKLE = pickle.dumps((), protocol=_PICKLE_PROTOCOL)
_EMPTY_KWARGS_PICKLE = pickle.dumps({}, protocol=_PICKLE_PROTOCOL)
_fromtimestamp = datetime.fromtimestamp


class JobRow(NamedTuple):
    """One job as plain values, in the order a table holds them as columns.

    A tuple (SQL parameters, in this order) and, by ``row._asdict()``, a dict (a JSON
    object; with the default ``pickle_args=False`` every value is a str, an int or
    None). :func:`decode_job` takes either.
    """

    id: str
    name: str
    func_ref: str
    #: JSON text of the positional arguments (a list), or pickle bytes of the tuple.
    args: str | bytes
    #: JSON text of the keyword arguments (an object), or pickle bytes of the dict.
    kwargs: str | bytes
    #: JSON text of ``trigger.to_dict()``, compact, keys sorted.
    trigger: str
    #: JSON text of the other settings that differ from the ``Job`` defaults.
    options: str
    #: ``next_fire`` as microseconds since the Unix epoch, or None.
    next_fire_us: int | None
    paused: int
    remaining_runs: int | None
    consecutive_failures: int
    #: The zone ``next_fire`` is expressed in, when it is not the one decoding gives
    #: (the trigger's); None otherwise. Kept so a job reads back
    #: equal: Python never calls instants in different zones equal when one is in a
    #: DST fold.
    next_fire_zone: str | None = None


# -- building a Job ---------------------------------------------------------------------


def _build_maker() -> Callable[..., Job]:
    """Generate ``make(id, ..., options)``: the fields set straight, no ``__init__``.

    A row is turned into a ``Job`` at every store start and every window page, once per
    job. The frozen record's slots can be set only through their descriptors, a call
    each (28 of them: half of decoding a row); so the fields are stored on a *twin*, a
    plain class with the same slots (the same layout), by plain attribute stores, and
    the finished object then becomes a ``Job`` (``__class__`` assignment, which Python
    allows between classes of one layout). About three times as fast as a descriptor
    call per field. Python 3.10 to 3.13 allow the switch.
    """
    names = Job.__slots__
    twin = type("_JobTwin", (), {"__slots__": names, "__module__": __name__})
    namespace: dict[str, Any] = {"_Job": Job, "_Twin": twin, "_new": object.__new__}
    lines = [f"def make({', '.join(_ROW_FIELDS)}, options):"]
    lines.append(f"    ({', '.join(_OPTION_FIELDS)},) = options")
    lines.append("    new = _new(_Twin)")
    for index, name in enumerate(names):
        if name in _ROW_FIELDS or name in _OPTION_FIELDS:
            value = name
        else:
            # func and _control, and any field this module does not know yet: its default.
            namespace[f"_default{index}"] = _DEFAULTS.get(name)
            value = f"_default{index}"
        lines.append(f"    new.{name} = {value}")
    lines.append("    new.__class__ = _Job")
    lines.append("    return new")
    exec("\n".join(lines), namespace)  # code built from our own field names only
    make: Callable[..., Job] = namespace["make"]
    # A layout the switch refuses (a Job with a base of its own slots, say) fails here,
    # at import, not at the first row read.
    made = make(*[None] * len(_ROW_FIELDS), (None,) * len(_OPTION_FIELDS))
    assert type(made) is Job
    return make


_make_job = _build_maker()


#: The next fire decoded last: (µs, the trigger's zone, the datetime). Read and replaced
#: whole (threads may decode at once). At first, a zone no trigger has.
_NO_ZONE = timezone(timedelta(0), "no trigger's")
_last_moment: tuple[int, tzinfo, datetime] = (0, _NO_ZONE, datetime(1970, 1, 1, tzinfo=_NO_ZONE))


def _own_moment(trigger: Trigger, micros: int, zone: tzinfo) -> datetime:
    """The instant *micros* in *zone* (the zone *trigger* answers in): a date trigger's
    own ``run_at`` if it is that instant (the scheduler then knows by identity that the
    trigger has no fire after it), else a new datetime."""
    if type(trigger) is DateTrigger:
        run_at = trigger.run_at
        if run_at.tzinfo is zone and epoch_us(run_at) == micros:
            return run_at
    try:
        # A float timestamp is cheapest; it is exact unless the float rounding reached
        # half a microsecond (far from 1970): the microsecond shows it.
        moment = _fromtimestamp(micros / 1e6, zone)
        if moment.microsecond != micros % 1_000_000:
            moment = _exact_moment(micros, zone)
    except (OverflowError, OSError, ValueError):
        moment = _exact_moment(micros, zone)
    return moment


def _remember_moment(micros: int, zone: tzinfo, moment: datetime) -> None:
    """Keep *moment* as the next fire decoded last (see :func:`decode_job`)."""
    global _last_moment
    _last_moment = (micros, zone, moment)


def _exact_moment(micros: int, zone: tzinfo) -> datetime:
    """The instant *micros* (since the epoch) as an aware datetime in *zone*, exactly."""
    try:
        return (_EPOCH + timedelta(microseconds=micros)).astimezone(zone)
    except (OverflowError, OSError, ValueError):
        raise ValueError(f"next_fire_us {micros} is out of range") from None


# -- the codec --------------------------------------------------------------------------


def encode_job(job: Job, *, pickle_args: bool = False) -> JobRow:
    """Turn *job* into column values for a store.

    Args:
        job: the job; its function must be stored by reference (``job.func_ref``).
        pickle_args: store ``args`` and ``kwargs`` as pickle bytes (protocol 5) instead
            of JSON text, so any picklable value can be stored.

    Raises:
        SerializationError: naming the job and the problem: the function has no
            ``"module:qualname"`` reference (a lambda, a closure, a bound method);
            an argument is not JSON data (its path, such as ``kwargs['cfg']['when']``,
            and type are named) or, with *pickle_args*, cannot be pickled; a ``retry_on``
            type cannot be imported back; ``start`` or ``end`` is naive.
    """
    func_ref = job.func_ref
    if func_ref is None:
        raise _func_error(job)
    args, kwargs = job.args, job.kwargs
    if pickle_args:
        for key in kwargs:
            if not isinstance(key, str):
                raise SerializationError(
                    f"job {job.id!r}: kwargs key {_short_repr(key)} ({_type_name(key)}) "
                    "is not a str: keyword argument names are strings"
                )
        args_value: str | bytes = _pickle_part(job, tuple(args), "args")
        kwargs_value: str | bytes = _pickle_part(job, dict(kwargs), "kwargs")
    else:
        if args or kwargs:
            problem = _args_problem(args, kwargs)
            if problem is not None:
                raise SerializationError(f"job {job.id!r}: cannot store its arguments: {problem}")
        try:
            args_value = _encode_args(args) if args else "[]"
            if not kwargs:
                kwargs_value = "{}"
            else:
                kwargs_value = _encode_args(kwargs if type(kwargs) is dict else dict(kwargs))
        except ValueError as error:  # e.g. an int over a lowered sys.int_max_str_digits
            raise SerializationError(f"job {job.id!r}: cannot store arguments: {error}") from None
    try:
        trigger = _trigger_text(job.trigger)
        options = _encode_options(job)
    except SerializationError:
        raise
    except Exception as error:  # a custom trigger or option that JSON cannot hold
        raise SerializationError(
            f"job {job.id!r}: cannot store its trigger or options: {error}"
        ) from error
    if options not in _options:
        _check_options(job, options)
    next_fire = job.next_fire
    zone = None
    try:
        if next_fire is not None:
            next_us: int | None = epoch_us(next_fire)
            if next_fire.tzinfo is not fire_zone(job.trigger):
                zone = _zone_name(next_fire.tzinfo)
        else:
            next_us = None
    except TypeError:  # naive: it names no instant
        raise SerializationError(
            f"job {job.id!r}: next_fire is a naive datetime: {next_fire}"
        ) from None
    return JobRow(
        job.id,
        job.name,
        func_ref,
        args_value,
        kwargs_value,
        trigger,
        options,
        next_us,
        1 if job.paused else 0,
        job.remaining_runs,
        job.consecutive_failures,
        zone,
    )


_zone_names: dict[int, tuple[tzinfo, str | None]] = {}


def _zone_name(zone: tzinfo | None) -> str | None:
    """The name of *zone* (cached per tzinfo object: zones are few); None for a zone
    that has no name (the instant is kept all the same)."""
    known = _zone_names.get(id(zone))
    if known is None or known[0] is not zone:
        try:
            name: str | None = None if zone is None else timezone_name(zone)
        except TypeError:
            name = None
        if zone is not None:
            known = _zone_names[id(zone)] = (zone, name)
        else:
            return None
    return known[1]


def _check_options(job: Job, text: str) -> None:
    """Refuse options that would not come back equal (a tag that is no str, a count
    that is a string...), now rather than when the store is next opened.

    Runs once per distinct options text, and leaves the result in the decode cache
    (unless decoding imports nothing: see ``references_as_text``).
    """
    try:
        decoded = _decode_options(text)
    except ValueError as error:
        raise SerializationError(f"job {job.id!r}: cannot store its options: {error}") from None
    for name, value in zip(_OPTION_FIELDS, decoded, strict=True):
        given = getattr(job, name)
        if value != given and not _same_retry(value, given):
            raise SerializationError(
                f"job {job.id!r}: cannot store option {name}={given!r}: "
                f"it would come back as {value!r}"
            )
    if imports_allowed():  # stand-ins are for the reader that asked for them
        _remember(_options, text, decoded)


def _same_retry(decoded: object, given: object) -> bool:
    """Whether two retry policies store the same data: one may name its ``retry_on``
    types by stand-ins (a job read without importing, written back by a tool that
    pauses it), the other by the real classes."""
    return (
        isinstance(decoded, RetryPolicy)
        and isinstance(given, RetryPolicy)
        and decoded.to_dict() == given.to_dict()
    )


def _decode_arguments(args: object, kwargs: object) -> tuple[tuple[Any, ...], Mapping[str, Any]]:
    """Arguments from JSON text or pickle bytes; raises ``ValueError`` with the reason."""
    if type(args) is str:
        if args == "[]":
            args_value: Any = ()
        else:
            try:
                args_value = _parse(args)
            except Exception as error:
                raise ValueError(f"corrupt args JSON: {error}") from None
            if type(args_value) is not list:
                raise ValueError(f"args JSON is {_type_name(args_value)}, not a list")
            args_value = tuple(args_value)
    elif isinstance(args, (bytes, bytearray, memoryview)):
        if args == _EMPTY_ARGS_PICKLE:
            args_value = ()
        else:
            args_value = _unpickle(args, "args")
            if type(args_value) not in (tuple, list):
                raise ValueError(f"pickled args are a {_type_name(args_value)}, not a tuple")
            args_value = tuple(args_value)
    else:
        raise ValueError(f"args column holds {_type_name(args)}, not text or bytes")
    if type(kwargs) is str:
        if kwargs == "{}":
            kwargs_value: Any = _NO_KWARGS
        else:
            try:
                kwargs_value = _parse(kwargs)
            except Exception as error:
                raise ValueError(f"corrupt kwargs JSON: {error}") from None
            if type(kwargs_value) is not dict:
                raise ValueError(f"kwargs JSON is {_type_name(kwargs_value)}, not an object")
    elif isinstance(kwargs, (bytes, bytearray, memoryview)):
        if kwargs == _EMPTY_KWARGS_PICKLE:
            kwargs_value = _NO_KWARGS
        else:
            kwargs_value = _unpickle(kwargs, "kwargs")
            if not isinstance(kwargs_value, Mapping) or not all(
                isinstance(key, str) for key in kwargs_value
            ):
                raise ValueError("pickled kwargs are not a mapping with str keys")
            kwargs_value = dict(kwargs_value) if kwargs_value else _NO_KWARGS
    else:
        raise ValueError(f"kwargs column holds {_type_name(kwargs)}, not text or bytes")
    return args_value, kwargs_value


def _unpickle(data: bytes | bytearray | memoryview, part: str) -> Any:
    try:
        return pickle.loads(data)
    except Exception as error:  # pickle raises nearly anything on bad or stale data
        raise ValueError(f"cannot unpickle {part}: {type(error).__name__}: {error}") from None


def _check_counts(next_us: object, paused: object, remaining: object, failures: object) -> None:
    """Raise ``ValueError`` naming the first integer column that holds something else."""
    if next_us is not None and type(next_us) is not int:
        raise ValueError(f"next_fire_us column holds {_type_name(next_us)} {_short_repr(next_us)}")
    if type(paused) is not int or paused not in (0, 1):
        raise ValueError(f"paused column holds {_short_repr(paused)}, not 0 or 1")
    if remaining is not None and type(remaining) is not int:
        raise ValueError(
            f"remaining_runs column holds {_type_name(remaining)} {_short_repr(remaining)}"
        )
    if type(failures) is not int:
        raise ValueError(
            f"consecutive_failures column holds {_type_name(failures)} {_short_repr(failures)}"
        )


def decode_job(row: Sequence[Any] | Mapping[str, Any]) -> Job:
    """Rebuild the :class:`~tickwork._model.Job` that :func:`encode_job` turned into *row*.

    Args:
        row: the column values in :class:`JobRow` order (a ``sqlite3`` row tuple; the
            last, ``next_fire_zone``, may be left out), or a mapping of the
            :class:`JobRow` field names to them (``JobRow._asdict()``, or a JSON object).

    Returns:
        A job equal to the one encoded, with ``func=None`` (the scheduler resolves
        ``func_ref`` when it runs it) and no scheduler attached. ``next_fire`` is
        expressed in ``next_fire_zone`` if given, else in the trigger's zone (the first
        child's for and/or triggers, UTC for a trigger without a zone).

    Raises:
        SerializationError: the row is broken (corrupt JSON, an unknown trigger type,
            invalid trigger fields, a bad option value, a ``retry_on`` type that no
            longer imports, a column of the wrong type, a missing column); the message
            names the job id and the reason. Nothing else is raised, whatever the row
            holds.
    """
    if type(row) is not tuple and isinstance(row, Mapping):
        row = _columns(row)
    try:
        if len(row) == _COLUMN_COUNT - 1:  # a row without next_fire_zone
            row = (*row, None)
        (
            job_id,
            name,
            func_ref,
            args,
            kwargs,
            trigger_text,
            options_text,
            next_us,
            paused,
            remaining,
            failures,
            zone,
        ) = row
    except Exception as error:
        raise SerializationError(
            f"job row is not {_COLUMN_COUNT} columns ({_COLUMN_COUNT - 1} without "
            f"next_fire_zone): {error}"
        ) from None
    try:
        if type(job_id) is not str or type(name) is not str or type(func_ref) is not str:
            for column, value in (("id", job_id), ("name", name), ("func_ref", func_ref)):
                if type(value) is not str:
                    raise ValueError(f"{column} column holds {_type_name(value)}, not text")
        cached = _triggers.get(trigger_text) if type(trigger_text) is str else None
        if cached is None:
            if type(trigger_text) is not str:
                raise ValueError(f"trigger column holds {_type_name(trigger_text)}, not text")
            cached = _decode_trigger(trigger_text)
            remember_trigger(trigger_text, cached)
        else:
            _misses[0] = 0
        options = _options.get(options_text) if type(options_text) is str else None
        if options is None:
            if type(options_text) is not str:
                raise ValueError(f"options column holds {_type_name(options_text)}, not text")
            options = _decode_options(options_text)
            if imports_allowed():  # stand-ins are for the reader that asked for them
                _remember(_options, options_text, options)
        # Checked by type first: comparing bytes with str warns under ``python -b``.
        if type(args) is str and args == "[]" and type(kwargs) is str and kwargs == "{}":
            args_value: tuple[Any, ...] = ()
            kwargs_value: Mapping[str, Any] = _NO_KWARGS
        else:
            args_value, kwargs_value = _decode_arguments(args, kwargs)
        # One combined test for the usual row; _check_counts says which column is wrong.
        if (
            type(paused) is not int
            or (paused != 0 and paused != 1)
            or type(failures) is not int
            or (remaining is not None and type(remaining) is not int)
            or (next_us is not None and type(next_us) is not int)
        ):
            _check_counts(next_us, paused, remaining, failures)
        if next_us is None:
            next_fire = None
        else:
            last = _last_moment
            if last[0] == next_us and last[1] is cached[1]:
                # A backlog's rows are due at a few instants: one datetime each (it is
                # immutable), and the core's key of it is then found by identity.
                next_fire = last[2]
            else:
                next_fire = _own_moment(cached[0], next_us, cached[1])
                _remember_moment(next_us, cached[1], next_fire)
            if zone is not None:
                next_fire = _in_zone(next_fire, zone)
    except Exception as error:
        label = repr(job_id) if type(job_id) is str else f"with id {_short_repr(job_id)}"
        reason = str(error) or type(error).__name__
        if len(reason) > _MESSAGE_LIMIT:
            reason = f"{reason[: _MESSAGE_LIMIT - 3]}..."
        raise SerializationError(f"job {label}: {reason}") from None
    return _make_job(
        job_id,
        name,
        func_ref,
        args_value,
        kwargs_value,
        cached[0],
        next_fire,
        paused == 1,
        remaining,
        failures,
        options,
    )


_COLUMN_COUNT = len(JobRow._fields)
_REQUIRED = JobRow._fields[:-1]  # every field but next_fire_zone


def _columns(data: Mapping[str, Any]) -> tuple[Any, ...]:
    """The columns of a row given as a mapping of field names; raises SerializationError
    naming the job and the first missing field."""
    try:
        return (*[data[name] for name in _REQUIRED], data.get("next_fire_zone"))
    except KeyError as missing:
        label = _short_repr(data.get("id"))
        raise SerializationError(f"job {label}: the row has no {missing} field") from None
    except Exception as error:  # a mapping that fails on its own
        raise SerializationError(f"job row cannot be read: {error}") from None


def _in_zone(moment: datetime, zone: object) -> datetime:
    """*moment* in the zone named *zone* (kept as it is in a zone this process does not
    know: the instant is right either way). Raises ValueError for a zone that is no
    name."""
    if type(zone) is not str:
        raise ValueError(f"next_fire_zone column holds {_type_name(zone)}, not text")
    if _zone_name(moment.tzinfo) == zone:
        return moment
    try:
        return moment.astimezone(coerce_timezone(zone, "next_fire_zone"))
    except (LookupError, TypeError):
        return moment


# -- triggers and history ---------------------------------------------------------------


def encode_trigger(trigger: Trigger) -> str:
    """The JSON text of ``trigger.to_dict()``: compact, keys sorted, so equal triggers
    give equal text (the ``trigger`` value of a :class:`JobRow`).

    Raises:
        SerializationError: the trigger (a custom one) gives data JSON cannot hold.
    """
    try:
        return _trigger_text(trigger)
    except Exception as error:
        raise SerializationError(f"cannot store trigger {trigger!r}: {error}") from error


def decode_trigger(text: str) -> Trigger:
    """The trigger :func:`encode_trigger` turned into *text* (an equal one).

    Raises:
        SerializationError: *text* is not a trigger's JSON (corrupt JSON, an unknown
            trigger type, invalid fields); the message says why. Nothing else is
            raised, whatever *text* holds.
    """
    cached = _triggers.get(text) if type(text) is str else None
    if cached is not None:
        _misses[0] = 0
        return cached[0]
    try:
        if type(text) is not str:
            raise ValueError(f"trigger text is {_type_name(text)}, not a str")
        cached = _decode_trigger(text)
    except Exception as error:
        raise SerializationError(str(error)[:_MESSAGE_LIMIT]) from None
    remember_trigger(text, cached)
    return cached[0]


def run_from_end(end: RunEnd, process: str) -> Run:
    """The history record of one run (what :meth:`~tickwork.stores.JobStore.history`
    returns) from what the scheduler reported to
    :meth:`~tickwork.stores.JobStore.record_runs`.

    *process* names the process that recorded it (:func:`process_name` for this one).
    ``error_type`` is the exception's ``module.QualName`` (just the name for builtins,
    ``tickwork.Name`` for tickwork's own errors) and ``error_message`` its text, or the
    reason the run was missed, skipped or interrupted (at most 2,000 characters);
    ``finished_at`` is None for a run that did not run.
    """
    return _run_from_end(end, process)
