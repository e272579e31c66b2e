"""Checks of the numbers the public API takes: one rule, one message, everywhere.

The rules: a ``bool`` is not a number (``TypeError``); NaN and infinities are refused
(``ValueError``), since each would break a schedule later and far from the call (a NaN
compares false with everything, an infinity overflows a ``timedelta``); so are finite
values too large for the time arithmetic they feed. Every message names the option and
the value. This module imports nothing from tickwork, so every layer can use it.
"""

from __future__ import annotations

import math
from datetime import timedelta

__all__ = [
    "MAX_SECONDS",
    "MAX_WHOLE",
    "duration",
    "flags",
    "job_id_arg",
    "jobs_query",
    "new_job_id",
    "seconds",
    "storable",
    "storable_text",
    "whole",
]

#: The longest duration an option in seconds takes: 100 years. Longer ones would overflow
#: the timers (``threading`` waits at most about 292 years) and the microsecond counts
#: stored in SQLite, and mean "never", for which every such option has ``None``.
MAX_SECONDS = 100 * 365 * 86_400
#: The largest whole number an option takes (a SQLite INTEGER).
MAX_WHOLE = 2**63 - 1


def _kind(value: object) -> str:
    return f"{type(value).__name__} {value!r}"


def seconds(
    value: object,
    name: str,
    *,
    positive: bool = False,
    maximum: float = MAX_SECONDS,
    unit: str = "seconds",
    smallest: float = 1e-6,
) -> float:
    """A finite number of seconds (or *unit*) in ``[0, maximum]`` (``(0, maximum]`` if
    *positive*), as a float.

    A positive duration is at least *smallest* (one microsecond): tickwork counts time
    in whole microseconds, so anything shorter would be zero.

    Raises:
        TypeError: *value* is not an int or a float (a ``bool`` is not).
        ValueError: it is NaN, infinite, negative (or zero with *positive*), shorter than
            *smallest* (with *positive*), or above *maximum*.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number of {unit}, got {_kind(value)}")
    if math.isnan(value) or math.isinf(value):
        raise ValueError(f"{name}={value!r} is not a finite number of {unit}")
    if value < 0 or (positive and value == 0):
        bound = "> 0" if positive else ">= 0"
        raise ValueError(f"{name} must be {bound} {unit}, got {value!r}")
    if positive and value < smallest:
        raise ValueError(f"{name}={value!r} is too small: at least {smallest:g} {unit}")
    if value > maximum:
        raise ValueError(f"{name}={value!r} is too large: at most {maximum:g} {unit}")
    return float(value)


def duration(value: object, name: str, *, positive: bool = False) -> timedelta:
    """Seconds (a number, as :func:`seconds` checks it) or a ``timedelta`` of at most
    :data:`MAX_SECONDS`, as a ``timedelta``."""
    if isinstance(value, timedelta):
        if value < timedelta(0) or (positive and not value):
            bound = "> 0" if positive else ">= 0"
            raise ValueError(f"{name} must be {bound}, got {value!r}")
        if value > timedelta(seconds=MAX_SECONDS):
            raise ValueError(f"{name}={value!r} is too large: at most {MAX_SECONDS:g} seconds")
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be seconds (a number) or a timedelta, got {_kind(value)}")
    return timedelta(seconds=seconds(value, name, positive=positive))


def whole(value: object, name: str, *, minimum: int = 1, maximum: int = MAX_WHOLE) -> int:
    """A whole number in ``[minimum, maximum]``.

    Raises:
        TypeError: *value* is not an int (a ``bool`` or a float such as ``1.0`` is not).
        ValueError: it is out of range.
    """
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be a whole number (an int), got {_kind(value)}")
    if value < minimum:
        raise ValueError(f"{name} must be a whole number >= {minimum}, got {value!r}")
    if value > maximum:
        raise ValueError(f"{name}={value!r} is too large: at most {maximum}")
    return value


def flags(**given: object) -> None:
    """Each keyword's value must be a ``bool``: a string such as ``"no"`` is truthy, and
    would do the opposite of what it says (``TypeError`` naming the first that is not)."""
    for name, value in given.items():
        if not isinstance(value, bool):
            raise TypeError(f"{name} must be a bool (True or False), got {_kind(value)}")


def job_id_arg(value: object) -> None:
    """A job id asked for (``get_job``, ``pause_job``...) must be a str (``TypeError``
    otherwise: an int never matches a stored id, and would read as "no such job")."""
    if type(value) is not str and not isinstance(value, str):
        raise TypeError(f"job_id must be a str, got {_kind(value)}")


def new_job_id(value: object) -> str:
    """The id of a job being added: a non-empty str that :func:`storable_text` passes
    (``TypeError`` or ``ValueError`` naming ``id`` otherwise)."""
    if not isinstance(value, str):
        raise TypeError(f"id must be a str, got {_kind(value)}")
    if not value:
        raise ValueError("id must be a non-empty str, got ''")
    storable_text(value, "id")
    return value


def storable(text: str) -> bool:
    """Whether *text* has a UTF-8 encoding (no lone surrogate): see :func:`storable_text`."""
    if text.isascii():
        return True
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def storable_text(value: str, name: str) -> None:
    """Refuse (``ValueError`` naming *name*) a str holding a lone surrogate (such as
    ``"\\ud800"``, from ``os.fsdecode`` of bytes that are not UTF-8, or from slicing a
    pair apart): it has no UTF-8, so SQLite and PostgreSQL cannot write it, nor can a log
    file or a web page show it. Checked for every store, so a job does not stop working
    the day it moves from memory to a database."""
    if storable(value):
        return
    try:
        value.encode()
    except UnicodeEncodeError as error:  # (what storable found: where it is, to say)
        shown = repr(value) if len(value) <= 80 else f"{value[:77]!r}..."
        raise ValueError(
            f"{name}={shown} holds the lone surrogate {value[error.start]!r} at index "
            f"{error.start}, which no store can write (it has no UTF-8): pass valid text"
        ) from None


def jobs_query(tag: object, paused: object) -> None:
    """The arguments of ``get_jobs(tag, paused=...)``: a str or None, a bool or None
    (``paused="yes"`` found nothing, a list of tags failed as unhashable)."""
    if tag is not None and not isinstance(tag, str):
        raise TypeError(f"tag must be a str or None, got {tag!r}")
    if paused is not None and not isinstance(paused, bool):
        raise TypeError(f"paused must be a bool or None, got {paused!r}")
