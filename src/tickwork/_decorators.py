"""The decorator forms of ``add_job`` (``@scheduler.cron(...)`` and the others): a mixin
of :class:`~tickwork._engine.Engine`, kept apart so the engine module stays small."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from ._model import Job
    from .triggers import Trigger

__all__ = ["JobDecorators"]

F = TypeVar("F", bound=Callable[..., Any])


class JobDecorators:
    """``scheduled_job``, ``cron``, ``interval`` and ``at``: each adds the decorated
    function as a job through the engine's ``add_job``."""

    if TYPE_CHECKING:

        def add_job(self, /, func: Any, *args: Any, **kwargs: Any) -> Job: ...

    def scheduled_job(
        self, trigger: Trigger | str, *trigger_args: Any, **options: Any
    ) -> Callable[[F], F]:
        """Decorator form of :meth:`add_job`, as APScheduler users write it."""

        def decorate(func: F) -> F:
            self.add_job(func, trigger, *trigger_args, **options)
            return func

        return decorate

    def cron(self, expression: str | None = None, /, **options: Any) -> Callable[[F], F]:
        """``@scheduler.cron("0 9 * * mon-fri")``: run the function on a cron schedule."""
        if expression is None:
            return self.scheduled_job("cron", **options)
        return self.scheduled_job("cron", expression, **options)

    def interval(self, /, **options: Any) -> Callable[[F], F]:
        """``@scheduler.interval(minutes=5)``: run the function at a fixed interval."""
        return self.scheduled_job("interval", **options)

    def at(self, when: datetime | str, /, **options: Any) -> Callable[[F], F]:
        """``@scheduler.at(datetime(...))``: run the function once at an aware datetime."""
        return self.scheduled_job("date", when, **options)
