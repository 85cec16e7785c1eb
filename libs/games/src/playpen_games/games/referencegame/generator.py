"""Playpen's own referencegame instances: seeded triplets of similar 5x5 grids, with our own prompt wording.

Five experiments, one per grid family (see grids.py): `letter_grids`, `number_grids`, `line_grids_rows`,
`line_grids_columns` and `random_grids`. Each target comes with its two most similar grids of the same
family as distractors (random targets: two copies with one or two X's moved). The Giver always sees the
target first; the Follower sees the three grids in an order drawn with the seeded RNG. A target of the
fixed families is played three times, once at each position, so the right label is balanced; a random
target is played once, with positions cycling through shuffled blocks of first/second/third.

Disjoint splits: every grid belongs to exactly one split, decided by a hash of its rendering and not by
the seed. In the fixed families the grids are ranked by that hash and the first ranks go to test, the next
to validation, the rest to train; a random grid's split is its hash modulo 20 (0-1 test, 2-3 validation)
and random grids equal to a fixed-family grid are never used. So no target grid is shared between splits.

Instances keep clembench's field names and are self-contained: prompts, reply patterns, parsing modes and
the target labels are all in the instance.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable

from playpen_games.games.referencegame import grids, protocol
from playpen_games.games.referencegame.grids import Grid

FIXED_FAMILIES: dict[str, Callable[[], list[Grid]]] = {
    "letter_grids": grids.letter_grids,
    "number_grids": grids.number_grids,
    "line_grids_rows": grids.row_grids,
    "line_grids_columns": grids.column_grids,
}
RANDOM_FAMILY = "random_grids"
#: targets held out of train, per fixed family: (test, validation)
HELD_OUT = {"letter_grids": 4, "number_grids": 2, "line_grids_rows": 4, "line_grids_columns": 4}
RANDOM_TARGETS = {"train": 96, "validation": 8, "test": 8}
RANDOM_FILLED = (8, 12)  # X's in a random grid, inclusive
LABELS = protocol.ENGLISH_LABELS

GIVER_PROMPT = """\
Let's play a reference game. There are three grids, each with 5 rows and 5 columns. Every cell is either \
filled, shown as X, or empty, shown as ▢.

One of the grids is the target; the other two are distractors that look a lot like it. Your partner sees the \
same three grids, in an order of its own, and does not know which one is the target. Write a \
referring expression: a description that lets your partner pick out the target and neither of the \
distractors.

The target:

{target}

Distractor A:

{first}

Distractor B:

{second}

Reply with a single line that begins with "Expression:" followed by your description, for example
Expression: the grid whose top row is completely filled
Add no other text and no further lines."""

FOLLOWER_PROMPT = """\
Let's play a reference game. Here are three grids, each with 5 rows and 5 columns. Every cell is either \
filled, shown as X, or empty, shown as ▢. Your partner knows which grid is the target and has described it \
for you. Decide which of the three grids the description refers to.

First grid:

{first}

Second grid:

{second}

Third grid:

{third}

Your partner's description:
{slot}

Reply with a single line that begins with "Answer:" followed by first, second or third, for example
Answer: second
Add no other text and no further lines."""


def grid_hash(grid: Grid) -> int:
    return int(hashlib.sha256(grids.render(grid).encode("utf-8")).hexdigest(), 16)


def fixed_split(family: str, grid: Grid) -> str:
    """The split of a grid of a fixed family: by its hash rank within the family."""
    ranked = sorted(FIXED_FAMILIES[family](), key=grid_hash)
    rank = ranked.index(grid)
    held = HELD_OUT[family]
    return "test" if rank < held else "validation" if rank < 2 * held else "train"


def random_split(grid: Grid) -> str:
    bucket = grid_hash(grid) % 20
    return "test" if bucket < 2 else "validation" if bucket < 4 else "train"


def fixed_grids() -> set[Grid]:
    everything: set[Grid] = set()
    for family, make in FIXED_FAMILIES.items():
        members = make()
        if len(set(members)) != len(members) or everything & set(members):
            raise ValueError(f"the {family} grids repeat a grid")
        everything |= set(members)
    return everything


def make_instance(game_id: int, target: Grid, distractors: tuple[Grid, Grid], position: int,
                  rng: random.Random) -> dict:
    """One instance: the Giver sees target, distractors; the Follower sees them with the target at `position`."""
    first, second = (grids.render(g) for g in distractors)
    shown = [grids.render(g) for g in rng.sample(distractors, 2)]
    shown.insert(position, grids.render(target))
    return {
        "game_id": game_id,
        "player_1_prompt_header": GIVER_PROMPT.format(target=grids.render(target), first=first, second=second),
        "player_1_target_grid": grids.render(target),
        "player_1_second_grid": first,
        "player_1_third_grid": second,
        "player_2_prompt_header": FOLLOWER_PROMPT.format(first=shown[0], second=shown[1], third=shown[2],
                                                         slot="TARGET_EXPRESSION"),
        "player_2_first_grid": shown[0],
        "player_2_second_grid": shown[1],
        "player_2_third_grid": shown[2],
        "target_grid_name": [LABELS[position], str(position + 1)],
        "player_1_response_pattern": protocol.GIVER_PATTERN,
        "player_2_response_pattern": protocol.FOLLOWER_PATTERN,
        "lang": "en",
        "p1_mode": protocol.STRICT,
        "p2_mode": protocol.STRICT,
    }


def fixed_experiment(family: str, split: str, rng: random.Random) -> list[dict]:
    members = FIXED_FAMILIES[family]()
    targets = [g for g in members if fixed_split(family, g) == split]
    rng.shuffle(targets)
    instances = []
    for target in targets:
        distractors = grids.nearest_distractors(target, members, rng)
        for position in rng.sample(range(3), 3):
            instances.append(make_instance(len(instances), target, distractors, position, rng))
    return instances


def random_experiment(split: str, rng: random.Random) -> list[dict]:
    excluded = fixed_grids()
    targets: list[Grid] = []
    while len(targets) < RANDOM_TARGETS[split]:
        grid = grids.random_grid(rng, rng.randint(*RANDOM_FILLED))
        if grid not in excluded and grid not in targets and random_split(grid) == split:
            targets.append(grid)
    instances: list[dict] = []
    positions: list[int] = []
    for target in targets:
        if not positions:
            positions = rng.sample(range(3), 3)
        distractors = grids.perturbed_distractors(target, rng)
        instances.append(make_instance(len(instances), target, distractors, positions.pop(), rng))
    return instances


def generate(split: str, seed: int) -> dict:
    if split not in RANDOM_TARGETS:
        raise ValueError(f"unknown split {split!r}")
    experiments = []
    for family in [*FIXED_FAMILIES, RANDOM_FAMILY]:
        rng = random.Random(f"referencegame:{seed}:{split}:{family}")
        instances = (random_experiment(split, rng) if family == RANDOM_FAMILY
                     else fixed_experiment(family, split, rng))
        experiments.append({"name": family, "game_instances": instances})
    return {"experiments": experiments}
