"""The errors ``tickwork.compat.schedule`` raises, with ``schedule`` 1.2's names and bases.

They live here, below the time helpers that raise ``UnknownTimeZoneError``, and are
re-exported by ``tickwork.compat.schedule``. Each class says its ``__module__`` is
``tickwork.compat.schedule``: that is where programs import them from, and what class
reprs, tracebacks and pickles name, as before this module existed.
"""

from __future__ import annotations

from .._errors import TickworkError, UnknownTimezone

# Where programs import these classes from (see the module docstring).
_PUBLIC_MODULE = "tickwork.compat.schedule"


class ScheduleError(TickworkError):
    """Base class of the errors this module raises (as in ``schedule``)."""

    __module__ = _PUBLIC_MODULE


class ScheduleValueError(ScheduleError):
    """A value given to the fluent chain cannot be used (as in ``schedule``).

    Like ``schedule``'s, it is not a ``ValueError``: ``except ValueError`` does not catch it.
    """

    __module__ = _PUBLIC_MODULE


class IntervalError(ScheduleValueError):
    """A singular unit (``.minute``, ``.monday``...) was used with an interval other than 1."""

    __module__ = _PUBLIC_MODULE


class UnknownTimeZoneError(UnknownTimezone, KeyError):
    """``at(..., tz)`` was given a zone name that does not exist.

    A ``KeyError``, like the ``pytz.UnknownTimeZoneError`` that ``schedule`` raises. When
    pytz is installed, names are looked up with pytz and pytz's own error is raised.
    """

    __module__ = _PUBLIC_MODULE
