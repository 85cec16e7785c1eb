"""Cell layouts for generated target grids: a catalogue of patterned ("compact") layouts, and random ones.

A layout is the set of filled (row, column) cells of a square grid; a target grid is a layout filled with
one letter. Compact layouts can be described in a few commands (rows, columns, diagonals, frames,
blocks, letters, checkerboards, ...); random layouts scatter 5 to 10 cells.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator
from itertools import combinations

from playpen_games.games.imagegame.grids import EMPTY

Cell = tuple[int, int]
Layout = frozenset[Cell]

MIN_CELLS = 5


def render(layout: Iterable[Cell], letter: str, size: int) -> str:
    filled = set(layout)
    return "\n".join(" ".join(letter if (r, c) in filled else EMPTY for c in range(size)) for r in range(size))


def _row(r: int, size: int) -> set[Cell]:
    return {(r, c) for c in range(size)}


def _column(c: int, size: int) -> set[Cell]:
    return {(r, c) for r in range(size)}


def _rectangle(top: int, left: int, height: int, width: int, hollow: bool = False) -> set[Cell]:
    cells = {(top + r, left + c) for r in range(height) for c in range(width)}
    if hollow:
        cells = {(r, c) for r, c in cells if r in (top, top + height - 1) or c in (left, left + width - 1)}
    return cells


def _lines(size: int) -> Iterator[set[Cell]]:
    """Unions of whole rows, of whole columns, and one row crossed with one column."""
    for count in range(1, size + 1):
        for chosen in combinations(range(size), count):
            yield set().union(*(_row(r, size) for r in chosen))
            yield set().union(*(_column(c, size) for c in chosen))
    for r in range(size):
        for c in range(size):
            yield _row(r, size) | _column(c, size)


def _blocks(size: int) -> Iterator[set[Cell]]:
    """Filled rectangles of at least MIN_CELLS cells, and hollow ones of at least 3 by 3."""
    for height in range(1, size + 1):
        for width in range(1, size + 1):
            for top in range(size - height + 1):
                for left in range(size - width + 1):
                    if height * width >= MIN_CELLS:
                        yield _rectangle(top, left, height, width)
                    if height >= 3 and width >= 3:
                        yield _rectangle(top, left, height, width, hollow=True)


def _figures(size: int) -> Iterator[set[Cell]]:
    """Diagonals, triangles, checkerboards, diamonds, plus signs and letter shapes."""
    last, mid = size - 1, size // 2
    main = {(i, i) for i in range(size)}
    anti = {(i, last - i) for i in range(size)}
    yield from (main, anti, main | anti)
    yield main | _row(0, size) | _row(last, size)
    yield anti | _row(0, size) | _row(last, size)  # Z
    yield main | _column(0, size) | _column(last, size)  # N
    for strict in (False, True):
        for flip_rows in (False, True):
            for flip_columns in (False, True):
                yield {(r, c) for r in range(size) for c in range(size)
                       if (last - r if flip_rows else r) > (last - c if flip_columns else c) - (not strict)}
    for parity in (0, 1):
        yield {(r, c) for r in range(size) for c in range(size) if (r + c) % 2 == parity}
    yield {(r, c) for r in range(size) for c in range(size) if abs(r - mid) + abs(c - mid) == mid}
    yield {(r, c) for r in range(size) for c in range(size) if abs(r - mid) + abs(c - mid) <= mid}
    for r in range(1, last):
        for c in range(1, last):
            yield {(r, c), (r - 1, c), (r + 1, c), (r, c - 1), (r, c + 1)}
            yield {(r, c), (r - 1, c - 1), (r - 1, c + 1), (r + 1, c - 1), (r + 1, c + 1)}
    yield _column(0, size) | _column(last, size) | _row(mid, size)  # H
    yield _row(0, size) | _column(mid, size)  # T
    yield _row(last, size) | _column(mid, size)  # upside-down T
    yield _column(0, size) | _column(last, size) | _row(last, size)  # U
    yield _column(0, size) | _column(last, size) | _row(0, size)  # arch
    yield _column(0, size) | _row(0, size) | _row(mid, size) | _row(last, size)  # E
    yield _column(0, size) | _row(0, size) | _row(mid, size)  # F
    yield _rectangle(0, 0, size, size, hollow=True) | {(mid, mid)}
    yield _rectangle(0, 0, size, size, hollow=True) | main | anti
    yield {(r, c) for r in (0, last) for c in (0, last)} | {(mid, mid)}  # four corners and the centre


def compact_layouts(size: int) -> list[Layout]:
    """Every distinct compact layout of a size-by-size grid with at least MIN_CELLS cells, in a fixed order."""
    seen: dict[Layout, None] = {}
    for cells in (*_lines(size), *_blocks(size), *_figures(size)):
        layout = frozenset(cells)
        if len(layout) >= MIN_CELLS:
            seen.setdefault(layout, None)
    return list(seen)


def random_layout(rng: random.Random, size: int, low: int = MIN_CELLS, high: int = 10) -> Layout:
    cells = [(r, c) for r in range(size) for c in range(size)]
    return frozenset(rng.sample(cells, rng.randint(low, min(high, len(cells)))))
