"""Jobs' values as JSON: arguments, options, triggers, and the references in them.

Theory of operation
-------------------
A store that keeps jobs outside the process keeps each one as a row of plain values
(:mod:`tickwork.stores.codec`, built on this module). This module holds the pieces:
``trigger`` is the JSON of ``Trigger.to_dict()``; ``options`` is the JSON of every
setting but the row's own columns, with the settings equal to the ``Job`` default left
out, so a job with default settings stores ``{}``; arguments are checked to come back
from JSON exactly (:func:`check_json`), or pickled.

Encoding refuses, with a message naming the job and the offending value, anything that
would not come back equal: a function without an importable ``"module:qualname"``, and
arguments that JSON would change or cannot hold (a tuple comes back a list, a datetime
cannot be written at all). Decoding raises ``ValueError`` with the reason, which the
codec turns into a :class:`~tickwork.SerializationError` naming the job.

Decoding is on the path of a store's start (every row, every time), so it is built to be
cheap: triggers and options are immutable values shared by many jobs, so both are
cached by their JSON text.
"""

from __future__ import annotations

import contextlib
import json
import math
import pickle
import reprlib
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta, tzinfo
from typing import Any, TypeVar

from ._errors import SerializationError
from ._model import Catchup, ChainOn, Job, Overlap, RetryPolicy
from ._options import FIELD_DEFAULTS, OPTIONS
from ._references import (
    imports_allowed,
    references_as_text,
    resolve_reference,
    stand_in,
    why_no_reference,
)
from ._tz import UTC, coerce_timezone, timezone_name
from .triggers import (
    AndTrigger,
    CalendarIntervalTrigger,
    CronTrigger,
    DateTrigger,
    IntervalTrigger,
    OrTrigger,
    Trigger,
)

__all__ = [
    "check_json",
    "clear_caches",
    "fire_zone",
    "references_as_text",
]

_K = TypeVar("_K")
_V = TypeVar("_V")

#: How deep arguments may nest. ``json`` recurses once per level, in C and in Python,
#: so a limit well under the interpreter's recursion limit keeps both sides safe.
MAX_DEPTH = 100
#: How many distinct trigger / options texts the decode caches keep.
CACHE_SIZE = 4096
_PICKLE_PROTOCOL = 5
#: What a refusal of arguments adds when pickling them is a way out (a store's check;
#: not a task queue's, which sends them as JSON whatever the store).
_PICKLE_OPTION = ", or open the store with pickle=True"

# Most jobs have no tags; sharing one empty value saves a set per job.
_NO_TAGS: frozenset[str] = frozenset()

# One encoder object each: ``json.dumps`` with options builds a new encoder per call.
# Arguments skip the circular check because _walk has already proved there is no cycle.
_encode_args = json.JSONEncoder(separators=(",", ":"), allow_nan=False, check_circular=False).encode
# Options may hold an infinite retry delay; Python's json round-trips it (as Infinity).
_encode_sorted = json.JSONEncoder(separators=(",", ":"), sort_keys=True).encode
_loads = json.loads
# The decoder's own scanner, without the two regex passes ``json.loads`` adds around it
# to allow surrounding whitespace (which the encoders here never write).
# (The attribute is set by JSONDecoder.__init__; typeshed does not declare it.)
_scan: Callable[[str, int], tuple[Any, int]]
_scan = json.JSONDecoder().scan_once  # type: ignore[attr-defined]


def _parse(text: str) -> Any:
    """``json.loads(text)``, three times faster for the compact text the encoders write.

    Anything unusual (whitespace around the value, an error) goes to ``json.loads``,
    so the result and the error message are exactly its own.
    """
    try:
        value, end = _scan(text, 0)
    except Exception:  # StopIteration at a bad start; json.loads says what is wrong
        return _loads(text)
    return value if end == len(text) else _loads(text)


# -- arguments as JSON ------------------------------------------------------------------


class _Reject(Exception):
    """Raised inside :func:`_walk`; the path is collected while it unwinds."""

    def __init__(self, problem: str, hint: str = "store JSON types") -> None:
        super().__init__(problem)
        self.problem = problem
        self.hint = hint
        self.keys: list[str] = []


def _type_name(value: object) -> str:
    kind = type(value)
    if kind.__module__ == "builtins":
        return kind.__qualname__
    return f"{kind.__module__}.{kind.__qualname__}"


_short = reprlib.Repr()
_short.maxstring = 60
_short.maxother = 60


