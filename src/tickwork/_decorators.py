"""The decorator forms of ``add_job`` (``@scheduler.cron(...)`` and the others): a mixin
of :class:`~tickwork._engine.Engine`, kept apart so the engine module stays small."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, tzinfo
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

from ._options import ADD_OPTION_NAMES, trigger_spec
from .triggers import Trigger

if TYPE_CHECKING:
    from ._clock import Clock
    from ._model import Job

__all__ = ["JobDecorators"]

F = TypeVar("F", bound=Callable[..., Any])

#: How each decorator is written, for the message of a bare use (``@scheduler.cron``).
_RIGHT_FORMS = {
    "cron": '@scheduler.cron("0 9 * * *") or @scheduler.cron(hour=9)',
    "interval": "@scheduler.interval(minutes=5)",
    "at": '@scheduler.at("2024-05-01T09:00:00+00:00") or @scheduler.at(<aware datetime>)',
    "scheduled_job": '@scheduler.scheduled_job("cron", hour=9)',
}


def _refuse_bare(decorator: str, value: object) -> None:
    """Refuse ``@scheduler.<decorator>`` written without its call: Python passes it the
    function, which would take the place of the schedule."""
    if callable(value) and not isinstance(value, (str, Trigger)):
        name = getattr(value, "__qualname__", None) or type(value).__name__
        raise TypeError(
            f"@scheduler.{decorator} was applied to {name!r} without its arguments; the "
            f"decorator needs the schedule first, e.g. {_RIGHT_FORMS[decorator]}"
        )


class JobDecorators:
    """``scheduled_job``, ``cron``, ``interval`` and ``at``: each adds the decorated
    function as a job through the engine's ``add_job``. The schedule's arguments are
    checked when the decorator is made; the job's options, when it decorates."""

    if TYPE_CHECKING:
        _clock: Clock
        _timezone: tzinfo

        def add_job(self, /, func: Any, *args: Any, **kwargs: Any) -> Job: ...

    def scheduled_job(
        self, trigger: Trigger | str, *trigger_args: Any, **options: Any
    ) -> Callable[[F], F]:
        """Decorator form of :meth:`add_job`, as APScheduler users write it."""
        _refuse_bare("scheduled_job", trigger)
        return self._decorator(trigger, trigger_args, options)

    def cron(self, expression: str | None = None, /, **options: Any) -> Callable[[F], F]:
        """``@scheduler.cron("0 9 * * mon-fri")``: run the function on a cron schedule."""
        _refuse_bare("cron", expression)
        return self._decorator("cron", () if expression is None else (expression,), options)

    def interval(self, /, *bare: NoReturn, **options: Any) -> Callable[[F], F]:
        """``@scheduler.interval(minutes=5)``: run the function at a fixed interval."""
        if bare:  # (a bare @scheduler.interval passes the function)
            _refuse_bare("interval", bare[0])
            raise TypeError(
                f"interval() takes keyword arguments only, e.g. {_RIGHT_FORMS['interval']}; "
                f"got {', '.join(map(repr, bare))}"
            )
        return self._decorator("interval", (), options)

    def at(self, when: datetime | str, /, **options: Any) -> Callable[[F], F]:
        """``@scheduler.at(datetime(...))``: run the function once at an aware datetime."""
        _refuse_bare("at", when)
        return self._decorator("date", (when,), options)

    def _decorator(
        self, trigger: Trigger | str, trigger_args: tuple[Any, ...], options: dict[str, Any]
    ) -> Callable[[F], F]:
        """The decorator adding ``add_job(func, trigger, *trigger_args, **options)``, once
        the schedule's arguments have passed (the trigger is built now to check them, and
        again by ``add_job``: an interval counts from when the function is decorated)."""
        if trigger is not None:  # (None, with after=: a job that runs after others only)
            schedule = {key: value for key, value in options.items() if key not in ADD_OPTION_NAMES}
            trigger_spec(
                trigger, trigger_args, schedule, now=self._clock.now(), zone=self._timezone
            )

        def decorate(func: F) -> F:
            self.add_job(func, trigger, *trigger_args, **options)
            return func

        return decorate
