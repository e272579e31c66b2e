"""Fixtures of the dashboard's tests: a live scheduler on a fake clock with a few jobs
that have run (one of them failing, with an id made to break HTML), and clients that
call its WSGI or ASGI app directly."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from tickwork import Scheduler
from tickwork.executors import InlineExecutor
from tickwork.testing import FakeClock, run_until
from tickwork.web import asgi_app, wsgi_app

from .client import Client

#: An id that is HTML, an attribute breaker, a path separator and a query separator.
EVIL = "<script>alert(1)</script>\"'&/?x=1"
START = datetime(2024, 3, 30, 23, 0, tzinfo=timezone.utc)  # Berlin springs forward at 01:00 UTC


def fail_loudly() -> None:
    raise RuntimeError('disk <full> & "bad"')


def fine(*args: object) -> None:
    return None


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
def scheduler(clock: FakeClock) -> Iterator[Scheduler]:
    """Opened (no thread), five minutes run: five failures of EVIL, none of nightly."""
    scheduler = Scheduler(clock=clock, executors={"default": InlineExecutor()}, timezone="UTC")
    scheduler.add_job(fine, "cron", "30 2 * * *", id="nightly", timezone="Europe/Berlin")
    scheduler.add_job(fail_loudly, "interval", minutes=1, id=EVIL)
    scheduler.add_job(fine, "interval", hours=1, id="with-args", args=["s3cr3t-arg"])
    scheduler.open()
    yield scheduler
    scheduler.shutdown()


@pytest.fixture
def ran(scheduler: Scheduler, clock: FakeClock) -> Scheduler:
    run_until(scheduler, clock.now() + timedelta(minutes=5))
    return scheduler


Maker = Callable[..., Client]


@pytest.fixture(params=["wsgi", "asgi"])
def make_client(request: pytest.FixtureRequest) -> Maker:
    """``make_client(target, base="", **options)``: a client of a new app, WSGI or ASGI."""
    asgi = request.param == "asgi"

    def make(target: Any, base: str = "", **options: Any) -> Client:
        app = (asgi_app if asgi else wsgi_app)(target, **options)
        return Client(app, base=base, asgi=asgi)

    return make
