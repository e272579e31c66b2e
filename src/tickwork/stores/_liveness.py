"""Is the process that holds a lease still alive? Where this process can tell, at once.

A lease expires ``lease_time`` after its holder last renewed it, which is the rule
that always holds. But a process on the same machine need not wait that long: a dead
holder's PID is gone from ``/proc``, or has been reused by a process that started at
another time. Each holder therefore records an *identity* with its leases::

    <scope> <pid> <start>

``scope`` names the PID namespace (the boot id and the namespace's inode): PIDs are
comparable only within one. ``start`` is the process's start time in clock ticks since
boot (field 22 of ``/proc/<pid>/stat``), which tells a PID's new owner from its old one.
Where ``/proc`` is missing (not Linux) the identity is None and only expiry applies.

:func:`is_dead` answers True only when it is sure; "cannot tell" is False.
"""

from __future__ import annotations

import os

__all__ = ["identity", "is_dead"]

_identity: tuple[int, str | None] | None = None


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="ascii", errors="replace") as file:
            return file.read()
    except OSError:
        return None


def _scope() -> str | None:
    boot = _read("/proc/sys/kernel/random/boot_id")
    try:
        namespace = os.readlink("/proc/self/ns/pid")
    except OSError:
        return None
    if boot is None:
        return None
    return f"{boot.strip()}/{namespace}".replace(" ", "")


def _stat(pid: int) -> tuple[str, str] | None:
    """(state, start time) of *pid* from ``/proc/<pid>/stat``, or None if it has none."""
    text = _read(f"/proc/{pid}/stat")
    if text is None:
        return None
    # The command name (field 2) is in parentheses and may hold anything, spaces and
    # parentheses included: the fields after it start after the *last* ')'.
    fields = text.rpartition(")")[2].split()
    if len(fields) < 20:
        return None
    return fields[0], fields[19]


def identity() -> str | None:
    """This process's identity for its leases (None where it cannot be told)."""
    global _identity
    pid = os.getpid()
    if _identity is None or _identity[0] != pid:  # computed again in a forked child
        scope = _scope()
        stat = _stat(pid)
        _identity = (pid, None if scope is None or stat is None else f"{scope} {pid} {stat[1]}")
    return _identity[1]


def is_dead(holder: str) -> bool:
    """True if the process of identity *holder* has certainly ended: it ran in this
    process's PID namespace, and its PID is gone, is a zombie, or belongs to a process
    that started at another time. False when alive, or when this cannot be told."""
    mine = identity()
    if mine is None:
        return False
    try:
        scope, pid_text, start = holder.split(" ")
        pid = int(pid_text)
    except ValueError:
        return False
    if scope != mine.split(" ", 1)[0]:
        return False  # another machine, container or boot: its PIDs mean nothing here
    stat = _stat(pid)
    if stat is None:
        # No readable entry: gone, or hidden from this user (``hidepid``). Ask the
        # kernel, which tells "no such process" from "not yours".
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        except OSError:
            return False
        return False
    state, started = stat
    return started != start or state in ("Z", "X", "x")
