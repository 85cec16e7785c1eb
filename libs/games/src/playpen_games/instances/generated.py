"""The project's own instances: seeded generators, shipped as files, split train/validation/test.

A game package provides `generator.py` with

    def generate(split: str, seed: int) -> dict

returning a clembench-format document ({"experiments": [{"name": ..., <settings>, "game_instances": [...]}]})
for one game (wordle's generator module takes `game` too, as it serves three games). Instances are
self-contained: everything the game needs, including our own prompt wording, is in the experiment or the
instance. Splits never share a target (word, grid, slot set...), so validation and test measure
generalisation. `python -m playpen_games.instances.generated` regenerates the shipped files
(some generators need Debian's wordnet-base for that; playing never does).
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import json
import os
from functools import lru_cache
from pathlib import Path

from playpen_games.engine import GameDefinitionError
from playpen_games.instances import SPLITS, GameInstance, instances_from_document
from playpen_games.registry import GAMES, game_spec

DEFAULT_SEED = 2025


def shipped_file(game: str, split: str) -> Path:
    return game_spec(game).resources().packaged / "instances" / f"{game}_{split}.json"


@lru_cache(maxsize=64)
def _shipped_document(game: str, split: str) -> str:
    path = shipped_file(game, split)
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise GameDefinitionError(f"{game} ships no {split} instances ({path}): {exc.strerror}") from exc


def generated_instances(game: str, split: str) -> list[GameInstance]:
    if split not in SPLITS:
        raise GameDefinitionError(f"unknown split {split!r}; generated splits are {', '.join(SPLITS)}")
    game_spec(game)
    document = json.loads(_shipped_document(game, split))
    return instances_from_document(game, document, split=split, source=f"playpen:{game}/{split}")


def has_generator(game: str) -> bool:
    return shipped_file(game, "train").is_file()


def generate(game: str, split: str, seed: int = DEFAULT_SEED) -> dict:
    module = importlib.import_module(f"{game_spec(game).load().__module__.rsplit('.', 1)[0]}.generator")
    if "game" in inspect.signature(module.generate).parameters:  # one module serving several games
        return module.generate(game, split, seed)
    return module.generate(split, seed)


def write_shipped(game: str, seed: int = DEFAULT_SEED) -> list[Path]:
    written = []
    for split in SPLITS:
        document = generate(game, split, seed)
        instances_from_document(game, document, split=split, source="generator")  # validates the shape
        path = shipped_file(game, split)
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(document, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        os.replace(temporary, path)
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Regenerate the instance files shipped with the games.")
    parser.add_argument("games", nargs="*", help=f"games to regenerate (default: all of {', '.join(GAMES)})")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    args = parser.parse_args(argv)
    for game in args.games or list(GAMES):
        for path in write_shipped(game, args.seed):
            print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
