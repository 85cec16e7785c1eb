"""Registry of playable games: name -> the class that plays it and where its data lives.

It sits above the engine and the game packages: the engine knows no game, and no game knows the registry.
Game modules are imported on first use, so listing games is cheap."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path

from playpen_games.engine import DialogueGame, GameDefinitionError, GameResources

GAMES_PACKAGE = "playpen_games.games"


@dataclass(frozen=True)
class GameSpec:
    name: str
    target: str  # "package:Class" below playpen_games.games
    clembench_folder: str  # the game's folder inside a clembench checkout
    instances_stem: str  # official instance files are <stem>.json and <stem>_v<version>[_<lang>].json
    training: bool  # one of Playpen's training games (the rest are for out-of-domain evaluation)

    @property
    def package(self) -> str:
        """The importable package that plays this game (one package may serve several games)."""
        return f"{GAMES_PACKAGE}.{self.target.partition(':')[0]}"

    def load(self) -> type[DialogueGame]:
        return getattr(importlib.import_module(self.package), self.target.partition(":")[2])

    def resources(self, clembench_game_dir: Path | None = None) -> GameResources:
        """What the game reads besides its instance: its package's data/, and the clembench folder if any."""
        return GameResources.of_package(self.package, self.name, clembench_game_dir)

    def clembench_instances(self, clembench_root: Path, version: str | None = None) -> Path:
        """The official instance file of `version` (newest when None) in a clembench checkout."""
        folder = clembench_root / self.clembench_folder / "in"
        if version is None:
            candidates = [folder / f"{self.instances_stem}.json"]
        else:
            candidates = [folder / f"{self.instances_stem}_v{version}.json",
                          folder / f"{self.instances_stem}_v{version}_en.json"]
        for path in candidates:
            if path.is_file():
                return path
        raise GameDefinitionError(f"no clembench instances for {self.name} version {version or 'latest'} "
                                  f"in {folder}")


_SPECS = [
    GameSpec("taboo", "taboo:Taboo", "taboo", "instances", True),
    GameSpec("wordle", "wordle:Wordle", "wordle", "instances", True),
    GameSpec("wordle_withclue", "wordle:WordleWithClue", "wordle", "instances_withclue", True),
    GameSpec("wordle_withcritic", "wordle:WordleWithCritic", "wordle", "instances_withcritic", True),
    GameSpec("referencegame", "referencegame:ReferenceGame", "referencegame", "instances", True),
    GameSpec("imagegame", "imagegame:ImageGame", "imagegame", "instances", True),
    GameSpec("privateshared", "privateshared:PrivateShared", "privateshared", "instances", True),
    GameSpec("guesswhat", "guesswhat:GuessWhat", "guesswhat", "instances", training=False),
    GameSpec("matchit_ascii", "matchit_ascii:MatchItAscii", "matchit_ascii", "instances", training=False),
    GameSpec("codenames", "codenames:Codenames", "codenames", "instances", training=False),
    GameSpec("textmapworld", "textmapworld:TextMapWorld", "textmapworld/textmapworld_main", "instances",
             training=False),
    GameSpec("textmapworld_specificroom", "textmapworld:TextMapWorldSpecificRoom",
             "textmapworld/textmapworld_specificroom", "instances", training=False),
    GameSpec("textmapworld_graphreasoning", "textmapworld:TextMapWorldGraphReasoning",
             "textmapworld/textmapworld_graphreasoning", "instances", training=False),
    GameSpec("adventuregame", "adventuregame:AdventureGame", "adventuregame", "instances", training=False),
]
GAMES: dict[str, GameSpec] = {spec.name: spec for spec in _SPECS}
TRAINING_GAMES = tuple(spec.name for spec in _SPECS if spec.training)


def game_spec(name: str) -> GameSpec:
    try:
        return GAMES[name]
    except KeyError:
        raise GameDefinitionError(f"unknown game {name!r}; known games: {', '.join(GAMES)}") from None


def game_class(name: str) -> type[DialogueGame]:
    return game_spec(name).load()
