"""The episode store and the consumption ledger: SQLite in WAL mode, one file.

Why SQLite/WAL rather than an append-only log of our own: an ack must mean "durable", resends must be stored
once, and training must know which episodes are pending, consumed (and by which step) or dropped — that is an
index and a transaction, which SQLite gives us with synchronous=FULL (each commit is fsync'd in the WAL) and a
PRIMARY KEY on episode_id (a resend is an ignored insert). WAL lets readers (offline SFT/DPO, inspection) read
while the trainer writes.

The ledger is `consumed_step`: the optimiser step that trained on an episode. A checkpoint records its step;
after a crash the trainer restarts from the newest committed checkpoint c and clears every consumed_step > c,
so the episodes of lost steps are trained again, once, and those already inside the checkpoint never are.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from playpen.common.v1 import episode_pb2
from playpen_common.sqlite import open_durable

SCHEMA = """
CREATE TABLE IF NOT EXISTS episodes (
    episode_id TEXT PRIMARY KEY,
    group_id TEXT NOT NULL,
    game TEXT NOT NULL,
    status INTEGER NOT NULL,
    min_version INTEGER NOT NULL,
    received_at REAL NOT NULL,
    data BLOB NOT NULL,
    consumed_step INTEGER,
    dropped TEXT
);
CREATE INDEX IF NOT EXISTS episodes_pending ON episodes (consumed_step, dropped, group_id);
CREATE TABLE IF NOT EXISTS checkpoints (
    version INTEGER PRIMARY KEY,
    step INTEGER NOT NULL,
    reward_mean REAL,
    committed_at REAL NOT NULL
);
"""


@dataclass(frozen=True)
class Counts:
    stored: int
    pending: int
    consumed: int
    dropped: int


class EpisodeStore:
    """Thread-safe; every method is a short transaction. Call from a worker thread, not the event loop."""

    def __init__(self, path: Path):
        self.path = path
        self._db = open_durable(path, SCHEMA)
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # ------------------------------------------------------------------------------------------ ingestion

    def put(self, episode: episode_pb2.Episode, min_version: int, dropped: str | None = None) -> bool:
        """Store an episode durably; False if this episode_id was stored before (nothing changes)."""
        with self._lock:
            cursor = self._db.execute(
                "INSERT OR IGNORE INTO episodes (episode_id, group_id, game, status, min_version, received_at, data,"
                " dropped) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (episode.episode_id, episode.group_id, episode.game, episode.status, min_version, time.time(),
                 episode.SerializeToString(), dropped))
            return cursor.rowcount == 1

    # ------------------------------------------------------------------------------------------ training

    def ready_groups(self, group_size: int, limit: int) -> list[list[episode_pb2.Episode]]:
        """Up to `limit` groups whose episodes have all arrived (group_size of them, dropped ones included),
        oldest first, with their pending episodes."""
        with self._lock:
            rows = self._db.execute(
                "SELECT group_id FROM episodes GROUP BY group_id "
                "HAVING COUNT(*) >= ? AND SUM(consumed_step IS NULL AND dropped IS NULL) > 0 "
                "ORDER BY MIN(received_at) LIMIT ?", (group_size, limit)).fetchall()
            groups = []
            for (group_id,) in rows:
                data = self._db.execute(
                    "SELECT data FROM episodes WHERE group_id = ? AND consumed_step IS NULL AND dropped IS NULL "
                    "ORDER BY episode_id", (group_id,)).fetchall()
                groups.append([episode_pb2.Episode.FromString(blob) for (blob,) in data])
            return groups

    def record_step(self, step: int, consumed: list[str], dropped: dict[str, str]) -> None:
        """In one transaction: the episodes this step trained on, and those it set aside (with why)."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany("UPDATE episodes SET consumed_step = ? WHERE episode_id = ?",
                                     [(step, episode_id) for episode_id in consumed])
                self._db.executemany("UPDATE episodes SET dropped = ? WHERE episode_id = ?",
                                     [(reason, episode_id) for episode_id, reason in dropped.items()])
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def rewind_to(self, step: int) -> int:
        """Make the episodes of steps after `step` pending again (they were trained into no checkpoint)."""
        with self._lock:
            cursor = self._db.execute("UPDATE episodes SET consumed_step = NULL WHERE consumed_step > ?", (step,))
            return cursor.rowcount

    def record_checkpoint(self, version: int, step: int, reward_mean: float | None) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO checkpoints (version, step, reward_mean, committed_at) "
                             "VALUES (?, ?, ?, ?)", (version, step, reward_mean, time.time()))

    def best_version(self) -> int | None:
        with self._lock:
            row = self._db.execute("SELECT version FROM checkpoints WHERE reward_mean IS NOT NULL "
                                   "ORDER BY reward_mean DESC, version DESC LIMIT 1").fetchone()
            return row[0] if row else None

    # ------------------------------------------------------------------------------------------ reading

    def counts(self) -> Counts:
        with self._lock:
            stored, pending, consumed, dropped = self._db.execute(
                "SELECT COUNT(*), COALESCE(SUM(consumed_step IS NULL AND dropped IS NULL), 0), "
                "COUNT(consumed_step), COUNT(dropped) FROM episodes").fetchone()
        return Counts(stored, pending, consumed, dropped)

    def consumption(self) -> dict[str, int | None]:
        """episode_id -> the step that trained on it (None: not trained)."""
        with self._lock:
            return dict(self._db.execute("SELECT episode_id, consumed_step FROM episodes").fetchall())

    def episodes(self) -> Iterator[episode_pb2.Episode]:
        with self._lock:
            rows = self._db.execute("SELECT data FROM episodes ORDER BY received_at").fetchall()
        for (blob,) in rows:
            yield episode_pb2.Episode.FromString(blob)
