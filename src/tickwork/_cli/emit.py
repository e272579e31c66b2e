"""``tickwork emit STORE NAME --payload JSON``: emit an event from outside the program.

The event is written to the store, unhandled; any scheduler running on the store picks
it up (SQLite: within its ``poll_interval``; PostgreSQL with ``notify``: at once) and
runs each job that listens for it once among them all.
"""

from __future__ import annotations

import argparse
import json
import secrets
from datetime import datetime, timezone

from .._emit import encode_payload
from .._model import EmittedEvent
from ..stores import EventLog
from .output import Output
from .stores import live

__all__ = ["emit_command"]


def emit_command(args: argparse.Namespace, out: Output) -> int:
    """Write the event ``args.name`` with ``args.payload`` (JSON text) to the store."""
    payload = None
    if args.payload is not None:
        try:
            payload = json.loads(args.payload)
        except json.JSONDecodeError as error:
            raise ValueError(f"--payload must be JSON, got {args.payload!r}: {error}") from None
        except RecursionError:
            raise ValueError("--payload is nested too deep to store") from None
    _, data = encode_payload(args.name, payload)
    now = datetime.now(timezone.utc)
    event = EmittedEvent(id=secrets.token_hex(16), name=args.name, payload=data, emitted_at=now)
    with live(args.db, args.schema) as (store, name):
        if not isinstance(store, EventLog):  # (every store the command line opens is one)
            raise ValueError(f"{name} keeps no events")
        event = store.record_event(event, (), handled=False, now=now)[0]  # (as stored)
    if out.as_json:
        out.json(
            {
                "store": name,
                "event": {
                    "id": event.id,
                    "name": event.name,
                    "payload": event.payload,
                    "emitted_at": event.emitted_at.isoformat(),
                },
            }
        )
    else:
        out.line(
            f"Emitted event {event.name!r} (id {event.id}) into {name}. Schedulers running "
            "on it run the jobs that listen for it, once among them."
        )
    return 0
