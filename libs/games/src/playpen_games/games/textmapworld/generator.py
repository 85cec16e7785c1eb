"""Seeded generator of Playpen's own textmapworld instances, for all three variants.

A map is a layout on a 4 × 4 grid: rooms on cells, passages between orthogonally adjacent cells (north is
+y). A layout grows from a random cell by adding a random free neighbour of a placed room with a passage to
it (a tree); cycle layouts then add passages between adjacent unlinked rooms. Layouts are compared after
moving them to the grid's corner, so two maps that differ only by position are the same layout.

Splits: for every room count and number of extra passages, the distinct layouts found by a fixed number of
seeded draws are ordered by a seeded hash and cut into test (15%), validation (15%) and train (the rest),
before any game or split is drawn. A layout therefore belongs to one split for all three games. The room
names of the splits are disjoint as well (`ROOM_NAMES`, none of them clembench's). Each instance then draws
a layout of its split, its room names, a start room and — for textmapworld_specificroom — a target room at
the experiment's distance; no instance repeats within a split.

Experiments follow clembench's: textmapworld small/medium/large (4/6/8 rooms, trees) and medium_cycle /
large_cycle (6 and 8 rooms, one or one-to-two extra passages); textmapworld_specificroom on/close/far (8 rooms,
target 0, 1–2 or 3–4 moves away); textmapworld_graphreasoning small/medium/large. The texts shared by an
experiment (prompts, answers, reply patterns) sit in the experiment; instances hold the map.
"""

from __future__ import annotations

import hashlib
import random
from collections import deque
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from playpen_games.engine import GameDefinitionError
from playpen_games.games.textmapworld import prompts

GRID = 4
STEPS = {"north": (0, 1), "east": (1, 0), "south": (0, -1), "west": (-1, 0)}
DRAWS_PER_POOL = 3000
SPLIT_SHARES = (("test", 0.15), ("validation", 0.15))  # train: the rest

ROOM_NAMES = {
    "train": ["Observatory", "Boiler room", "Chapel", "Armory", "Greenhouse", "Scullery", "Larder", "Vestibule",
              "Parlor", "Atrium", "Cloakroom", "Darkroom", "Drawing room", "Map room", "Trophy room",
              "Sewing room", "Tea room", "Ballroom", "Banquet hall", "Server room", "Boot room", "Linen room",
              "Smoking room", "Archive", "Guard room", "Treasury", "Kennel", "Tack room", "Pottery studio",
              "Chess room", "Fencing hall", "Laboratory", "Planetarium", "Aviary", "Coat room", "Flower room"],
    "validation": ["Radio room", "Painting studio", "Dressing room", "Powder room", "Spice store", "Loft",
                   "Reading room", "Cinema room", "Model railway room", "Piano room", "Herb room", "Still room"],
    "test": ["Weaving room", "Print shop", "Candle room", "Clock room", "Puzzle room", "Bakery", "Tool shed",
             "Ice house", "Sculpture hall", "Record room", "Lantern room", "Quilt room"],
}


@dataclass(frozen=True)
class Experiment:
    name: str
    rooms: int
    extra_passages: tuple[int, ...] = (0,)
    target_distance: tuple[int, int] | None = None  # specificroom: (nearest, farthest) moves away


EXPERIMENTS = {
    "textmapworld": [Experiment("small", 4), Experiment("medium", 6), Experiment("large", 8),
                     Experiment("medium_cycle", 6, (1,)), Experiment("large_cycle", 8, (1, 2))],
    "textmapworld_specificroom": [Experiment("on", 8, target_distance=(0, 0)),
                                  Experiment("close", 8, target_distance=(1, 2)),
                                  Experiment("far", 8, target_distance=(3, 4))],
    "textmapworld_graphreasoning": [Experiment("small", 4), Experiment("medium", 6), Experiment("large", 8)],
}
PER_EXPERIMENT = {
    "textmapworld": {"train": 60, "validation": 10, "test": 10},
    "textmapworld_specificroom": {"train": 100, "validation": 20, "test": 20},
    "textmapworld_graphreasoning": {"train": 100, "validation": 20, "test": 20},
}

Cell = tuple[int, int]
Layout = tuple[tuple[Cell, Cell], ...]  # passages (a, b) with a < b, sorted, moved to the grid's corner


def around(cell: Cell) -> list[Cell]:
    x, y = cell
    return [(x + dx, y + dy) for dx, dy in STEPS.values() if 0 <= x + dx < GRID and 0 <= y + dy < GRID]


def grow(rng: random.Random, rooms: int, extra: int) -> Layout | None:
    cells = [(rng.randrange(GRID), rng.randrange(GRID))]
    passages: set[tuple[Cell, Cell]] = set()
    while len(cells) < rooms:
        frontier = [(cell, free) for cell in cells for free in around(cell) if free not in cells]
        cell, free = rng.choice(frontier)
        cells.append(free)
        passages.add((min(cell, free), max(cell, free)))
    for _ in range(extra):
        chords = sorted({(min(a, b), max(a, b)) for a in cells for b in around(a) if b in cells} - passages)
        if not chords:
            return None
        passages.add(rng.choice(chords))
    low_x = min(x for x, _ in cells)
    low_y = min(y for _, y in cells)
    return tuple(sorted(((a[0] - low_x, a[1] - low_y), (b[0] - low_x, b[1] - low_y)) for a, b in passages))