def _short_repr(value: object) -> str:
    """A repr for an error message: short, and never an error itself."""
    try:
        text = _short.repr(value)
    except Exception:  # a broken __repr__ must not hide the real problem
        return f"<{_type_name(value)} object>"
    return text if len(text) <= 80 else f"{text[:77]}..."


def _walk(value: Any, depth: int, path_ids: set[int]) -> None:
    """Raise :class:`_Reject` unless *value* comes back from JSON exactly as it is.

    Types are compared exactly: a ``str`` enum or an ``OrderedDict`` would be written
    fine but come back as a plain ``str`` or ``dict``, which is not the value stored.
    """
    kind = type(value)
    if kind is str or kind is bool or value is None:
        return
    if kind is int:
        # Python refuses to write ints of more than 4300 digits (sys.int_max_str_digits).
        if value.bit_length() > 14_000:
            try:
                str(value)
            except ValueError:
                raise _Reject("is an int too long to write as text") from None
        return
    if kind is float:
        if not math.isfinite(value):
            raise _Reject(f"is {value!r}: NaN and infinities are not JSON numbers")
        return
    if kind is list or kind is dict:
        if depth >= MAX_DEPTH:
            raise _Reject(f"is nested more than {MAX_DEPTH} levels deep")
        marker = id(value)
        if marker in path_ids:
            raise _Reject(f"is a {kind.__name__} that contains itself (a reference cycle)")
        path_ids.add(marker)
        if kind is list:
            for index, item in enumerate(value):
                try:
                    _walk(item, depth + 1, path_ids)
                except _Reject as reject:
                    reject.keys.append(f"[{index}]")
                    raise
        else:
            for key, item in value.items():
                if type(key) is not str:
                    raise _Reject(
                        f"has the key {_short_repr(key)} ({_type_name(key)}): "
                        "JSON object keys are strings"
                    )
                try:
                    _walk(item, depth + 1, path_ids)
                except _Reject as reject:
                    reject.keys.append(f"[{key!r}]")
                    raise
        path_ids.discard(marker)
        return
    if kind is tuple:
        raise _Reject("is a tuple: JSON keeps it as a list", "pass a list")
    problem = f"is a {_type_name(value)} ({_short_repr(value)}), which is not JSON data"
    for base in (str, int, float, list, dict):
        if isinstance(value, base):
            problem += f" (JSON would give back a plain {base.__name__})"
            break
    raise _Reject(problem)


def _json_problem(value: Any, where: str, *, pickle_option: bool = True) -> str | None:
    """The message :func:`check_json` raises for *value*, or None when it is fine
    (*pickle_option*: the advice names the store's ``pickle=True`` as a way out)."""
    option = _PICKLE_OPTION if pickle_option else ""
    try:
        _walk(value, 0, set())
    except _Reject as reject:
        path = where + "".join(reversed(reject.keys))
        return f"{path} {reject.problem}; {reject.hint}{option}"
    except RecursionError:  # only when the caller's own stack is already deep
        return f"{where} is nested too deeply to check; store JSON types{option}"
    return None


def check_json(value: Any, where: str) -> None:
    """Raise unless *value* comes back from JSON exactly equal, and of the same types.

    Allowed: ``None``, ``bool``, ``int``, finite ``float``, ``str``, and ``list`` and
    ``dict`` (with ``str`` keys) of these, nested at most ``MAX_DEPTH`` levels.

    Args:
        value: the value to check.
        where: how the message names *value*, such as ``"args[1]"`` or
            ``"kwargs['when']"``; the path inside it is appended.

    Raises:
        SerializationError: naming the path of the first offending part, its type, a
            short repr and what to do instead. For example
            ``check_json({"when": datetime.now()}, "kwargs['cfg']")`` names
            ``kwargs['cfg']['when']``.
    """
    problem = _json_problem(value, where)
    if problem is not None:
        raise SerializationError(problem)


def _args_problem(
    args: Sequence[Any], kwargs: Mapping[str, Any], *, pickle_option: bool = True
) -> str | None:
    """What is wrong with a job's *args* and *kwargs* as JSON (the first problem, as
    :func:`check_json` words it), or None. A store checks them with this, and so does a
    task queue's executor (*pickle_option* False: it sends them as JSON whatever the
    store), so that both refuse the same values in the same words."""
    for index, item in enumerate(args):
        problem = _json_problem(item, f"args[{index}]", pickle_option=pickle_option)
        if problem is not None:
            return problem
    for key, item in kwargs.items():
        if type(key) is not str:
            return (
                f"kwargs key {_short_repr(key)} ({_type_name(key)}) is not a str: "
                "keyword argument names are strings"
            )
        problem = _json_problem(item, f"kwargs[{key!r}]", pickle_option=pickle_option)
        if problem is not None:
            return problem
    return None


