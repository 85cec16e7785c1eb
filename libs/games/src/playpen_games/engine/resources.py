"""Where a game finds data that is not in its instance.

Two places: the data this project ships in a package's `data/` folder (each game's own), and, for official
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

from playpen_games.engine.errors import GameDefinitionError


@dataclass(frozen=True)
class GameResources:
    game: str
    packaged: Path
    clembench_game_dir: Path | None = None

    @classmethod
    def of_package(cls, package: str, game: str = "", clembench_game_dir: Path | None = None) -> GameResources:
        """The resources shipped in `<package>/data/` (a game's own package, or any other)."""
        root = importlib_resources.files(package) / "data"
        return cls(game=game or package.rpartition(".")[2], packaged=Path(str(root)),
                   clembench_game_dir=clembench_game_dir)

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
