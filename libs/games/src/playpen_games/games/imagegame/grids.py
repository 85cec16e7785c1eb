"""Grid text helpers: the reply formats, and the cell-by-cell comparisons clembench scores with.

A grid is text: one line per row, cells separated by single spaces, an uppercase letter for a filled cell
and `▢` (U+25A2) for an empty one. The comparisons below reproduce clembench's evaluator including its
failure modes: where clembench's code raises (a row with fewer cells than the reference, a drawing with
no filled cell) they return None, and the scorer then keeps the previous round's values.
"""

from __future__ import annotations

EMPTY = "▢"  # U+25A2; the look-alike □ (U+25A1) is not a valid cell

#: A Giver reply that ends the game (matched case-insensitively, like every Giver pattern).
TERMINATE_PATTERN = r"^\s*command\s*:\s*done\s*$"
#: A Giver reply carrying one command: a single line, optionally followed by one newline.
COMMAND_PATTERN = "^command: [^\n]+$"

# Instances of clembench v0.9 and v1.0 carry no patterns; the game master of that time hard-coded an
# `Instruction:` prefix (case-sensitive, further lines ignored) and ended on `Instruction: DONE|Done|done`.
# The scoped (?-i:...) groups keep those parts case-sensitive under the case-insensitive matching.
LEGACY_TERMINATE_PATTERN = r"^(?-i:Instruction:)\s*(?-i:DONE|Done|done)"
LEGACY_COMMAND_PATTERN = r"^(?-i:Instruction:)"

#: What clembench's scorer strips from a command before measuring it (it never strips `Command:`).
MEASURE_STRIP = "Instruction:"


def grid_pattern(dimension: int) -> str:
    """The Follower's reply pattern for a square grid, in clembench's spelling (identical for 5 by 5)."""
    row = rf"([A-Z{EMPTY}]\s){{{dimension - 1}}}[A-Z{EMPTY}]"
    return "^\n*" + "\n".join([row] * dimension) + "\n*$"


def empty_grid(dimension: int) -> str:
    return "\n".join(" ".join([EMPTY] * dimension) for _ in range(dimension))


def cells(grid: str) -> list[list[str]]:
    """Rows of cells the way clembench splits them: strip, split on newlines, then on single spaces."""
    return [row.split(" ") for row in grid.strip().split("\n")]


def _size(grid: str) -> tuple[int, int]:
    rows = cells(grid)
    return len(rows), len(rows[0])


def compare(target: str, drawn: str) -> tuple[float, float, float] | None:
    """(precision, recall, F1) in percent, rounded to whole numbers as clembench does; None where
    clembench's evaluator fails and the previous values stand.

    Recall is over the target's filled cells, precision over the drawing's filled cells. Ratios are
    rounded to 4 places before F1 is formed, and F1 is an int 0 when either ratio is 0.
    """
    if _size(target) != _size(drawn):
        return 0.0, 0.0, 0.0
    target_rows, drawn_rows = cells(target), cells(drawn)
    hits_recall = filled_target = hits_precision = filled_drawn = 0
    try:
        for target_row, drawn_row in zip(target_rows, drawn_rows, strict=False):
            for index, wanted in enumerate(target_row):
                got = drawn_row[index]
                same = wanted.lower() == got.lower()
                if wanted != EMPTY:
                    filled_target += 1
                    hits_recall += same
                if got != EMPTY:
                    filled_drawn += 1
                    hits_precision += same
        recall = round(hits_recall / filled_target, 4)
        precision = round(hits_precision / filled_drawn, 4)
    except (IndexError, ZeroDivisionError):
        return None
    f1: float = 0 if precision == 0 or recall == 0 else 2 * precision * recall / (precision + recall)
    f1 = round(f1, 4)
    return round(100 * precision, 0), round(100 * recall, 0), round(100 * f1, 0)


def changed_cells(previous: str, current: str) -> int:
    """Cells of `previous` that differ in `current`; 0 where clembench's count fails (a shorter row)."""
    count = 0
    current_rows = cells(current)
    try:
        for row_index, row in enumerate(cells(previous)):
            for index, cell in enumerate(row):
                count += cell.lower() != current_rows[row_index][index].lower()
    except IndexError:
        return 0
    return count


def command_length(command: str) -> int:
    return len(command.replace(MEASURE_STRIP, "").strip())


def command_tokens(command: str) -> int:
    return len(command.replace(MEASURE_STRIP, "").strip().split(" "))
