"""Which instances the game master can play: our generated splits, plus official clembench ones if present."""

from __future__ import annotations

import os
import random
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import structlog

from playpen_games.engine import GameDefinitionError
from playpen_games.instances import SPLITS, GameInstance, load_instance_file
from playpen_games.instances.generated import generated_instances, has_generator
from playpen_games.registry import GAMES, game_spec

CLEMBENCH_SPLIT = "clembench"
log = structlog.get_logger("playpen.catalog")


def default_clembench_dir() -> Path | None:
    """clembench game data: $PLAYPEN_CLEMBENCH_DIR, else $PLAYPEN_SHARED_DIR/clembench, else ../shared/clembench."""
    explicit = os.environ.get("PLAYPEN_CLEMBENCH_DIR")
    if explicit:
        return Path(explicit)
    shared = os.environ.get("PLAYPEN_SHARED_DIR")
    candidate = Path(shared) / "clembench" if shared else Path.cwd().parent / "shared" / "clembench"
    return candidate if candidate.is_dir() else None


@dataclass(frozen=True)
class SplitInfo:
    split: str
    experiments: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.experiments.values())


class InstanceCatalog:
    def __init__(self, clembench_dir: Path | None = None, clembench_version: str | None = None):
        self._clembench_dir = clembench_dir
        self._clembench_version = clembench_version
        self._cache: dict[tuple[str, str], list[GameInstance]] = {}

    def games(self) -> list[str]:
        return [name for name in GAMES if self.splits(name)]

    def splits(self, game: str) -> list[str]:
        available = list(SPLITS) if has_generator(game) else []
        if self._clembench_file(game) is not None:
            available.append(CLEMBENCH_SPLIT)
        return available

    def _clembench_file(self, game: str) -> Path | None:
        if self._clembench_dir is None:
            return None
        try:
            return game_spec(game).clembench_instances(self._clembench_dir, self._clembench_version)
        except GameDefinitionError:
            return None

    def instances(self, game: str, split: str) -> list[GameInstance]:
        key = (game, split)
        if key not in self._cache:
            game_spec(game)
            if split == CLEMBENCH_SPLIT:
                path = self._clembench_file(game)
                if path is None:
                    raise GameDefinitionError(f"no clembench instances of {game} are configured "
                                              f"(set PLAYPEN_GAMEMASTER_CLEMBENCH_DIR)")
                self._cache[key] = load_instance_file(game, path, split=CLEMBENCH_SPLIT)
            elif split in SPLITS:
                self._cache[key] = generated_instances(game, split)
            else:
                raise GameDefinitionError(f"unknown split {split!r}; splits: "
                                          f"{', '.join([*SPLITS, CLEMBENCH_SPLIT])}")
        return self._cache[key]

    def describe(self, game: str) -> list[SplitInfo]:
        info = []
        for split in self.splits(game):
            try:
                counts = Counter(i.experiment_name for i in self.instances(game, split))
            except GameDefinitionError as exc:
                log.warning("instances unavailable", game=game, split=split, error=str(exc))
                continue
            info.append(SplitInfo(split, dict(counts)))
        return info

    def select(self, game: str, split: str, *, experiments: set[str] = frozenset(),
               instance_ids: set[str] = frozenset(), count: int = 0, seed: int = 0) -> list[GameInstance]:
        """The instances to play: filtered, then `count` of them sampled without replacement by `seed`."""
        pool = [i for i in self.instances(game, split)
                if (not experiments or i.experiment_name in experiments)
                and (not instance_ids or i.instance_id in instance_ids)]
        if count and count < len(pool):
            pool = random.Random(f"{seed}:{game}:{split}").sample(pool, count)
        return pool
