"""The actor's only state: the next round's number, written atomically after each acknowledged round."""

from __future__ import annotations

import json
import os
from pathlib import Path


def load_round(path: Path | None) -> int:
    if path is None or not path.is_file():
        return 0
    return int(json.loads(path.read_text())["next_round"])


def save_round(path: Path | None, next_round: int) -> None:
    if path is None:
        return
    temporary = path.with_suffix(".tmp")
    with open(temporary, "w", encoding="utf-8") as handle:
        json.dump({"next_round": next_round}, handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
