"""Results never depend on the host's TZ: the same battery under three host zones.

Each run happens in a fresh interpreter with TZ set (and time.tzset() applied by the
interpreter at start-up), so nothing cached in this process can hide a dependency.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

BATTERY = r"""
import hashlib, json
from datetime import datetime, timezone
import tickwork
from tickwork import triggers

start = datetime(2024, 1, 1, tzinfo=timezone.utc)
rows = []
cases = [
    ("0 9 * * mon-fri", "Europe/Berlin"), ("30 2 * * *", "America/New_York"),
    ("*/20 * * * *", "America/New_York"), ("0 0 * * *", "America/Santiago"),
    ("0 * * * *", "Australia/Lord_Howe"), ("0 0 L * *", "Australia/Sydney"),
    ("15 10 * * 5#3", "Pacific/Chatham"), ("0 0 * * *", "Europe/Dublin"),
]
for expression, zone in cases:
    trigger = tickwork.CronTrigger(expression, timezone=zone)
    rows.append([t.isoformat() for t in trigger.next_times(start, 400)])
for name in ("IntervalTrigger", "CalendarIntervalTrigger"):
    cls = getattr(triggers, name, None)
    if cls is None:
        continue
    kwargs = {"hours": 7} if name == "IntervalTrigger" else {"days": 1, "hour": 2, "minute": 30}
    trigger = cls(start=start, timezone="America/New_York", **kwargs)
    rows.append([t.isoformat() for t in trigger.next_times(start, 400)])
print(hashlib.sha256(json.dumps(rows).encode()).hexdigest(), len(rows))
"""


def _digest(tz: str) -> str:
    env = {**os.environ, "TZ": tz}
    done = subprocess.run(
        [sys.executable, "-c", BATTERY],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.mark.skipif(sys.platform == "win32", reason="TZ variable semantics are POSIX")
def test_same_results_under_every_host_timezone() -> None:
    digests = {tz: _digest(tz) for tz in ("UTC", "Australia/Sydney", "America/Santiago")}
    assert len(set(digests.values())) == 1, digests