# -- arguments as pickle ----------------------------------------------------------------


def _pickle_part(job: Job, value: tuple[Any, ...] | dict[str, Any], part: str) -> bytes:
    try:
        return pickle.dumps(value, protocol=_PICKLE_PROTOCOL)
    except Exception as error:
        # Name the first item that fails on its own: "args" alone rarely says enough.
        if isinstance(value, tuple):
            items = [(f"args[{index}]", item) for index, item in enumerate(value)]
        else:
            items = [(f"kwargs[{key!r}]", item) for key, item in value.items()]
        where = part
        for path, item in items:
            try:
                pickle.dumps(item, protocol=_PICKLE_PROTOCOL)
            except Exception:
                where = path
                break
        raise SerializationError(
            f"job {job.id!r}: cannot pickle {where}: {type(error).__name__}: {error}"
        ) from error


# -- functions and retry types ----------------------------------------------------------


def _func_error(job: Job) -> SerializationError:
    func = job.func
    if func is None:
        return SerializationError(
            f'job {job.id!r}: has neither a function nor a "module:function" reference'
        )
    label = getattr(func, "__qualname__", None) or job.name
    return SerializationError(
        f"job {job.id!r}: cannot store function {label!r} by reference: "
        f'{why_no_reference(func)}. Only a function importable as "module:qualname" '
        'can be stored: define it at module level, or pass a "module:function" string'
    )


def _check_retry_on(job: Job, kinds: tuple[type[BaseException], ...]) -> None:
    """Refuse, now rather than at the next start, a retry type that will not import.

    Not inside ``references_as_text``: a tool writing back a job it read that way
    (pausing it) holds stand-ins that keep the stored references as they were, and
    must import nothing.
    """
    if not imports_allowed():
        return
    for kind in kinds:
        reference = f"{kind.__module__}:{kind.__qualname__}"
        try:
            found: object = resolve_reference(reference)
        except Exception:
            found = None
        if found is not kind:
            raise SerializationError(
                f"job {job.id!r}: cannot store retry_on type {reference!r}: importing it "
                "does not give the class back; define the exception at module level"
            )


# -- options ----------------------------------------------------------------------------

_ROW_FIELDS = (
    "id",
    "name",
    "func_ref",
    "args",
    "kwargs",
    "trigger",
    "next_fire",
    "paused",
    "remaining_runs",
    "consecutive_failures",
)
#: Job fields kept in the options column, in the order of the cached options tuple:
#: every job option with a field of its own but no column (see ``_options.OPTIONS``).
_OPTION_FIELDS = tuple(
    option.field
    for option in OPTIONS
    if option.field is not None and option.field not in _ROW_FIELDS
)
_DEFAULTS = FIELD_DEFAULTS
_DEFAULT_OPTIONS: tuple[Any, ...] = tuple(_DEFAULTS[name] for name in _OPTION_FIELDS)


def _encode_moment(job: Job, value: datetime, field: str) -> str:
    """``[iso text, zone name]``: the ISO offset alone would lose "Europe/Berlin"."""
    if value.utcoffset() is None:
        raise SerializationError(f"job {job.id!r}: {field} is a naive datetime: {value}")
    try:
        name: str | None = timezone_name(coerce_timezone(value.tzinfo, field))
    except (TypeError, LookupError):
        name = None  # an unnamed zone: the offset in the text still keeps the instant
    zone = "null" if name is None else _encode_sorted(name)
    return f"[{_encode_sorted(value.isoformat())},{zone}]"


def _micros(value: timedelta) -> str:
    # Integer arithmetic on the parts: exact, and faster than ``value // 1 us``.
    return str((value.days * 86_400 + value.seconds) * 1_000_000 + value.microseconds)


_retry_texts: OrderedDict[RetryPolicy, str] = OrderedDict()


def _retry_text(job: Job, policy: RetryPolicy) -> str:
    """The JSON of *policy*, cached by value: jobs share a few policies, and writing
    its five floats is most of the cost of encoding a job's options."""
    text = _retry_texts.get(policy)
    if text is None:
        _check_retry_on(job, policy.retry_on)
        text = _encode_sorted(policy.to_dict())
        _remember(_retry_texts, policy, text)
    return text


