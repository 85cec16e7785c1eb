"""5x5 grids of filled (X) and empty (▢) cells for our own referencegame instances.

A grid is a tuple of 25 booleans (row by row, True = filled) and is shown as five lines of five
space-separated cells. The families are the experiments of the generator: capital letters and digits
drawn in 5x5 (our own glyphs), grids made of whole filled rows or whole filled columns, and random grids.
"""

from __future__ import annotations

import random
from collections.abc import Iterable

SIZE = 5
FILLED, EMPTY = "X", "▢"  # U+25A2, as in the prompts
Grid = tuple[bool, ...]

# Glyphs: '#' is a filled cell, '.' an empty one; rows separated by spaces.
LETTERS = {
    "A": ".###. #...# ##### #...# #...#", "B": "####. #...# ####. #...# ####.",
    "C": ".#### #.... #.... #.... .####", "D": "####. #...# #...# #...# ####.",
    "E": "##### #.... ####. #.... #####", "F": "##### #.... ####. #.... #....",
    "G": ".#### #.... #..## #...# .####", "H": "#...# #...# ##### #...# #...#",
    "I": "##### ..#.. ..#.. ..#.. #####", "J": "##### ...#. ...#. #..#. .##..",
    "K": "#...# #..#. ###.. #..#. #...#", "L": "#.... #.... #.... #.... #####",
    "M": "#...# ##.## #.#.# #...# #...#", "N": "#...# ##..# #.#.# #..## #...#",
    "O": ".###. #...# #...# #...# .###.", "P": "####. #...# ####. #.... #....",
    "Q": ".###. #...# #.#.# #..#. .##.#", "R": "####. #...# ####. #..#. #...#",
    "S": ".#### #.... .###. ....# ####.", "T": "##### ..#.. ..#.. ..#.. ..#..",
    "U": "#...# #...# #...# #...# .###.", "V": "#...# #...# #...# .#.#. ..#..",
    "W": "#...# #...# #.#.# ##.## #...#", "X": "#...# .#.#. ..#.. .#.#. #...#",
    "Y": "#...# .#.#. ..#.. ..#.. ..#..", "Z": "##### ...#. ..#.. .#... #####",
}
DIGITS = {
    "0": ".###. #..## #.#.# ##..# .###.", "1": "..#.. .##.. ..#.. ..#.. .###.",
    "2": ".###. #...# ..##. .#... #####", "3": "####. ....# .###. ....# ####.",
    "4": "#..#. #..#. ##### ...#. ...#.", "5": "##### #.... ####. ....# ####.",
    "6": ".###. #.... ####. #...# .###.", "7": "##### ....# ...#. ..#.. ..#..",
    "8": ".###. #...# .###. #...# .###.", "9": ".###. #...# .#### ....# .###.",
}


def from_glyph(glyph: str) -> Grid:
    rows = glyph.split()
    if len(rows) != SIZE or any(len(row) != SIZE for row in rows):
        raise ValueError(f"a glyph needs {SIZE} rows of {SIZE} cells: {glyph!r}")
    return tuple(cell == "#" for row in rows for cell in row)


def render(grid: Grid) -> str:
    return "\n".join(" ".join(FILLED if grid[r * SIZE + c] else EMPTY for c in range(SIZE)) for r in range(SIZE))


def transpose(grid: Grid) -> Grid:
    return tuple(grid[c * SIZE + r] for r in range(SIZE) for c in range(SIZE))


def distance(a: Grid, b: Grid) -> int:
    """The number of cells in which two grids differ."""
    return sum(x != y for x, y in zip(a, b, strict=True))


def letter_grids() -> list[Grid]:
    return [from_glyph(glyph) for glyph in LETTERS.values()]


def number_grids() -> list[Grid]:
    return [from_glyph(glyph) for glyph in DIGITS.values()]


def row_grids() -> list[Grid]:
    """Every grid whose rows are each wholly filled or wholly empty, except the all-empty and all-full."""
    found = []
    for mask in range(1, 2**SIZE - 1):
        rows = [bool(mask >> (SIZE - 1 - r) & 1) for r in range(SIZE)]
        found.append(tuple(filled for filled in rows for _ in range(SIZE)))
    return found


def column_grids() -> list[Grid]:
    return [transpose(grid) for grid in row_grids()]


def random_grid(rng: random.Random, filled: int) -> Grid:
    cells = set(rng.sample(range(SIZE * SIZE), filled))
    return tuple(i in cells for i in range(SIZE * SIZE))


def nearest_distractors(target: Grid, family: Iterable[Grid], rng: random.Random) -> tuple[Grid, Grid]:
    """The two grids of `family` closest to the target (ties broken at random)."""
    ranked = sorted((distance(target, other), rng.random(), other) for other in family if other != target)
    if len(ranked) < 2:
        raise ValueError("a family needs at least three grids")
    return ranked[0][2], ranked[1][2]


def perturbed_distractors(target: Grid, rng: random.Random) -> tuple[Grid, Grid]:
    """Two grids made from the target by moving one or two of its X's to empty cells."""
    distractors: list[Grid] = []
    while len(distractors) < 2:
        moves = rng.choice((1, 2))
        filled = [i for i, cell in enumerate(target) if cell]
        empty = [i for i, cell in enumerate(target) if not cell]
        cells = set(filled) - set(rng.sample(filled, moves)) | set(rng.sample(empty, moves))
        grid = tuple(i in cells for i in range(SIZE * SIZE))
        if grid not in distractors:
            distractors.append(grid)
    return distractors[0], distractors[1]
