"""The result store: every evaluation, its episodes, and the promotion history. SQLite in WAL mode, one file.

A result is keyed by (version, split, protocol); the protocol names what was played (the games and their groups,
instances per game, seed, max tokens), so a stored result is only returned for the same evaluation. The
promotion history is append-only: its last row is the serving checkpoint, which therefore survives restarts.

Promotion (eval-gated): an eligible result (validation split, the configured game set) is promoted iff its
promote metric ≥ the best promoted metric so far (same protocol) − margin; the first one is promoted. The
decision and the insert are one transaction, so two results can never both read the same "best".
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from playpen.common.v1 import checkpoint_pb2, episode_pb2
from playpen.evaluator.v1 import evaluator_pb2
from playpen_common.sqlite import open_durable

SCHEMA = """
CREATE TABLE IF NOT EXISTS results (
    id INTEGER PRIMARY KEY,
    version INTEGER NOT NULL,
    split TEXT NOT NULL,
    protocol TEXT NOT NULL,
    promote_metric REAL,
    promoted INTEGER NOT NULL,
    checkpoint BLOB NOT NULL,
    result BLOB NOT NULL,
    UNIQUE (version, split, protocol)
);
CREATE TABLE IF NOT EXISTS episodes (
    result_id INTEGER NOT NULL REFERENCES results (id),
    episode_id TEXT NOT NULL,
    game TEXT NOT NULL,
    grp TEXT NOT NULL,
    instance_id TEXT NOT NULL,
    aborted INTEGER NOT NULL,
    success INTEGER NOT NULL,
    main_score REAL,
    turns INTEGER NOT NULL,
    transcript BLOB,
    PRIMARY KEY (result_id, episode_id)
);
CREATE TABLE IF NOT EXISTS promotions (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    version INTEGER NOT NULL,
    event TEXT NOT NULL,
    checkpoint BLOB NOT NULL,
    at REAL NOT NULL
);
"""


@dataclass(frozen=True)
class Best:
    version: int
    metric: float


def decide(metric: float, best: Best | None, margin: float) -> tuple[bool, str]:
    """The promotion rule, with the comparison it made in words."""
    if math.isnan(metric):
        return False, "no seen-games clemscore to compare: not promoted"
    if best is None:
        return True, f"first evaluated checkpoint: promoted with seen validation clemscore {metric:.2f}"
    bar = best.metric - margin
    verdict = "promoted" if metric >= bar else "not promoted"
    sign = "≥" if metric >= bar else "<"
    return metric >= bar, (f"seen validation clemscore {metric:.2f} {sign} best promoted {best.metric:.2f} "
                           f"(version {best.version}) − margin {margin:.2f} = {bar:.2f}: {verdict}")


def _nan(value: float | None) -> float:
    return math.nan if value is None else value


class ResultStore:
    """Thread-safe; every method is a short transaction. Call from a worker thread, not the event loop."""

    def __init__(self, path: Path):
        self.path = path
        self._db = open_durable(path, SCHEMA)
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # ------------------------------------------------------------------------------------------ writing

    def record(self, result: evaluator_pb2.EvaluationResult, checkpoint: checkpoint_pb2.CheckpointRef, *,
               protocol: str, episodes: list[evaluator_pb2.EpisodeResult],
               transcripts: dict[str, episode_pb2.Episode], promote_metric: float, eligible: bool,
               ineligible_reason: str = "", margin: float) -> evaluator_pb2.EvaluationResult:
        """Store a result with its episodes and apply the promotion rule; returns it with `promoted` and
        `promotion_reason` set. A promoted result becomes the serving checkpoint."""
        stored = evaluator_pb2.EvaluationResult()
        stored.CopyFrom(result)
        del stored.episodes[:]
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                if eligible:
                    promoted, reason = decide(promote_metric, self._best(protocol), margin)
                else:
                    promoted, reason = False, ineligible_reason
                stored.promoted, stored.promotion_reason = promoted, reason
                cursor = self._db.execute(
                    "INSERT INTO results (version, split, protocol, promote_metric, promoted, checkpoint, result) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (stored.version, stored.split, protocol, None if math.isnan(promote_metric) else promote_metric,
                     int(promoted), checkpoint.SerializeToString(), stored.SerializeToString()))
                result_id = cursor.lastrowid
                self._db.executemany(
                    "INSERT INTO episodes (result_id, episode_id, game, grp, instance_id, aborted, success, main_score,"
                    " turns, transcript) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [(result_id, e.episode_id, e.game, e.group, e.instance_id, int(e.aborted), int(e.success),
                      None if math.isnan(e.main_score) else e.main_score, e.turns,
                      transcripts[e.episode_id].SerializeToString() if e.episode_id in transcripts else None)
                     for e in episodes])
                if promoted:
                    self._append_promotion(checkpoint, "promoted")
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return stored

    def _best(self, protocol: str) -> Best | None:
        row = self._db.execute(
            "SELECT version, promote_metric FROM results WHERE promoted = 1 AND split = 'validation' AND "
            "protocol = ? ORDER BY promote_metric DESC, version DESC LIMIT 1", (protocol,)).fetchone()
        return Best(row[0], row[1]) if row else None

    def _append_promotion(self, checkpoint: checkpoint_pb2.CheckpointRef, event: str) -> None:
        self._db.execute("INSERT INTO promotions (version, event, checkpoint, at) VALUES (?, ?, ?, ?)",
                         (checkpoint.version, event, checkpoint.SerializeToString(), time.time()))

    def rollback(self, checkpoint: checkpoint_pb2.CheckpointRef) -> None:
        with self._lock:
            self._append_promotion(checkpoint, "rollback")

    # ------------------------------------------------------------------------------------------ reading

    def find(self, version: int, split: str,
             protocol: str) -> tuple[evaluator_pb2.EvaluationResult, checkpoint_pb2.CheckpointRef] | None:
        with self._lock:
            row = self._db.execute("SELECT result, checkpoint FROM results WHERE version = ? AND split = ? AND "
                                   "protocol = ?", (version, split, protocol)).fetchone()
        if row is None:
            return None
        return (evaluator_pb2.EvaluationResult.FromString(row[0]),
                checkpoint_pb2.CheckpointRef.FromString(row[1]))

    def results(self, versions: list[int], split: str, *,
                include_episodes: bool) -> list[evaluator_pb2.EvaluationResult]:
        query, arguments = "SELECT id, result FROM results WHERE 1", []
        if versions:
            query += f" AND version IN ({', '.join('?' * len(versions))})"
            arguments.extend(versions)
        if split:
            query += " AND split = ?"
            arguments.append(split)
        with self._lock:
            rows = self._db.execute(query + " ORDER BY version, split, id", arguments).fetchall()
            found = []
            for result_id, blob in rows:
                result = evaluator_pb2.EvaluationResult.FromString(blob)
                if include_episodes:
                    for row in self._db.execute(
                            "SELECT episode_id, game, grp, instance_id, aborted, success, main_score, turns "
                            "FROM episodes WHERE result_id = ? ORDER BY game, instance_id, episode_id", (result_id,)):
                        result.episodes.add(episode_id=row[0], game=row[1], group=row[2], instance_id=row[3],
                                            aborted=bool(row[4]), success=bool(row[5]), main_score=_nan(row[6]),
                                            turns=row[7])
                found.append(result)
        return found

    def transcripts(self, version: int, split: str) -> list[episode_pb2.Episode]:
        """The full episodes kept of a version's evaluations on `split` (sample transcripts for reports)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT e.transcript FROM episodes e JOIN results r ON r.id = e.result_id WHERE r.version = ? AND "
                "r.split = ? AND e.transcript IS NOT NULL ORDER BY e.game, e.instance_id", (version, split)).fetchall()
        return [episode_pb2.Episode.FromString(blob) for (blob,) in rows]

    def promoted_checkpoint(self, version: int) -> checkpoint_pb2.CheckpointRef | None:
        """The checkpoint of `version` if a result of it was ever promoted."""
        with self._lock:
            row = self._db.execute("SELECT checkpoint FROM promotions WHERE version = ? AND event = 'promoted' "
                                   "ORDER BY seq DESC LIMIT 1", (version,)).fetchone()
        return checkpoint_pb2.CheckpointRef.FromString(row[0]) if row else None

    def evaluated(self, version: int) -> bool:
        with self._lock:
            row = self._db.execute("SELECT 1 FROM results WHERE version = ? LIMIT 1", (version,)).fetchone()
        return row is not None

    def serving(self) -> checkpoint_pb2.CheckpointRef | None:
        """The checkpoint serving replicas follow: the last promotion or rollback (None: nothing promoted yet)."""
        with self._lock:
            row = self._db.execute("SELECT checkpoint FROM promotions ORDER BY seq DESC LIMIT 1").fetchone()
        return checkpoint_pb2.CheckpointRef.FromString(row[0]) if row else None

    def newest_version(self, split: str, protocol: str) -> int:
        """The highest version evaluated on `split` under `protocol` (-1: none), where a follower resumes."""
        with self._lock:
            row = self._db.execute("SELECT MAX(version) FROM results WHERE split = ? AND protocol = ?",
                                   (split, protocol)).fetchone()
        return -1 if row[0] is None else row[0]
