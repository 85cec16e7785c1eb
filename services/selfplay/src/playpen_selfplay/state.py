"""The actor's only state, written atomically after each acknowledged round: the next round's number and, for the
signal curriculum, per game how many of its groups so far had signal (episodes that scored differently)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class ActorState:
    next_round: int = 0
    #: game -> [groups whose episodes scored differently, groups played]
    signal: dict[str, list[int]] = field(default_factory=dict)

    def record(self, groups: dict[str, list[bool]]) -> None:
        for game, signals in groups.items():
            counts = self.signal.setdefault(game, [0, 0])
            counts[0] += sum(signals)
            counts[1] += len(signals)


def load_state(path: Path | None) -> ActorState:
    if path is None or not path.is_file():
        return ActorState()
    data = json.loads(path.read_text())
    return ActorState(next_round=int(data["next_round"]),
                      signal={str(game): [int(n) for n in counts] for game, counts in data.get("signal", {}).items()})


def save_state(path: Path | None, state: ActorState) -> None:
    if path is None:
        return
    temporary = path.with_suffix(".tmp")
    with open(temporary, "w", encoding="utf-8") as handle:
        json.dump({"next_round": state.next_round, "signal": state.signal}, handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
