"""Game instances: official clembench instance files, and the project's own generated ones."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from playpen_games.engine import DialogueGame, GameDefinitionError
from playpen_games.registry import game_class, game_spec

SPLITS = ("train", "validation", "test")


@dataclass(frozen=True)
class GameInstance:
    game: str
    experiment: Mapping[str, Any]
    instance: Mapping[str, Any]
    split: str
    source: str
    clembench_game_dir: Path | None = field(default=None, compare=False)

    @property
    def experiment_name(self) -> str:
        return str(self.experiment.get("name", ""))

    @property
    def instance_id(self) -> str:
        """Stable id of the instance within its game: `<experiment>/<game_id>`."""
        return f"{self.experiment_name}/{self.instance.get('game_id', '?')}"

    def build(self) -> DialogueGame:
        resources = game_spec(self.game).resources(self.clembench_game_dir)
        return game_class(self.game)(self.experiment, self.instance, resources)


def instances_from_document(game: str, document: Any, *, split: str, source: str,
                            clembench_game_dir: Path | None = None) -> list[GameInstance]:
    """Instances of a clembench-format document: {"experiments": [{..., "game_instances": [...]}]}."""
    game_spec(game)  # unknown game -> GameDefinitionError
    if not isinstance(document, dict) or not isinstance(document.get("experiments"), list):
        raise GameDefinitionError(f"{source}: expected an object with an 'experiments' list")
    found = []
    for index, experiment in enumerate(document["experiments"]):
        if not isinstance(experiment, dict) or not isinstance(experiment.get("game_instances"), list):
            raise GameDefinitionError(f"{source}: experiment #{index} has no 'game_instances' list")
        settings = {key: value for key, value in experiment.items() if key != "game_instances"}
        for instance in experiment["game_instances"]:
            if not isinstance(instance, dict) or "game_id" not in instance:
                raise GameDefinitionError(f"{source}: experiment {settings.get('name')!r} holds an instance "
                                          f"without a game_id")
            found.append(GameInstance(game, settings, instance, split, source, clembench_game_dir))
    return found


def load_instance_file(game: str, path: Path, *, split: str = "test") -> list[GameInstance]:
    """Load an official clembench instance file (any version), e.g. taboo/in/instances_v1.6.json.

    Resources outside the instances are looked up in the clembench game folder the file lives in.
    """
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise GameDefinitionError(f"cannot read instances {path}: {exc}") from exc
    game_dir = Path(path).resolve().parent.parent
    return instances_from_document(game, document, split=split, source=str(path), clembench_game_dir=game_dir)


def select(instances: Iterable[GameInstance], *, experiments: Iterable[str] = (),
           instance_ids: Iterable[str] = ()) -> list[GameInstance]:
    wanted_experiments, wanted_ids = set(experiments), set(instance_ids)
    return [i for i in instances
            if (not wanted_experiments or i.experiment_name in wanted_experiments)
            and (not wanted_ids or i.instance_id in wanted_ids)]
