"""How far ahead of its executors a scheduler on a shared store claims due runs.

Runs a process claims and queues for its own few workers are runs no other process can
have: not the idle workers of the others on the store, nor of a process that starts a
moment later (the workers of one app start together, and the first one up would claim a
whole backlog before the others read it), and a process killed mid-backlog leaves them
claimed and never started (the process that takes its leases over cannot tell them from
runs that were going). So it claims what its workers will get through soon: as many runs
as they have been ending in :data:`AHEAD_SECONDS`, plus one per worker, less the runs in
flight; while other processes race it for the same fires (the store did not split the
backlog between them), at most :data:`AHEAD_PER_WORKER` per worker; and it comes back
for more as they end, in claims big enough to be worth a write transaction
(:data:`CLAIM_LEAST`, or half of what it may hold), or at once when a worker is idle.
The rate is measured from the count of runs ended (the core's) over spans of
:data:`_RATE_SPAN_US` or :data:`_RATE_RUNS` runs, smoothed; until it is known it claims
:data:`AHEAD_AT_FIRST` per worker. Fast runs (no-op jobs end tens of thousands a second)
are claimed in chunks as big as the scheduler plans; runs that take seconds, a few at a
time. Pure arithmetic on the numbers it is given: the store link reads them."""

from __future__ import annotations

import math

__all__ = ["AHEAD_AT_FIRST", "AHEAD_PER_WORKER", "AHEAD_SECONDS", "CLAIM_LEAST", "ClaimPace"]

#: While other processes race for the same fires, the most runs claimed ahead per
#: worker (their ``max_workers``), less the runs in flight...
AHEAD_PER_WORKER = 64
#: ... in claims of at least this many (a claim is a write transaction: a few dozen
#: runs' worth of work), or half of what may be held, made once that many have ended...
CLAIM_LEAST = 64
#: ... and no more than the workers end in this many seconds, beyond one per worker.
AHEAD_SECONDS = 1.0
#: Per worker, while the rate is not known yet (a backlog's first claims).
AHEAD_AT_FIRST = 4
#: The rate is measured over at least this long (µs), or this many runs ended.
_RATE_SPAN_US = 50_000
_RATE_RUNS = 32


class ClaimPace:
    """The rate at which one process's runs end, and the claims it allows."""

    def __init__(self) -> None:
        # Runs ended per second (smoothed; None: not measured yet), and where the
        # measure runs from: (µs, the count of ended runs then).
        self._rate: float | None = None
        self._mark: tuple[int, int] | None = None

    def room(
        self,
        limit: int,
        now_us: int,
        workers: int,
        in_flight: int,
        ended: int,
        *,
        racing: bool = True,
    ) -> int:
        """The most due runs to claim now, out of *limit*, for *workers* workers with
        *in_flight* runs submitted and not ended, *ended* runs having ended ever (0:
        none now; the next look is when runs end). *racing*: other processes claim the
        same fires (no split of the backlog): at most :data:`AHEAD_PER_WORKER` each."""
        rate = self._ending_rate(now_us, in_flight, ended)
        if rate is None:
            ahead = workers * AHEAD_AT_FIRST
        else:
            ahead = workers + math.ceil(rate * AHEAD_SECONDS)
        most = min(max(workers * AHEAD_PER_WORKER, CLAIM_LEAST), ahead) if racing else ahead
        room = most - in_flight
        if in_flight < workers or room >= min(CLAIM_LEAST, max(1, most // 2)):
            return min(limit, room)  # (an idle worker never waits for a bigger claim)
        return 0

    def _ending_rate(self, now_us: int, in_flight: int, ended: int) -> float | None:
        """Runs ended per second, smoothed over the last measures; None until measured.
        A span with nothing in flight and nothing ended (idle) does not count."""
        mark = self._mark
        if mark is None or now_us < mark[0]:
            self._mark = (now_us, ended)
            return self._rate
        count, span = ended - mark[1], now_us - mark[0]
        if count >= _RATE_RUNS or span >= _RATE_SPAN_US:
            self._mark = (now_us, ended)
            if count or in_flight:
                measured = count * 1_000_000 / max(span, 1)
                rate = self._rate
                self._rate = measured if rate is None else (rate + measured) / 2
        return self._rate
