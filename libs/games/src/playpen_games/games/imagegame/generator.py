"""Playpen's own imagegame instances: seeded target grids and our own prompt wording.

Two experiments as in clembench: `compact_grids` (one letter in a pattern from layouts.compact_layouts)
and `random_grids` (one letter in 5 to 10 scattered cells). Each split draws from one plan made from the
seed: the compact catalogue is shuffled and cut into test / validation / train, and random layouts are
drawn without repetition (and never equal to a compact layout) in that order. A layout therefore belongs
to one split only, so no target grid is shared between splits, whatever letter fills it.

Instances keep clembench's field names (so clembench could play them too) and are self-contained: the
prompts, the reply patterns and the target are all in the instance.
"""

from __future__ import annotations

import random

from playpen_games.games.imagegame import grids, layouts

SIZE = 5
PER_EXPERIMENT = {"test": 25, "validation": 25, "train": 150}
SPLIT_ORDER = ("test", "validation", "train")
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"

QUESTION = "Next command, please."

GIVER_HEADER = """\
Let's play a drawing game on a {n} by {n} grid. Each cell holds either a capital letter or the empty-cell \
symbol ▢. An empty grid looks like this:

{empty}

You can see a target grid; your partner cannot. Your partner starts from the empty grid and changes it only \
by following your commands, so your commands have to lead them to draw exactly the target grid.

Rules:
- Send one command per message, on a single line, in the form "Command: <what to draw>", and nothing else.
- One command may cover a single cell or many at once: whole rows, columns, diagonals, a shape, or the \
entire grid.
- Empty cells need no mention; only say where letters go.
- After each command I will answer "{question}"
- Once every letter of the target grid has been described, send "Command: DONE".

For instance, to describe this grid

{example}

you could send "Command: Fill the rightmost column with P", then "Command: Put a P in the middle cell", \
then "Command: DONE".

This is your target grid:
"""

FOLLOWER_HEADER = """\
We are going to draw a picture together on a {n} by {n} grid. Each cell holds either a capital letter or the \
empty-cell symbol ▢, and the grid starts out completely empty:

{empty}

I will send you commands one at a time, such as "Command: put an R in the bottom left corner". Apply each \
command to the grid as it stands after all earlier commands, then reply with the whole updated grid and \
nothing else: {n} lines of {n} cells, cells separated by single spaces, capital letters for filled cells \
and ▢ for empty ones.

For example, after "Command: put an R in the bottom left corner" on the empty grid, you would reply:

{example}

Here is the first command."""


def giver_header(size: int) -> str:
    middle = size // 2
    example = {(r, size - 1) for r in range(size)} | {(middle, middle)}
    return GIVER_HEADER.format(n=size, empty=grids.empty_grid(size), question=QUESTION,
                               example=layouts.render(example, "P", size))


def follower_header(size: int) -> str:
    return FOLLOWER_HEADER.format(n=size, empty=grids.empty_grid(size),
                                  example=layouts.render({(size - 1, 0)}, "R", size))


def _plan(seed: int) -> dict[str, dict[str, list[layouts.Layout]]]:
    """Layouts per experiment and split; the same seed always gives the same, disjoint partition."""
    rng = random.Random(f"imagegame/{seed}")
    compact = layouts.compact_layouts(SIZE)
    rng.shuffle(compact)
    needed = sum(PER_EXPERIMENT.values())
    if len(compact) < needed:
        raise ValueError(f"only {len(compact)} compact layouts for {needed} instances")
    used = set(compact)
    scattered: list[layouts.Layout] = []
    while len(scattered) < needed:
        layout = layouts.random_layout(rng, SIZE)
        if layout not in used:
            used.add(layout)
            scattered.append(layout)
    plan: dict[str, dict[str, list[layouts.Layout]]] = {}
    start = 0
    for split in SPLIT_ORDER:
        end = start + PER_EXPERIMENT[split]
        plan[split] = {"compact_grids": compact[start:end], "random_grids": scattered[start:end]}
        start = end
    return plan


def make_instance(game_id: int, target: str, size: int = SIZE) -> dict:
    return {
        "game_id": game_id,
        "player_1_prompt_header": giver_header(size),
        "player_2_prompt_header": follower_header(size),
        "player_1_question": QUESTION,
        "grid_dimension": size,
        "number_of_letters": sum(cell != grids.EMPTY for row in grids.cells(target) for cell in row),
        "player_1_response_pattern": grids.COMMAND_PATTERN,
        "player_1_terminate_pattern": grids.TERMINATE_PATTERN,
        "player_2_response_pattern": grids.grid_pattern(size),
        "fill_row": False,
        "fill_column": False,
        "target_grid": target,
    }


def generate(split: str, seed: int) -> dict:
    if split not in PER_EXPERIMENT:
        raise ValueError(f"unknown split {split!r}; expected one of {', '.join(SPLIT_ORDER)}")
    letters = random.Random(f"imagegame/{seed}/{split}/letters")
    experiments = []
    for name, chosen in _plan(seed)[split].items():
        instances = [make_instance(index, layouts.render(layout, letters.choice(LETTERS), SIZE))
                     for index, layout in enumerate(chosen)]
        experiments.append({"name": name, "game_instances": instances})
    return {"experiments": experiments}
