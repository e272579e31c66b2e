"""A module whose job is registered by a decorator at import time, for a process executor.

At decoration time the module is still being imported and ``decorated_job`` is not yet
bound in it; the scheduler must still accept it by reference.
"""

from __future__ import annotations

from tickwork import Scheduler
from tickwork.executors import ProcessExecutor

scheduler = Scheduler(timezone="UTC", executors={"default": ProcessExecutor(max_workers=1)})


@scheduler.interval(minutes=5, id="decorated")
def decorated_job() -> int:
    return 7
