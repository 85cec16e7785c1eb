"""5×5 grids of filled (`X`) and empty (`▢`) cells for our own MatchIt ASCII instances.

A grid is a tuple of 25 booleans, row by row (True = filled), shown as five lines of five space-separated
cells, as in clembench. Grids are built from simple shapes (lines, diagonals, frames, blocks, corners,
triangles, our own letter glyphs), combined and sometimes inverted, so that they can be described in words.
A grid's orbit is the set of its rotations and mirror images; splits are assigned per orbit, so a grid and
its mirror image never land in different splits.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Iterable

SIZE = 5
FILLED, EMPTY = "X", "▢"  # U+25A2
Grid = tuple[bool, ...]
Transform = Callable[[Grid], Grid]

# '#' filled, '.' empty; rows separated by spaces
GLYPHS = (
    "#.... #.... #.... #.... #####", "##### ..#.. ..#.. ..#.. ..#..", "#...# #...# ##### #...# #...#",
    "##### #.... ###.. #.... #####", "##### #.... ###.. #.... #....", "#...# #...# #...# #...# #####",
    "##### ...#. ..#.. .#... #####", "..### ...#. ...#. #..#. ###..", "#..#. #.#.. ##... #.#.. #..#.",
    "#...# .#.#. ..#.. ..#.. ..#..", "####. #...# ####. #.... #....", "##### #.... #.... #.... #####",
    "#...# ##..# #.#.# #..## #...#", ".###. #...# #...# #...# .###.", "#.#.# #.#.# #.#.# #.#.# #####",
)


def cell(grid: Grid, row: int, col: int) -> bool:
    return grid[row * SIZE + col]


def from_cells(filled: Iterable[tuple[int, int]]) -> Grid:
    cells = set(filled)
    return tuple((r, c) in cells for r in range(SIZE) for c in range(SIZE))


def from_glyph(glyph: str) -> Grid:
    rows = glyph.split()
    return from_cells((r, c) for r, row in enumerate(rows) for c, mark in enumerate(row) if mark == "#")


def render(grid: Grid) -> str:
    return "\n".join(" ".join(FILLED if cell(grid, r, c) else EMPTY for c in range(SIZE)) for r in range(SIZE))


def mirror_left_right(grid: Grid) -> Grid:
    return from_cells((r, SIZE - 1 - c) for r in range(SIZE) for c in range(SIZE) if cell(grid, r, c))


def mirror_top_bottom(grid: Grid) -> Grid:
    return from_cells((SIZE - 1 - r, c) for r in range(SIZE) for c in range(SIZE) if cell(grid, r, c))


def rotate_clockwise(grid: Grid) -> Grid:
    return from_cells((c, SIZE - 1 - r) for r in range(SIZE) for c in range(SIZE) if cell(grid, r, c))


def rotate_counterclockwise(grid: Grid) -> Grid:
    return rotate_clockwise(rotate_clockwise(rotate_clockwise(grid)))


#: the changes behind "similar" grids: mirrored or turned by 90 degrees
SIMILAR_TRANSFORMS: tuple[Transform, ...] = (mirror_left_right, mirror_top_bottom, rotate_clockwise,
                                             rotate_counterclockwise)


def orbit(grid: Grid) -> set[Grid]:
    images = set()
    current = grid
    for _ in range(4):
        images |= {current, mirror_left_right(current)}
        current = rotate_clockwise(current)
    return images


def orbit_key(grid: Grid) -> Grid:
    return min(orbit(grid))


def orbit_split(grid: Grid, shares: Iterable[tuple[str, int]]) -> str:
    """The split an orbit belongs to, by a stable hash; shares are percentages adding up to 100."""
    bucket = int(hashlib.sha256(render(orbit_key(grid)).encode()).hexdigest(), 16) % 100
    for split, share in shares:
        if bucket < share:
            return split
        bucket -= share
    raise ValueError("the split shares must add up to 100")


def distance(a: Grid, b: Grid) -> int:
    return sum(x != y for x, y in zip(a, b, strict=True))


def flip_cells(grid: Grid, cells: Iterable[int]) -> Grid:
    flipped = set(cells)
    return tuple(value != (i in flipped) for i, value in enumerate(grid))


# ------------------------------------------------------------------ shapes


def _random_shape(rng: random.Random) -> Grid:
    kind = rng.choice(("row", "column", "diagonal", "frame", "block", "corners", "triangle", "glyph", "cross"))
    n = SIZE - 1
    if kind == "row":
        row = rng.randrange(SIZE)
        return from_cells((row, c) for c in range(SIZE))
    if kind == "column":
        col = rng.randrange(SIZE)
        return from_cells((r, col) for r in range(SIZE))
    if kind == "diagonal":
        anti = rng.random() < 0.5
        return from_cells((i, n - i if anti else i) for i in range(SIZE))
    if kind in ("frame", "block"):
        top, bottom = sorted(rng.sample(range(SIZE), 2))
        left, right = sorted(rng.sample(range(SIZE), 2))
        return from_cells((r, c) for r in range(top, bottom + 1) for c in range(left, right + 1)
                          if kind == "block" or r in (top, bottom) or c in (left, right))
    if kind == "corners":
        return from_cells((r, c) for r in (0, n) for c in (0, n))
    if kind == "triangle":
        shape = from_cells((r, c) for r in range(SIZE) for c in range(SIZE) if c <= r)
        for _ in range(rng.randrange(4)):
            shape = rotate_clockwise(shape)
        return shape
    if kind == "cross":
        middle = SIZE // 2
        return from_cells({(middle, c) for c in range(SIZE)} | {(r, middle) for r in range(SIZE)})
    return from_glyph(rng.choice(GLYPHS))


def random_grid(rng: random.Random, min_filled: int = 6, max_filled: int = 19) -> Grid:
    """A describable grid: one to three shapes, overlaid or cut out of each other, sometimes inverted."""
    while True:
        grid = _random_shape(rng)
        for _ in range(rng.choice((0, 1, 1, 2))):
            other = _random_shape(rng)
            if rng.random() < 0.7:
                grid = tuple(a or b for a, b in zip(grid, other, strict=True))
            else:
                grid = tuple(a != b for a, b in zip(grid, other, strict=True))
        if rng.random() < 0.2:
            grid = tuple(not value for value in grid)
        if min_filled <= sum(grid) <= max_filled:
            return grid
