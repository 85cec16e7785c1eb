"""Graphreasoning's graph similarity: how close the guesser's drawn map is to the real one.

clembench builds two undirected graphs with lowercased room names — the real map, and the reported
`{"nodes": [...], "edges": {"north": [[a, b], ...], ...}}` (every listed pair of every direction is an edge;
rooms named only in edges are rooms too) — and takes networkx's graph edit distance d with its defaults:
room names are ignored, deleting or inserting a room or an edge costs 1. The similarity in percent is
100 × (1 − 2 × (sigmoid(d / 2) − ½)); a graph that cannot be read this way scores 0.

With names ignored and unit costs, an optimal edit keeps as many rooms as the smaller graph has, so
d = |rooms₁ − rooms₂| + edges₁ + edges₂ − 2 × (the most edges an injective room mapping preserves);
`preserved_edges` finds that maximum by branch and bound.
"""

from __future__ import annotations

import ast
import math
from collections import deque
from collections.abc import Hashable, Iterable
from dataclasses import dataclass

#: Search nodes one similarity may expand. Maps of up to eight rooms need a few hundred; the bound only
#: guards the game master against absurd drawings (it then keeps the best mapping found so far).
SEARCH_BUDGET = 200_000


@dataclass(frozen=True)
class Graph:
    nodes: frozenset[Hashable]
    edges: frozenset[frozenset[Hashable]]  # {a, b}; a self-loop is {a}

    @classmethod
    def of(cls, nodes: Iterable[Hashable], edges: Iterable[tuple[Hashable, Hashable]]) -> Graph:
        edge_set = frozenset(frozenset((a, b)) for a, b in edges)
        return cls(frozenset(nodes) | {n for e in edge_set for n in e}, edge_set)

    def neighbours(self) -> dict[Hashable, set[Hashable]]:
        adjacency: dict[Hashable, set[Hashable]] = {n: set() for n in self.nodes}
        for edge in self.edges:
            if len(edge) == 2:
                a, b = edge
                adjacency[a].add(b)
                adjacency[b].add(a)
        return adjacency

    def loops(self) -> set[Hashable]:
        return {next(iter(e)) for e in self.edges if len(e) == 1}


def preserved_edges(small: Graph, large: Graph, budget: int = SEARCH_BUDGET) -> int:
    """The most edges of `small` that an injective mapping of its rooms into `large` keeps (|small| ≤ |large|)."""
    adj_s, adj_l = small.neighbours(), large.neighbours()
    loops_s, loops_l = small.loops(), large.loops()
    ceiling = min(len(small.edges), len(large.edges))
    # rooms with edges, breadth-first from the best connected, so that gains show early
    order: list[Hashable] = []
    for seed in sorted((n for n in small.nodes if adj_s[n] or n in loops_s), key=lambda n: (-len(adj_s[n]), repr(n))):
        if seed in order:
            continue
        order.append(seed)
        queue = deque([seed])
        while queue:
            for nxt in sorted(adj_s[queue.popleft()] - set(order), key=lambda n: (-len(adj_s[n]), repr(n))):
                order.append(nxt)
                queue.append(nxt)
    position = {room: i for i, room in enumerate(order)}
    decided_at = [0] * (len(order) + 1)  # small edges settled once room i is placed
    for edge in small.edges:
        decided_at[max(position[n] for n in edge)] += 1
    still_open = [sum(decided_at[i:]) for i in range(len(order) + 1)]
    candidates = sorted((n for n in large.nodes if adj_l[n] or n in loops_l), key=repr)  # deterministic

    best = 0
    expansions = 0
    mapping: dict[Hashable, Hashable] = {}
    used: set[Hashable] = set()

    def search(i: int, kept: int, large_closed: int) -> None:
        nonlocal best, expansions
        expansions += 1
        best = max(best, kept)
        if i == len(order) or best == ceiling or expansions > budget:
            return
        if kept + min(still_open[i], len(large.edges) - large_closed) <= best:
            return
        room = order[i]
        options = []
        for target in candidates:
            if target in used:
                continue
            gain = sum(1 for n in adj_s[room] if n in mapping and mapping[n] in adj_l[target])
            gain += room in loops_s and target in loops_l
            closed = len(adj_l[target] & used) + (target in loops_l)
            options.append((gain, closed, target))
        options.sort(key=lambda option: -option[0])
        for gain, closed, target in options:
            mapping[room] = target
            used.add(target)
            search(i + 1, kept + gain, large_closed + closed)
            del mapping[room]
            used.discard(target)
        search(i + 1, kept, large_closed)  # the room goes to a spare room of `large`: it keeps no edge

    search(0, 0, 0)
    return best


def edit_distance(first: Graph, second: Graph) -> int:
    small, large = (first, second) if len(first.nodes) <= len(second.nodes) else (second, first)
    kept = preserved_edges(small, large)
    return abs(len(first.nodes) - len(second.nodes)) + len(first.edges) + len(second.edges) - 2 * kept


def similarity_of_distance(distance: float) -> float:
    squashed = 2 * (1 / (1 + math.exp(-0.5 * distance)) - 0.5)
    return (1 - squashed) * 100


def real_map(rooms: Iterable[str], edges: Iterable[tuple[str, str]]) -> Graph:
    return Graph.of((r.lower() for r in rooms), ((a.lower(), b.lower()) for a, b in edges))


def reported_map(graph: object) -> Graph:
    """The guesser's drawing; raises on anything clembench could not read (then the similarity is 0)."""
    data = ast.literal_eval(str(graph))  # clembench logs str(graph) and reads it back
    nodes = [item.lower() for item in data["nodes"]]
    edges = [(item[0].lower(), item[1].lower()) for group in data["edges"].values() for item in group]
    return Graph.of(nodes, edges)


def graph_similarity(real: Graph, reported: object) -> float:
    try:
        drawn = reported_map(reported)
        return similarity_of_distance(edit_distance(real, drawn))
    except Exception:  # noqa: BLE001 - clembench scores any unreadable drawing 0
        return 0
