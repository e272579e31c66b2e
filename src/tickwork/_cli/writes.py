"""The commands that change a job: ``pause``, ``resume``, ``run-now``, ``remove``.

Each goes through :mod:`tickwork._control` on the real store, safe while schedulers
run on it: they take the change in at their next sync (SQLite: within their
``poll_interval``; PostgreSQL with ``notify``: at once).
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime, timezone
from typing import Any

from .. import _control
from .._errors import JobLookupError
from .._instants import epoch_us
from .._model import Job
from ..stores import JobStore
from .output import Output, iso, job_data
from .reads import load_job
from .stores import live, reading

__all__ = ["ABORTED", "write_command"]

#: The exit status when the user says no at the confirmation prompt.
ABORTED = 1
_TAKEN_IN = "Schedulers sharing the store take the change in at their next sync."


def write_command(args: argparse.Namespace, out: Output) -> int:
    """Run ``pause``, ``resume``, ``run-now`` or ``remove`` (``args.command``)."""
    action: str = args.command
    job_id: str = args.job_id
    if action == "remove" and not args.yes:
        # Ask before opening the store for writing, once the job is known to be there.
        with reading(args.db, args.schema) as (store, name):
            try:
                load_job(store, name, job_id)
            except JobLookupError:
                if job_id not in store.broken_jobs():
                    raise  # not there: nothing to ask about
                # (A broken job is there, and removing it is how it is fixed.)
        if not _confirm(f"Remove job {job_id!r} from {name}? Its run history stays. [y/N] "):
            out.line("Not removed.")
            return ABORTED
    with live(args.db, args.schema, pickle=args.pickle) as (store, name):
        # Read once the store is open (connecting may take a while), by the store's own
        # clock where it has one (PostgreSQL's server: the schedulers go by it too).
        server_now = getattr(store, "database_now", None)
        now = datetime.now(timezone.utc) if server_now is None else server_now()
        try:
            job = _act(store, action, job_id, now, args)
        except JobLookupError as error:
            raise JobLookupError(_hint(str(error), name)) from None
    data: dict[str, Any] = {"action": action, "store": name}
    if job is None:
        data["job_id"] = job_id
        text = f"Removed job {job_id!r} from {name} (its run history stays). {_TAKEN_IN}"
    else:
        data["job"] = job_data(job)
        text = _said(action, job, now, name)
        if action == "run-now":
            data["due_at"] = iso(job.next_fire)
    if out.as_json:
        out.json(data)
    else:
        out.line(text)
    return 0


def _act(
    store: JobStore, action: str, job_id: str, now: datetime, args: argparse.Namespace
) -> Job | None:
    if action == "pause":
        return _control.pause_job(store, job_id, now=now, note=args.note)
    if action == "resume":
        return _control.resume_job(store, job_id, now=now)
    if action == "run-now":
        return _control.run_job_now(store, job_id, now=now)
    _control.remove_job(store, job_id)
    return None


def _said(action: str, job: Job, now: datetime, name: str) -> str:
    """What the command tells the user it did."""
    if action == "pause":
        note = f" ({job.pause_note})" if job.pause_note else ""
        return f"Paused job {job.id!r} in {name}{note}. {_TAKEN_IN} A run in progress finishes."
    if action == "resume":
        if job.next_fire is None:
            return (
                f"Resumed job {job.id!r}: it had no fire time left, so it was removed "
                "(as a scheduler removes it)."
            )
        return (
            f"Job {job.id!r} in {name} is active; its next fire is "
            f"{job.next_fire.isoformat()}. {_TAKEN_IN}"
        )
    assert job.next_fire is not None
    if epoch_us(job.next_fire) < epoch_us(now):
        return (
            f"Job {job.id!r} is due already (since {job.next_fire.isoformat()}): a scheduler "
            f"running on {name} fires it as its catch-up policy says."
        )
    return (
        f"Job {job.id!r} is due now ({job.next_fire.isoformat()}): a scheduler running on "
        f"{name} fires it at once, then goes on with its trigger. With no scheduler "
        "running, it runs when one starts (if its misfire grace allows)."
    )


def _hint(message: str, name: str) -> str:
    if "pickle=True" in message:
        return (
            f"{message}. Pass --pickle to read pickled arguments, if you trust every "
            f"process that writes {name} (unpickling runs code)"
        )
    if message.startswith("no job with id "):
        return f"no job {message.removeprefix('no job with id ')} in {name}"
    return message


def _confirm(prompt: str) -> bool:
    """Ask *prompt* on the terminal; True for yes. Not at a terminal, refuse: a script
    must say ``--yes``."""
    stdin = sys.stdin
    if stdin is None or not stdin.isatty():
        raise ValueError("remove asks before it removes: pass --yes when not at a terminal")
    sys.stderr.write(prompt)
    sys.stderr.flush()
    answer = stdin.readline()
    return answer.strip().lower() in {"y", "yes"}
