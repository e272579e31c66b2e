"""Job stores: where the scheduler keeps its jobs."""

from __future__ import annotations

from ._base import JobStore
from .memory import MemoryStore
from .sqlite import SQLiteStore

__all__ = ["JobStore", "MemoryStore", "SQLiteStore"]
