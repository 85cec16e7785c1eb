"""The services' durable SQLite stores open the same way: WAL, synchronous=FULL (a committed transaction survives
a power cut), autocommit off the module's implicit transactions (explicit BEGIN where needed), one connection
shared by threads under the caller's lock."""

from __future__ import annotations

import sqlite3
from pathlib import Path


def open_durable(path: Path, schema: str) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    connection = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=FULL")
    connection.executescript(schema)
    return connection
