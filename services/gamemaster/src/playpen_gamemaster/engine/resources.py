"""Where a game finds data that is not in its instance.

Two places: the data this project ships with each game (`games/<game>/data/`), and, for official
clembench instances, the clembench game folder the instance file came from (some clembench games keep
prompt pieces outside their instances, e.g. privateshared's probe questions). Our own generated instances
are self-contained and never need the second.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources as importlib_resources
from pathlib import Path
from typing import Any

from playpen_gamemaster.engine.errors import GameDefinitionError


@dataclass(frozen=True)
class GameResources:
    game: str
    packaged: Path
    clembench_game_dir: Path | None = None

    @classmethod
    def for_game(cls, game: str, clembench_game_dir: Path | None = None) -> GameResources:
        root = importlib_resources.files("playpen_gamemaster.games") / _package_of(game) / "data"
        return cls(game=game, packaged=Path(str(root)), clembench_game_dir=clembench_game_dir)

    def packaged_text(self, relative: str) -> str:
        return _read_text(self.packaged / relative)

    def packaged_json(self, relative: str) -> Any:
        return _read_json(self.packaged / relative)

    def clembench_json(self, relative: str) -> Any:
        if self.clembench_game_dir is None:
            raise GameDefinitionError(
                f"{self.game}: this instance needs clembench's {relative}, but no clembench game folder is "
                f"known (load the instance from its clembench instances file, or set the clembench path)")
        return _read_json(self.clembench_game_dir / relative)


def _package_of(game: str) -> str:
    """The games/ package serving `game`; one package may serve several games (wordle, textmapworld)."""
    from playpen_gamemaster.games import GAMES  # imported here: the registry itself imports the engine

    spec = GAMES.get(game)
    if spec is not None:
        return spec.target.partition(":")[0]
    return game.split("_")[0] if game.startswith("wordle") else game


@lru_cache(maxsize=256)
def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise GameDefinitionError(f"cannot read game resource {path}: {exc.strerror}") from exc


def _read_json(path: Path) -> Any:
    # Parsed anew for each caller so that no game can mutate another episode's copy.
    try:
        return json.loads(_read_text(path))
    except json.JSONDecodeError as exc:
        raise GameDefinitionError(f"game resource {path} is not valid JSON: {exc}") from exc