def _encode_options(job: Job) -> str:
    """The options JSON: compact, keys sorted, settings equal to the default left out.

    Written piece by piece, keys in sorted order, rather than by ``json`` from a dict:
    most pieces are cached or trivial, and the text must be canonical, since equal
    options must give equal text for the decode cache to share them.
    """
    parts: list[str] = []
    add = parts.append
    if job.after:
        add('"after":[' + ",".join([_encode_sorted(up) for up in job.after]) + "]")
    if job.catchup is not Catchup.LATEST:
        add('"catchup":' + _encode_sorted(job.catchup.value))
    if job.end is not None:
        add('"end":' + _encode_moment(job, job.end, "end"))
    if job.executor != "default":
        add('"executor":' + _encode_sorted(job.executor))
    if job.jitter is not None:
        add('"jitter":' + _micros(job.jitter))
    if job.max_catchup != 100:
        add('"max_catchup":' + _encode_sorted(job.max_catchup))
    if job.max_consecutive_failures is not None:
        add('"max_consecutive_failures":' + _encode_sorted(job.max_consecutive_failures))
    if job.max_instances != 1:
        add('"max_instances":' + _encode_sorted(job.max_instances))
    if job.misfire_grace_time is not None:
        add('"misfire_grace_time":' + _micros(job.misfire_grace_time))
    if job.on is not ChainOn.SUCCESS:
        add('"on":' + _encode_sorted(job.on.value))
    if job.overlap is not Overlap.SKIP:
        add('"overlap":' + _encode_sorted(job.overlap.value))
    if job.pause_note is not None:
        add('"pause_note":' + _encode_sorted(job.pause_note))
    if job.retry is not None:
        add('"retry":' + _retry_text(job, job.retry))
    if job.start is not None:
        add('"start":' + _encode_moment(job, job.start, "start"))
    if job.tags:
        add('"tags":[' + ",".join([_encode_sorted(tag) for tag in sorted(job.tags)]) + "]")
    if job.timeout is not None:
        add('"timeout":' + _encode_sorted(job.timeout))
    return "{" + ",".join(parts) + "}" if parts else "{}"


def _want(value: Any, kinds: type | tuple[type, ...], what: str) -> Any:
    """*value* if its type is exactly one of *kinds* (so ``True`` is no int), else raise."""
    if type(value) not in (kinds if isinstance(kinds, tuple) else (kinds,)):
        raise ValueError(f"expected {what}, got {_type_name(value)} {_short_repr(value)}")
    return value


def _decode_moment(value: Any) -> datetime:
    if type(value) is not list or len(value) != 2:
        raise ValueError(f"expected [iso text, zone name], got {_short_repr(value)}")
    text, name = value
    moment = datetime.fromisoformat(_want(text, str, "ISO text"))
    if moment.utcoffset() is None:
        raise ValueError(f"{text!r} has no UTC offset")
    if name is None:
        return moment
    return moment.astimezone(coerce_timezone(_want(name, str, "a zone name")))


def _decode_tags(value: Any) -> frozenset[str]:
    if type(value) is not list or not all(type(tag) is str for tag in value):
        raise ValueError(f"expected a list of strings, got {_short_repr(value)}")
    return frozenset(value) if value else _NO_TAGS


def _decode_retry(value: Any) -> RetryPolicy:
    if type(value) is not dict:
        raise ValueError(f"expected an object, got {_short_repr(value)}")
    fields = dict(value)
    if "retry_on" in fields:
        references = fields["retry_on"]
        if type(references) is not list or not all(type(r) is str for r in references):
            raise ValueError(f"retry_on: expected a list of strings, got {references!r}")
        kinds: list[Any] = []
        as_text = not imports_allowed()
        for reference in references:
            if as_text:
                kinds.append(stand_in(reference))
                continue
            try:
                kinds.append(resolve_reference(reference))
            except Exception as error:
                raise ValueError(f"retry_on {reference!r} no longer imports: {error}") from None
        fields["retry_on"] = tuple(kinds)
    return RetryPolicy(**fields)


