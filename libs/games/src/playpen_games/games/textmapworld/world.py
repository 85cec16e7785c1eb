"""The map of a textmapworld instance, and the PathDescriber that walks the guesser through it.

Instances describe the map the way clembench does: `Graph_Nodes`, `Graph_Edges` (each edge once),
`Directions` (the exits of each room, in the order they are announced) and `Moves` (per room, which exit
leads to which room). Official files store these as Python literals inside strings; our own instances store
plain JSON. Rooms are names (`named_graph`) or grid cells such as (3, 1) (`unnamed_graph`, where the
describer never names a room). With `Ambiguity` set, a room is stored as `<name>_<cell>` and announced by
its name only.
"""

from __future__ import annotations

import ast
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from typing import Any

COMPASS = frozenset({"north", "south", "east", "west"})
Room = Hashable  # a name, or a grid cell (a tuple) in unnamed graphs


def literal(value: Any) -> Any:
    """A field as clembench stores it (a Python literal in a string), or already as plain JSON."""
    if not isinstance(value, str):
        return value
    try:
        return ast.literal_eval(value)
    except (SyntaxError, ValueError, MemoryError, RecursionError) as exc:
        raise ValueError(f"not a Python literal: {value[:80]!r}") from exc


def _as_room(value: Any, named: bool) -> Room:
    if named:
        if not isinstance(value, str):
            raise ValueError(f"room {value!r} of a named graph is not a name")
        return value
    if isinstance(value, (list, tuple)):
        return tuple(_as_room(v, False) for v in value)
    return value


@dataclass(frozen=True)
class RoomMap:
    named: bool
    rooms: tuple[Room, ...]
    edges: tuple[tuple[Room, Room], ...]  # as listed in the instance, each once
    exits: tuple[tuple[Room, tuple[str, ...]], ...]  # in instance order; the first entry of a room counts
    moves: tuple[tuple[Room, tuple[tuple[str, Room], ...]], ...]  # in instance order
    start: Room
    ambiguous: bool

    @classmethod
    def from_instance(cls, instance: Mapping[str, Any]) -> RoomMap:
        named = instance.get("Game_Type", "named_graph") == "named_graph"
        if not named and instance.get("Game_Type") != "unnamed_graph":
            raise ValueError(f"unknown Game_Type {instance.get('Game_Type')!r}")

        def room(value: Any) -> Room:
            return _as_room(value, named)

        start = instance["Current_Position"]
        room_map = cls(
            named=named,
            rooms=tuple(room(r) for r in literal(instance["Graph_Nodes"])),
            edges=tuple((room(a), room(b)) for a, b in literal(instance["Graph_Edges"])),
            exits=tuple((room(r), tuple(str(d) for d in dirs)) for r, dirs in literal(instance["Directions"])),
            moves=tuple((room(entry["node"]), tuple((str(d), room(t)) for d, t in entry["node_moves"]))
                        for entry in literal(instance["Moves"])),
            start=room(start if named else literal(start)),
            ambiguous=instance.get("Ambiguity") is not None,
        )
        room_map.check()
        return room_map

    # ------------------------------------------------------------------ what the describer knows

    def exits_of(self, room: Room, *, ignore_case: bool = False) -> tuple[str, ...] | None:
        """The announced exits of `room` (clembench's first matching Directions entry)."""
        for candidate, directions in self.exits:
            if candidate == room or (ignore_case and self.named and str(candidate).lower() == str(room).lower()):
                return directions
        return None

    def destination(self, room: Room, direction: str) -> Room | None:
        """Where `direction` leads from `room` per Moves; a later matching entry wins, as in clembench."""
        found = None
        for origin, steps in self.moves:
            if origin == room:
                for way, target in steps:
                    if way == direction:
                        found = target
        return found

    def label(self, room: Room) -> str:
        return str(room).split("_")[0] if self.ambiguous else str(room)

    # ------------------------------------------------------------------ what the scorer knows

    def neighbours(self) -> dict[Room, list[Room]]:
        """Adjacency in clembench's scorer order: every edge reversed first, then as listed."""
        adjacency: dict[Room, list[Room]] = {}
        for a, b in [(b, a) for a, b in self.edges] + list(self.edges):
            adjacency.setdefault(a, []).append(b)
        return adjacency

    def check(self) -> None:
        """Reject maps the game could not play to an end: clembench would crash or hang on them."""
        rooms = set(self.rooms)
        if self.start not in rooms:
            raise ValueError(f"start room {self.start!r} is not a room of the map")
        for a, b in self.edges:
            if a not in rooms or b not in rooms:
                raise ValueError(f"edge {(a, b)!r} leaves the map")
        adjacency = self.neighbours()
        for room in rooms:
            directions = self.exits_of(room)
            if directions is None:
                raise ValueError(f"room {room!r} has no Directions entry")
            for direction in directions:
                target = self.destination(room, direction)
                if target is None or target not in adjacency.get(room, []):
                    raise ValueError(f"exit {direction!r} of {room!r} leads nowhere along an edge")
        reached, frontier = {self.start}, [self.start]
        while frontier:
            for nxt in adjacency.get(frontier.pop(), []):
                if nxt not in reached:
                    reached.add(nxt)
                    frontier.append(nxt)
        if reached != rooms:
            raise ValueError("the map is not connected")


class PathDescriber:
    """The programmatic Player 2: moves the guesser along an exit, or says the move is not possible.

    It keeps where the guesser was before its last instruction and where it is now — the game master
    logs a move whenever the two differ (clembench's `turn_information`).
    """

    def __init__(self, room_map: RoomMap, positive: str, negative: str, *, ignore_case: bool):
        self.map = room_map
        self.positive, self.negative = positive, negative
        self.ignore_case = ignore_case  # textmapworld looks rooms' exits up case-insensitively
        self.position: Room = room_map.start
        self.came_from: Room | None = None  # None until the first instruction
        self.graph: Any = None  # graphreasoning: the graph sent with the last instruction

    def exits_text(self, room: Room) -> str:
        exits = self.map.exits_of(room, ignore_case=self.ignore_case)
        assert exits is not None  # RoomMap.check guarantees every room has exits
        return ", ".join(exits)

    def answer(self, direction: str) -> str:
        """Carry out `direction` (north, east, ... exactly as the guesser's instruction was read)."""
        self.came_from = self.position
        exits = self.map.exits_of(self.position, ignore_case=self.ignore_case) or ()
        if direction in COMPASS and direction in exits:
            target = self.map.destination(self.position, direction)
            assert target is not None  # RoomMap.check guarantees every exit leads somewhere
            self.position = target
            text = self.positive
            if self.map.named:
                text = text.replace("$ANOTHER_ROOM$", self.map.label(target))
        else:
            text = self.negative
            if self.map.named:
                text = text.replace("$SAME_ROOM$", self.map.label(self.position))
        return text.replace("$DIRECTIONS$", self.exits_text(self.position))

    @property
    def last_step(self) -> tuple[Room | None, Room]:
        return self.came_from, self.position