def _rank(seed: int, layout: Layout) -> str:
    return hashlib.sha256(f"{seed}:{layout}".encode()).hexdigest()


@lru_cache(maxsize=32)
def layout_pools(rooms: int, extra: int, seed: int) -> dict[str, list[Layout]]:
    """The layouts of each split for one room count and number of extra passages."""
    rng = random.Random(f"textmapworld-layouts:{seed}:{rooms}:{extra}")
    found = {grow(rng, rooms, extra) for _ in range(DRAWS_PER_POOL)} - {None}
    ordered = sorted(found, key=lambda layout: _rank(seed, layout))  # type: ignore[arg-type]
    pools: dict[str, list[Layout]] = {}
    start = 0
    for split, share in SPLIT_SHARES:
        size = max(1, round(share * len(ordered)))
        pools[split] = ordered[start:start + size]
        start += size
    pools["train"] = ordered[start:]
    if not pools["train"]:
        raise GameDefinitionError(f"too few {rooms}-room layouts to split")
    return pools


def distances(layout: Layout, start: Cell) -> dict[Cell, int]:
    linked: dict[Cell, list[Cell]] = {}
    for a, b in layout:
        linked.setdefault(a, []).append(b)
        linked.setdefault(b, []).append(a)
    seen, queue = {start: 0}, deque([start])
    while queue:
        cell = queue.popleft()
        for nxt in linked[cell]:
            if nxt not in seen:
                seen[nxt] = seen[cell] + 1
                queue.append(nxt)
    return seen


def direction(a: Cell, b: Cell) -> str:
    return next(name for name, (dx, dy) in STEPS.items() if (a[0] + dx, a[1] + dy) == b)


def make_instance(rng: random.Random, game_id: int, layout: Layout, experiment: Experiment,
                  names: list[str]) -> dict[str, Any] | None:
    cells = sorted({cell for passage in layout for cell in passage})
    room = dict(zip(cells, rng.sample(names, len(cells)), strict=True))
    start = rng.choice(cells)
    instance: dict[str, Any] = {"game_id": game_id}
    if experiment.target_distance is not None:
        nearest, farthest = experiment.target_distance
        targets = [cell for cell, d in distances(layout, start).items() if nearest <= d <= farthest]
        if not targets:
            return None
        target = rng.choice(targets)
    exits: dict[Cell, list[tuple[str, Cell]]] = {cell: [] for cell in cells}
    for a, b in layout:
        exits[a].append((direction(a, b), b))
        exits[b].append((direction(b, a), a))
    order = list(STEPS)
    for cell in cells:
        exits[cell].sort(key=lambda exit_: order.index(exit_[0]))
    instance.update({
        "Game_Type": "named_graph",
        "Grid_Dimension": GRID,
        "Graph_Nodes": [room[cell] for cell in cells],
        "Graph_Edges": [[room[a], room[b]] for a, b in layout],
        "Current_Position": room[start],
        "Directions": [[room[cell], [way for way, _ in exits[cell]]] for cell in cells],
        "Moves": [{"node": room[cell], "node_moves": [[way, room[to]] for way, to in exits[cell]]} for cell in cells],
        "Coordinates": {room[cell]: list(cell) for cell in cells},
        "Cycle": "cycle_true" if len(layout) >= len(cells) else "cycle_false",
        "Ambiguity": None,
    })
    if experiment.target_distance is not None:
        instance["Specific_Room"] = room[target]
        instance["Specific_Room_Distance"] = distances(layout, start)[target]
    return instance


def experiment_texts(game: str) -> dict[str, Any]:
    prompt = {"textmapworld": prompts.EXPLORE, "textmapworld_specificroom": prompts.FIND,
              "textmapworld_graphreasoning": prompts.DRAW}[game]
    texts: dict[str, Any] = {
        "Prompt": prompt, "Player2_positive_answer": prompts.ENTERED, "Player2_negative_answer": prompts.BLOCKED,
        "Move_Construction": prompts.MOVE_PATTERN, "Stop_Construction": prompts.STOP_PATTERN,
        "Loop_Reminder": False, "Loop_Reminder_Text": prompts.LOOP_REMINDER,
        "Max_Turns_Reminder": False, "Max_Turns_Reminder_Text": prompts.TURNS_REMINDER,
    }
    if game == "textmapworld_graphreasoning":
        texts["Response_Construction"] = prompts.REPLY_PATTERN
    return texts


def generate(game: str, split: str, seed: int) -> dict:
    if game not in EXPERIMENTS:
        raise ValueError(f"unknown textmapworld game {game!r}")
    if split not in PER_EXPERIMENT[game]:
        raise ValueError(f"unknown split {split!r}")
    rng = random.Random(f"{game}:{seed}:{split}")
    experiments = []
    for experiment in EXPERIMENTS[game]:
        pools = {extra: layout_pools(experiment.rooms, extra, seed)[split] for extra in experiment.extra_passages}
        seen: set[str] = set()
        instances: list[dict[str, Any]] = []
        while len(instances) < PER_EXPERIMENT[game][split]:
            layout = rng.choice(pools[rng.choice(experiment.extra_passages)])
            instance = make_instance(rng, len(instances), layout, experiment, ROOM_NAMES[split])
            if instance is None:
                continue
            key = repr({k: v for k, v in instance.items() if k != "game_id"})
            if key in seen:
                continue
            seen.add(key)
            instances.append(instance)
        experiments.append({"name": experiment.name, **experiment_texts(game), "game_instances": instances})
    return {"experiments": experiments}
