"""Episodes from where they are kept: JSONL files written by `playpen-play` / `make run`, or the trainer's
SQLite episode store (store.py), so that offline SFT and DPO read exactly the records the online loop keeps.

- `*.jsonl`: one Episode per line, as `MessageToDict(episode, preserving_proto_field_name=True)`;
- `*.db`, `*.sqlite`, `*.sqlite3`: the store's `episodes` table, `data` = the serialized Episode;
- a directory: every `*.jsonl` below it, in path order.

The store is opened read-only (`mode=ro`), so reading never writes to a database the trainer is using, and it
is read in pages of short transactions: one long read transaction would keep SQLite from checkpointing the WAL
for as long as training reads, and the WAL would grow while the trainer keeps writing.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Iterable, Iterator
from pathlib import Path

from google.protobuf import json_format

from playpen.common.v1 import episode_pb2

log = logging.getLogger("playpen.trainer.episode_files")

JSONL_SUFFIXES = (".jsonl",)
SQLITE_SUFFIXES = (".db", ".sqlite", ".sqlite3")
_PAGE = 256


class EpisodeFileError(ValueError):
    """A source that is not episodes (unknown kind, or a line that is not an Episode)."""


def read_episodes(path: str | Path) -> Iterator[episode_pb2.Episode]:
    """Every episode in a JSONL file, an episode store, or the JSONL files below a directory."""
    path = Path(path)
    if path.is_dir():
        for file in sorted(path.rglob("*.jsonl")):
            yield from _read_jsonl(file)
    elif not path.exists():
        raise FileNotFoundError(f"{path}: no such file or directory")
    elif path.suffix in JSONL_SUFFIXES:
        yield from _read_jsonl(path)
    elif path.suffix in SQLITE_SUFFIXES:
        yield from _read_store(path)
    else:
        raise EpisodeFileError(f"{path}: unknown episode source (expected a directory, "
                         f"{', '.join(JSONL_SUFFIXES + SQLITE_SUFFIXES)})")


def read_all(paths: Iterable[str | Path]) -> Iterator[episode_pb2.Episode]:
    """The episodes of several sources, each episode_id once (the same run may be listed twice, or a JSONL
    export may overlap the store it came from)."""
    seen: set[str] = set()
    for path in paths:
        for episode in read_episodes(path):
            if episode.episode_id and episode.episode_id in seen:
                continue
            seen.add(episode.episode_id)
            yield episode


def _read_jsonl(path: Path) -> Iterator[episode_pb2.Episode]:
    with open(path, encoding="utf-8") as handle:
        lines = handle.readlines()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            # Unknown fields are ignored so that files written by a newer contract still read.
            yield json_format.ParseDict(record, episode_pb2.Episode(), ignore_unknown_fields=True)
        except (json.JSONDecodeError, json_format.ParseError) as error:
            if number == len(lines) and not line.endswith("\n"):
                # A writer appends a line at a time: an unterminated last line is one still being written.
                log.warning("skipping the unfinished last line of %s", path)
                continue
            raise EpisodeFileError(f"{path}:{number}: not an Episode: {error}") from error


def _read_store(path: Path) -> Iterator[episode_pb2.Episode]:
    connection = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        last_rowid = -1
        while True:
            # episode_id is a TEXT primary key, so the table still has a rowid; the store never deletes, so
            # new rows get higher rowids and paging by rowid neither skips nor repeats while the trainer inserts.
            rows = connection.execute("SELECT rowid, data FROM episodes WHERE rowid > ? ORDER BY rowid LIMIT ?",
                                      (last_rowid, _PAGE)).fetchall()
            if not rows:
                return
            for rowid, blob in rows:
                last_rowid = rowid
                yield episode_pb2.Episode.FromString(blob)
    finally:
        connection.close()
