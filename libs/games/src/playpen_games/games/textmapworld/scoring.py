"""Textmapworld scores, computed from the logged moves exactly as clembench's GraphGameScorer does.

A logged move is (from, to) for every describer turn that changed the guesser's room. Walking the moves
from the start room:

- efficient move: the move is the first step of some shortest walk that visits every room next to an
  already visited room that is not visited yet (and at least one room was still unvisited before it).
- `efficiency` = 100 × efficient moves / moves (0 without moves); `exploration` = 100 × visited / rooms;
  `seen` = rooms visited or next to a visited room; `loops` = the number of times the last 4 positions
  (start included) held fewer than 3 distinct rooms (textmapworld_specificroom starts a fresh window after
  each loop).
- Episode: Aborted when the game was aborted or the guesser never said DONE; otherwise Success/Lose by the
  variant's goal. Every path metric and the Main Score are NaN unless the guesser stopped with DONE.
- Main Score: the harmonic mean of efficiency and exploration (textmapworld, graphreasoning); 100 if the
  guesser stopped in the target room, else 0 (specificroom, which reports the harmonic mean as
  `old_benchscore`). Graphreasoning adds `graph_similarity`: that of the last logged graph, 0 without one.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

from playpen_games.games.textmapworld.world import Room, RoomMap

NAN = float("nan")
PATH_LIMIT = 100  # clembench's initial bound on the length of a searched walk


def first_steps_of_shortest_tours(adjacency: dict[Room, list[Room]], current: Room,
                                  visited: set[Room]) -> set[tuple[Room, Room]]:
    """(current, next) for every shortest walk from `current` covering the unvisited rooms next to `visited`.

    Breadth-first over walks: a walk goes on to the rooms it has not been to, or, where it has been to
    all neighbours, to any neighbour.
    """
    edges = [(a, b) for a, targets in adjacency.items() for b in targets]
    targets = [b for a, b in edges if a in visited and b not in visited]
    queue: deque[tuple[Room, ...]] = deque([(current,)])
    found: set[tuple[Room, Room]] = set()
    limit = PATH_LIMIT
    while queue:  # clembench blocks on an empty queue; a connected map never empties it first
        walk = queue.popleft()
        if len(walk) > limit:
            break
        if len(walk) > 1 and all(room in walk for room in targets):
            found.add((walk[0], walk[1]))
            limit = len(walk)
        options = adjacency.get(walk[-1], [])
        fresh = [room for room in options if room not in walk]
        for room in (fresh if fresh else options):
            queue.append((*walk, room))
    return found


def is_loop(window: Sequence[Room]) -> bool:
    return len(window) >= 4 and len(set(window[-4:])) < 3


@dataclass
class Walk:
    """The path metrics of a sequence of logged moves."""

    valid: int = 0
    invalid: int = 0
    efficient: list[bool] = field(default_factory=list)
    loops: int = 0
    visited: set[Room] = field(default_factory=set)
    seen: set[Room] = field(default_factory=set)
    last: Room | None = None

    @property
    def efficiency(self) -> float:
        return sum(self.efficient) / len(self.efficient) * 100 if self.efficient else 0

    @classmethod
    def of(cls, room_map: RoomMap, moves: Sequence[tuple[Room | None, Room]], *, reset_loops: bool) -> Walk:
        adjacency = room_map.neighbours()
        start = room_map.start
        walk = cls(visited={start}, seen={start, *adjacency.get(start, [])}, last=start)
        window: list[Room] = [start]
        current = start
        for origin, target in moves:
            if origin != target:
                walk.valid += 1
            else:
                walk.invalid += 1
            best = first_steps_of_shortest_tours(adjacency, current, walk.visited)
            walk.efficient.append((current, target) in best and len(walk.visited) != len(room_map.rooms))
            current = target
            walk.seen.update(adjacency.get(current, []))
            walk.visited.add(current)
            window.append(current)
            if is_loop(window):
                walk.loops += 1
                if reset_loops:
                    window.clear()
            walk.last = current
        return walk


def goal_reached(room_map: RoomMap, walk: Walk, target: Room | None) -> bool:
    """Every room visited, or — with a target room (specificroom) — standing in it (names ignore case)."""
    if target is None:
        return walk.visited == set(room_map.rooms)
    return str(walk.last).lower() == str(target).lower()


def harmonic(efficiency: float, exploration: float) -> float:
    return 2 * efficiency * exploration / (efficiency + exploration) if efficiency + exploration else 0


def episode_scores(room_map: RoomMap, walk: Walk, *, stopped: bool, aborted: bool, turns_limit: bool,
                   target: Room | None = None, graph_similarity: float | None = None) -> dict[str, float | int]:
    """`target`: the room to stop in (specificroom), None to explore every room."""
    success = goal_reached(room_map, walk, target)
    if aborted or not stopped:
        flags = {"Aborted": 1, "Success": 0, "Lose": 0}
    else:
        flags = {"Aborted": 0, "Success": int(success), "Lose": int(not success)}

    def if_stopped(value: float | int) -> float | int:
        return value if stopped else NAN

    rooms = len(room_map.rooms)
    exploration = len(walk.visited) / rooms * 100 if rooms else 0
    quality = harmonic(walk.efficiency, exploration)
    scores: dict[str, float | int] = {
        **flags,
        "moves": if_stopped(walk.valid + walk.invalid),
        "valid_moves": if_stopped(walk.valid),
        "invalid_moves": if_stopped(walk.invalid),
        "stopped": if_stopped(int(stopped)),
        "turns_limit": if_stopped(int(turns_limit)),
        "loops": if_stopped(walk.loops),
        "number_visited": if_stopped(len(walk.visited)),
        "seen": if_stopped(len(walk.seen)),
        "efficiency": if_stopped(walk.efficiency),
        "exploration": if_stopped(exploration),
    }
    if target is not None:
        scores["old_benchscore"] = if_stopped(quality)
        scores["Main Score"] = if_stopped(100 if success else 0)
    else:
        if graph_similarity is not None:
            scores["graph_similarity"] = if_stopped(graph_similarity)
        scores["Main Score"] = if_stopped(quality)
    return scores
