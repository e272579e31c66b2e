"""Orders arriving as events: jobs that run when something happens, not at a time.

A shop's scheduler on a SQLite file (in a temporary folder) has four jobs:

* ``confirm``: runs for every ``order.created`` event and sends a confirmation;
* ``vip``: runs only for orders over 100 EUR (a filter function, stored by reference;
  a mapping such as ``{"country": "FR"}`` filters too);
* ``restock``: debounced: it waits until orders have stopped for a second, then runs
  once with the last order;
* ``report``: every 2 seconds (a cron-like interval) *or* when someone emits
  ``report.requested``: its runs from the clock have no event.

Orders are emitted by the program itself (``scheduler.emit``), and one from "outside"
with the command line (``tickwork emit FILE order.created --payload JSON``), which the
scheduler picks up at its next poll. Runs about 3 seconds.
"""

from __future__ import annotations

import io
import os
import tempfile
import threading
import time

from tickwork import EventTrigger, IntervalTrigger, OrTrigger, Scheduler, current_run
from tickwork.cli import main as tickwork_command
from tickwork.stores import SQLiteStore

lock = threading.Lock()


def say(text: str) -> None:
    with lock:
        print(text, flush=True)


def confirm() -> None:
    event = current_run().event
    assert event is not None
    say(f"confirm: order {event.payload['id']} ({event.payload['total']} EUR) confirmed")


def big_order(payload: dict[str, object]) -> bool:
    """The filter of ``vip``: called with each ``order.created`` payload."""
    total = payload.get("total")
    return isinstance(total, int) and total > 100


def vip() -> None:
    event = current_run().event
    assert event is not None
    say(f"vip:     order {event.payload['id']} is over 100 EUR: a thank-you note")


def restock() -> None:
    event = current_run().event
    assert event is not None
    say(f"restock: orders stopped; the last was {event.payload['id']}: counting stock")


def report() -> None:
    event = current_run().event
    cause = "the clock" if event is None else f"event {event.name!r}"
    say(f"report:  sales report (started by {cause})")


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "shop.db")
        scheduler = Scheduler(store=SQLiteStore(path, poll_interval=0.2))
        created = "order.created"
        scheduler.add_job(confirm, EventTrigger(created), id="confirm")
        scheduler.add_job(vip, EventTrigger(created, filter=big_order), id="vip")
        scheduler.add_job(restock, EventTrigger(created, debounce=1.0), id="restock")
        scheduler.add_job(
            report,
            OrTrigger([IntervalTrigger(seconds=2), EventTrigger("report.requested")]),
            id="report",
        )
        scheduler.start()
        for order_id, total in (("A-1", 20), ("A-2", 150), ("A-3", 35)):
            scheduler.emit(created, {"id": order_id, "total": total})
            time.sleep(0.1)
        # An order from another program: the command line writes it to the file.
        argv = ["emit", path, created, "--payload", '{"id": "B-1", "total": 240}']
        assert tickwork_command(argv, out=io.StringIO()) == 0
        say("(order B-1 emitted from outside with: tickwork emit FILE order.created ...)")
        time.sleep(1.6)  # the poll picks B-1 up; then a second without orders: restock
        scheduler.emit("report.requested")
        time.sleep(0.8)
        scheduler.shutdown()
        confirmed = [run for run in scheduler.history("confirm") if run.outcome.value == "success"]
        say(f"{len(confirmed)} orders, {len(confirmed)} confirmations: each ran once")


if __name__ == "__main__":
    main()
