"""MatchIt ASCII instances of our own: pairs of 5×5 grids from grids.random_grid, with our own prompt wording.

The four experiments keep clembench's names and kinds of pairs:

- same_grid: both players get the same grid (solution `same grid`);
- similar_grid_1: the second grid is the first mirrored or turned by 90 degrees (and differs from it);
- similar_grid_2: the second grid is the first with two cells flipped;
- different_grid: two unrelated grids that differ in at least DIFFERENT_MIN_CELLS cells.

Each grid orbit (a grid with its rotations and mirror images) belongs to one split by a stable hash, and
every grid shown in a split's instances comes from that split's orbits, so no grid of a validation or test
instance, nor any rotation or mirror image of it, appears in training. Within an experiment no first grid
is used twice. Which player gets which grid of a pair is random. The decision comes after three questions
each (decision_turn 3), as in the official instances.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from playpen_games.games.matchit_ascii import grids
from playpen_games.games.matchit_ascii.grids import Grid

PER_EXPERIMENT = {"train": 50, "validation": 10, "test": 10}
ORBIT_SHARES = (("train", 70), ("validation", 15), ("test", 15))
DECISION_TURN = 3
DIFFERENT_MIN_CELLS = 6
SAME, DIFFERENT = "same grid", "different grids"

INITIAL_PROMPT = """Let's play a cooperative game. You and another player each have a 5 by 5 grid made of X and \
▢ cells. Neither of you can see the other's grid. Together you have to find out whether the two grids are \
identical. First you both describe your grids, then you take turns asking each other questions, and at the end \
each of you decides. Begin with a short description of your grid: write one message that starts with \
"DESCRIPTION:" followed by the description, and nothing else. Here is your grid:
$GRID$"""
TEXTS = {
    "q_reprompt": ('Now ask the other player one question about their grid that could reveal a difference from '
                   'yours. Start with "QUESTION:" and write nothing else.'),
    "d_reprompt": ('Time to decide: is the other player\'s grid the same as yours? Reply with exactly '
                   '"DECISION: same grid" or exactly "DECISION: different grids", and nothing else.\n'),
    "a_request": ' Reply with "ANSWER:" followed by your answer, and write nothing else.',
    "desc_intro": "The other player describes their grid like this: ",
}
FLAGS = {"description": "DESCRIPTION:", "question": "QUESTION:", "answer": "ANSWER:", "decision": "DECISION:"}


def in_split(grid: Grid, split: str) -> bool:
    return grids.orbit_split(grid, ORBIT_SHARES) == split


def _same(first: Grid, split: str, rng: random.Random) -> Grid | None:
    return first


def _mirrored_or_turned(first: Grid, split: str, rng: random.Random) -> Grid | None:
    changed = [t(first) for t in grids.SIMILAR_TRANSFORMS if t(first) != first]
    return rng.choice(changed) if changed else None


def _two_cells_flipped(first: Grid, split: str, rng: random.Random) -> Grid | None:
    second = grids.flip_cells(first, rng.sample(range(grids.SIZE * grids.SIZE), 2))
    return second if in_split(second, split) and grids.orbit_key(second) != grids.orbit_key(first) else None


def _unrelated(first: Grid, split: str, rng: random.Random) -> Grid | None:
    second = grids.random_grid(rng)
    if not in_split(second, split) or grids.orbit_key(second) == grids.orbit_key(first):
        return None
    return second if grids.distance(first, second) >= DIFFERENT_MIN_CELLS else None


#: experiment -> (solution, how the second grid is made from the first; None = try another)
EXPERIMENTS: dict[str, tuple[str, Callable[[Grid, str, random.Random], Grid | None]]] = {
    "same_grid": (SAME, _same),
    "similar_grid_1": (DIFFERENT, _mirrored_or_turned),
    "similar_grid_2": (DIFFERENT, _two_cells_flipped),
    "different_grid": (DIFFERENT, _unrelated),
}


def experiment_settings(name: str, solution: str) -> dict[str, Any]:
    return {"name": name, "initial_prompt": INITIAL_PROMPT, **TEXTS, "flags": dict(FLAGS),
            "solution": solution, "wrong_solution": DIFFERENT if solution == SAME else SAME}


def generate(split: str, seed: int) -> dict:
    if split not in PER_EXPERIMENT:
        raise ValueError(f"unknown split {split!r}")
    experiments = []
    for name, (solution, make_second) in EXPERIMENTS.items():
        rng = random.Random(f"matchit_ascii:{seed}:{split}:{name}")
        used: set[Grid] = set()
        instances: list[dict[str, Any]] = []
        for _ in range(100_000):
            if len(instances) == PER_EXPERIMENT[split]:
                break
            first = grids.random_grid(rng)
            if not in_split(first, split) or grids.orbit_key(first) in used:
                continue
            second = make_second(first, split, rng)
            if second is None:
                continue
            used.add(grids.orbit_key(first))
            pair = [first, second]
            rng.shuffle(pair)
            instances.append({"game_id": len(instances), "grid_a": grids.render(pair[0]),
                              "grid_b": grids.render(pair[1]), "decision_turn": DECISION_TURN})
        if len(instances) < PER_EXPERIMENT[split]:
            raise ValueError(f"{name}: could not make {PER_EXPERIMENT[split]} {split} instances")
        experiments.append({**experiment_settings(name, solution), "game_instances": instances})
    return {"experiments": experiments}