def _optional(convert: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda value: None if value is None else convert(value)


_INT = (int,)
_NUMBER = (int, float)


def _decode_after(value: Any) -> tuple[str, ...]:
    if type(value) is not list or not all(type(up) is str for up in value):
        raise ValueError(f"expected a list of job ids, got {_short_repr(value)}")
    return tuple(value)


_OPTION_DECODERS: dict[str, Callable[[Any], Any]] = {
    "after": _decode_after,
    "on": ChainOn,
    "executor": lambda value: _want(value, str, "a string"),
    "tags": _decode_tags,
    "start": _optional(_decode_moment),
    "end": _optional(_decode_moment),
    "misfire_grace_time": _optional(
        lambda value: timedelta(microseconds=_want(value, _INT, "microseconds"))
    ),
    "catchup": Catchup,
    "max_catchup": lambda value: _want(value, _INT, "an int"),
    "overlap": Overlap,
    "max_instances": lambda value: _want(value, _INT, "an int"),
    "jitter": _optional(lambda value: timedelta(microseconds=_want(value, _INT, "microseconds"))),
    "retry": _optional(_decode_retry),
    "timeout": _optional(lambda value: _want(value, _NUMBER, "seconds")),
    "max_consecutive_failures": _optional(lambda value: _want(value, _INT, "an int")),
    "pause_note": _optional(lambda value: _want(value, str, "a string")),
}
_OPTION_INDEX = {name: index for index, name in enumerate(_OPTION_FIELDS)}


def _decode_options(text: str) -> tuple[Any, ...]:
    """The option field values, in ``_OPTION_FIELDS`` order; raises ``ValueError``."""
    try:
        data = _parse(text)
    except Exception as error:
        raise ValueError(f"corrupt options JSON: {error}") from None
    if type(data) is not dict:
        raise ValueError(f"options JSON is {_type_name(data)}, not an object")
    values = list(_DEFAULT_OPTIONS)
    for key, raw in data.items():
        decode = _OPTION_DECODERS.get(key)
        if decode is None:
            raise ValueError(f"unknown option {key!r}")
        try:
            values[_OPTION_INDEX[key]] = decode(raw)
        except Exception as error:
            raise ValueError(f"bad option {key}: {error}") from None
    return tuple(values)


# -- triggers ---------------------------------------------------------------------------


def fire_zone(trigger: Trigger) -> tzinfo:
    """The zone a trigger answers in, for ``next_fire`` read back from an instant.

    A date trigger answers with its ``run_at``; an and-trigger with its first child's
    datetime, and an or-trigger with that of whichever child fires first, so both use
    the first child's zone. A trigger without a zone (a custom one) gets UTC.
    """
    if type(trigger) in _ZONED:  # the common case, without isinstance on an ABC
        return trigger.timezone  # type: ignore[attr-defined,no-any-return]
    while isinstance(trigger, (AndTrigger, OrTrigger)):
        trigger = trigger.triggers[0]
    zone = trigger.run_at.tzinfo if isinstance(trigger, DateTrigger) else None
    if zone is None:
        zone = getattr(trigger, "timezone", None)
    return zone if isinstance(zone, tzinfo) else UTC


_ZONED = frozenset({CalendarIntervalTrigger, CronTrigger, IntervalTrigger})


def _trigger_reason(type_name: object, error: Exception) -> str:
    if isinstance(error, KeyError):
        return f"invalid {type_name!r} trigger: missing field {error.args[0]!r}"
    if isinstance(error, (ValueError, LookupError)) and str(error).startswith("unknown trigger"):
        return str(error)
    return f"invalid {type_name!r} trigger: {error}"


def _decode_trigger(text: str) -> tuple[Trigger, tzinfo]:
    """The trigger and the zone of its fire times; raises ``ValueError``."""
    try:
        data = _parse(text)
    except Exception as error:
        raise ValueError(f"corrupt trigger JSON: {error}") from None
    if type(data) is not dict:
        raise ValueError(f"trigger JSON is {_type_name(data)}, not an object")
    type_name = data.get("type")
    registry = Trigger._registry
    cls = registry.get(type_name) if type(type_name) is str else None
    if cls is None:
        known = ", ".join(sorted(registry))
        raise ValueError(f"unknown trigger type {_short_repr(type_name)} (known: {known})")
    try:
        trigger = cls.from_dict(data)
        zone = fire_zone(trigger)
    except Exception as error:
        raise ValueError(_trigger_reason(type_name, error)) from None
    return trigger, zone


# Keyed by id(); the trigger itself is kept in the value so the id cannot be reused.
_trigger_texts: OrderedDict[int, tuple[Trigger, str]] = OrderedDict()
_triggers: OrderedDict[str, tuple[Trigger, tzinfo]] = OrderedDict()
_options: OrderedDict[str, tuple[Any, ...]] = OrderedDict({"{}": _DEFAULT_OPTIONS})


def _remember(cache: OrderedDict[_K, _V], key: _K, value: _V) -> None:
    """Put *key* in a bounded cache, dropping the oldest entry when it is full.

    An ``OrderedDict``, not a dict: ``del d[next(iter(d))]`` on a plain dict walks over
    the holes earlier deletions left, which made every insert of a full cache several
    microseconds slower (a store whose jobs all have distinct triggers does just that).
    """
    if len(cache) >= CACHE_SIZE:
        # Another thread may evict at the same moment; the cache stays bounded anyway.
        with contextlib.suppress(KeyError):
            cache.popitem(last=False)
    cache[key] = value


#: Trigger texts decoded in a row that were not in :data:`_triggers` (a hit sets it to 0:
#: a list, so that the decoders' hit path costs one item store).
#: Past a full cache's worth, the texts are all new ones (a store whose interval jobs
#: each have a start of their own): remembering each would only evict another that
#: will not come again either, a tenth of the cost of decoding it. Then one in
#: :data:`_ADMIT_EVERY` is remembered, so that texts that do come again are soon found,
#: and their hits make every miss remembered again.
trigger_misses = [0]
_ADMIT_EVERY = 16


def remember_trigger(text: str, decoded: tuple[Trigger, tzinfo]) -> None:
    """Cache a trigger text just decoded (a miss of :data:`_triggers`), and the text of
    the trigger, unless a long run of misses says it will not be asked for again."""
    misses = trigger_misses[0] = trigger_misses[0] + 1
    if misses <= CACHE_SIZE or not misses % _ADMIT_EVERY:
        _remember(_triggers, text, decoded)
        _remember(_trigger_texts, id(decoded[0]), (decoded[0], text))


def _trigger_text(trigger: Trigger) -> str:
    if type(trigger) is IntervalTrigger and trigger._from_now:
        # Each job added "from now" has a trigger object of its own, written once when
        # it is added: remembering it by identity would only churn the cache.
        return _interval_text(trigger)
    cached = _trigger_texts.get(id(trigger))
    if cached is not None and cached[0] is trigger:
        return cached[1]
    if type(trigger) is IntervalTrigger:
        text = _interval_text(trigger)
    elif type(trigger) is CronTrigger:
        text = _cron_text(trigger)
    else:
        text = _encode_sorted(trigger.to_dict())
    _remember(_trigger_texts, id(trigger), (trigger, text))
    return text


#: JSON text of interval triggers around their start, by everything but the start: an
#: interval job added "from now" has a trigger of its own, alike but for the start.
_interval_parts: OrderedDict[tuple[Any, ...], tuple[str, str]] = OrderedDict()
_START = "\x00start\x00"


def _interval_text(trigger: IntervalTrigger) -> str:
    # Everything to_dict() holds but the start (the trigger's own fields, read here in
    # the package to skip building the dict).
    # (The amounts' types too: 1 == 1.0, but the text shows which one was given.)
    amounts = trigger._amounts
    key = (amounts, *map(type, amounts), trigger._end, trigger._timezone)
    parts = _interval_parts.get(key)
    if parts is None:
        data = {**trigger.to_dict(), "start": _START}
        prefix, _, suffix = _encode_sorted(data).partition(_encode_sorted(_START))
        parts = (prefix, suffix)
        _remember(_interval_parts, key, parts)
    return f'{parts[0]}"{trigger._start.isoformat()}"{parts[1]}'


_cron_texts: OrderedDict[tuple[Any, ...], str] = OrderedDict()


def _cron_text(trigger: CronTrigger) -> str:
    """A cron trigger's text, by the fields its to_dict() holds: jobs added with the same
    schedule each build a trigger of their own, alike in every field."""
    start, end = trigger._start, trigger._end
    key = (
        trigger._expression,
        trigger._week,
        trigger._fields.match_both_days,
        trigger._timezone,
        None if start is None else start.isoformat(),
        None if end is None else end.isoformat(),
        trigger._dst_gap,
        trigger._dst_overlap,
    )
    text = _cron_texts.get(key)
    if text is None:
        text = _encode_sorted(trigger.to_dict())
        _remember(_cron_texts, key, text)
    return text


def clear_caches() -> None:
    """Forget every cached trigger and options text (for tests and benchmarks)."""
    _trigger_texts.clear()
    _triggers.clear()
    trigger_misses[0] = 0
    _options.clear()
    _options["{}"] = _DEFAULT_OPTIONS
    _retry_texts.clear()
    _interval_parts.clear()
    _cron_texts.clear()
