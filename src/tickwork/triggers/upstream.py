"""The trigger of a job that runs only after other jobs (``add_job(f, after="a")``)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from .._tz import aware_us
from ._base import Trigger

__all__ = ["UpstreamTrigger"]


class UpstreamTrigger(Trigger):
    """Never fires on its own: the job it belongs to runs when its upstream jobs end
    (see ``add_job(after=...)``). ``add_job`` gives it to a job with ``after`` and no
    trigger; it has no parameters."""

    __slots__ = ()
    type_name = "upstream"

    def next_after(self, moment: datetime) -> datetime | None:
        aware_us(moment, "moment")  # (a naive moment is still an error)
        return None

    def previous_before(self, moment: datetime) -> datetime | None:
        aware_us(moment, "moment")
        return None

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type_name}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> UpstreamTrigger:
        return cls()

    def __repr__(self) -> str:
        return "UpstreamTrigger()"
