"""A plain SQLite connection for tests that look inside a job file.

``with sqlite3.connect(path) as conn:`` commits at the end of the block but never
closes the connection: it is closed only when garbage-collected, which Python 3.13
reports as a ``ResourceWarning`` (an error in this suite).
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def connect(path: str | os.PathLike[str], **options: Any) -> Iterator[sqlite3.Connection]:
    """A connection to *path* that commits at the end of the block, then is closed."""
    conn = sqlite3.connect(path, **options)
    try:
        with conn:
            yield conn
    finally:
        conn.close()
