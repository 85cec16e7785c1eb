"""Expert players of imagegame: a Giver that turns the target grid into a short list of drawing commands,
and a Follower that executes commands on its grid.

What they read:
- the Giver: the target grid its prompt shows (`game.target`), the reply patterns (`game.command_re`,
  `game.terminate_re`) and how many commands it has sent (its turns in `game.turns`);
- the Follower: its grid size (`game.dimension`, stated in its prompt) and its own messages — the latest
  command and the grid it drew last — never the target grid.

Giver: per letter, whole rows, whole columns and full diagonals first, then the remaining cells as runs
along rows or along columns (whichever needs fewer commands) or single cells; the episode's seed picks the
orientation on ties, the order of the commands and their wording. Then `Command: DONE`.
Follower: understands those commands and common variants — rows and columns by number, ordinal or name
(`top row`, `leftmost column`), `row 2, columns 1 to 3`, `rows 1, 3 and 5`, single cells (`row 2, column
4`, `(2, 4)`, corners, `middle cell`), diagonals, the whole grid, and `remove`/`clear` for emptying cells —
applies them to its previous drawing and replies with the whole grid. A command it cannot read leaves the
grid as it was.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable

from playpen_games.engine.runner import Request
from playpen_games.games.imagegame import grids
from playpen_games.games.imagegame.game import FOLLOWER, GIVER, ImageGame

EMPTY = grids.EMPTY
ORDINALS = ("first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth")
NUMBER_WORDS = ("one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")
Cell = tuple[int, int]


# ------------------------------------------------------------------ the Giver


def _article(letter: str) -> str:
    return "an" if letter in "AEFHILMNORSX" else "a"


class Plan:
    """The Giver's commands for one target, fixed by the target and the episode's seed."""

    def __init__(self, target: list[list[str]], rng: random.Random):
        self.size = len(target)
        self.rng = rng
        self.commands: list[str] = []
        letters = sorted({cell for row in target for cell in row if cell != EMPTY})
        for letter in letters:
            cells = {(r, c) for r, row in enumerate(target) for c, cell in enumerate(row) if cell == letter}
            self.commands += self._cover(letter, cells)
        rng.shuffle(self.commands)

    def _cover(self, letter: str, cells: set[Cell]) -> list[str]:
        n, say = self.size, self._say
        if len(cells) == n * n:
            return [say("grid", letter)]
        commands, left = [], set(cells)
        lines = [("row", r, {(r, c) for c in range(n)}) for r in range(n)]
        lines += [("column", c, {(r, c) for r in range(n)}) for c in range(n)]
        lines += [("diagonal", 0, {(i, i) for i in range(n)}), ("diagonal", 1, {(i, n - 1 - i) for i in range(n)})]
        for kind, index, line in lines:
            if line <= cells and line & left:
                commands.append(say(kind, letter, index))
                left -= line
        by_rows, by_columns = self._runs(left, cells, along_rows=True), self._runs(left, cells, along_rows=False)
        if len(by_rows) != len(by_columns):
            runs = min(by_rows, by_columns, key=len)
        else:
            runs = by_rows if self.rng.random() < 0.5 else by_columns
        return commands + [self._say_run(letter, run) for run in runs]

    def _runs(self, left: set[Cell], cells: set[Cell], *, along_rows: bool) -> list[list[Cell]]:
        """Maximal straight runs of this letter's cells that cover every cell still left."""
        runs, covered = [], set()
        for cell in sorted(left, key=lambda rc: rc if along_rows else (rc[1], rc[0])):
            if cell in covered:
                continue
            step = (0, 1) if along_rows else (1, 0)
            start = cell
            while (start[0] - step[0], start[1] - step[1]) in cells:
                start = (start[0] - step[0], start[1] - step[1])
            run, here = [], start
            while here in cells:
                run.append(here)
                here = (here[0] + step[0], here[1] + step[1])
            covered.update(run)
            runs.append(run)
        return runs

    def _say(self, kind: str, letter: str, index: int = 0) -> str:
        pick = self.rng.choice
        if kind == "grid":
            return pick((f"fill the whole grid with {letter}", f"put {letter} in every cell"))
        if kind == "diagonal":
            way = "from the top left to the bottom right" if index == 0 else "from the top right to the bottom left"
            return f"fill the diagonal {way} with {letter}"
        number = index + 1
        ordinal = ORDINALS[index] if index < len(ORDINALS) else f"{number}th"
        return pick((f"fill {kind} {number} with {letter}", f"fill the {ordinal} {kind} with {letter}",
                     f"put {letter} in every cell of {kind} {number}"))

    def _say_run(self, letter: str, run: list[Cell]) -> str:
        (r0, c0), (r1, c1) = run[0], run[-1]
        if len(run) == 1:
            where = f"row {r0 + 1}, column {c0 + 1}"
            return self.rng.choice((f"put {letter} in {where}", f"place {_article(letter)} {letter} at {where}",
                                    f"put {_article(letter)} {letter} in the cell in {where}"))
        if r0 == r1:
            return self.rng.choice((f"put {letter} in row {r0 + 1}, columns {c0 + 1} to {c1 + 1}",
                                    f"fill row {r0 + 1} from column {c0 + 1} to column {c1 + 1} with {letter}"))
        return self.rng.choice((f"put {letter} in column {c0 + 1}, rows {r0 + 1} to {r1 + 1}",
                                f"fill column {c0 + 1} from row {r0 + 1} to row {r1 + 1} with {letter}"))


def _prefixed(game: ImageGame, text: str, *, done: bool) -> str:
    pattern = game.terminate_re if done else game.command_re
    for prefix in ("Command:", "Instruction:"):
        reply = f"{prefix} {text}"
        if pattern.match(reply):
            return reply
    return f"Command: {text}"


def giver(request: Request) -> str:
    """The Giver's next `Command: ...` line, or `Command: DONE` once the plan is exhausted."""
    game = request.game_state
    assert isinstance(game, ImageGame)
    plan = Plan(grids.cells(game.target), random.Random(f"{request.episode_id}/{GIVER}"))
    sent = sum(turn.role == GIVER for turn in game.turns)
    if sent < len(plan.commands):
        return _prefixed(game, plan.commands[sent], done=False)
    return _prefixed(game, "DONE", done=True)


# ------------------------------------------------------------------ the Follower


def _number(word: str, size: int, kind: str) -> int | None:
    """0-based index of a row/column named by a digit, number word, ordinal or position word."""
    word = word.lower()
    named = {"top": 0, "upper": 0, "bottom": size - 1, "lower": size - 1, "last": size - 1, "middle": size // 2,
             "centre": size // 2, "center": size // 2}
    if kind == "column":
        named |= {"left": 0, "leftmost": 0, "right": size - 1, "rightmost": size - 1}
    if word.isdigit():
        index = int(word) - 1
    elif word in ORDINALS:
        index = ORDINALS.index(word)
    elif word in NUMBER_WORDS:
        index = NUMBER_WORDS.index(word)
    elif re.fullmatch(r"\d+(st|nd|rd|th)", word):
        index = int(word[:-2]) - 1
    else:
        index = named.get(word)
    return index if index is not None and 0 <= index < size else None


_N = r"(\d+(?:st|nd|rd|th)?|[a-z]+)"
_LETTER_RULES = (
    r"(?i:\bwith)\s+(?:(?i:the letter)\s+|(?i:an?)\s+)?[\"']?([A-Z])\b",
    r"(?i:\b(?:put|place|draw|write|add|insert|set|paint|use))\s+(?:(?i:the letter)\s+|(?i:an?)\s+)?[\"']?([A-Z])\b",
    r"(?i:\bletter)\s+[\"']?([A-Za-z])\b",
    r"[\"']([A-Z])[\"']",
)


def command_letter(command: str) -> str | None:
    for rule in _LETTER_RULES:
        found = re.search(rule, command)
        if found:
            return found.group(1).upper()
    return None


def _span(start: int, end: int) -> range:
    return range(min(start, end), max(start, end) + 1)


def command_cells(command: str, size: int) -> set[Cell]:
    """Every cell a command names; each phrase is consumed once read, so `row 2, column 3` is one cell and
    not row 2 plus column 3."""
    text = " " + command.lower().replace("-", " ") + " "
    found: set[Cell] = set()

    def take(pattern: str, cells_of) -> None:
        nonlocal text
        for match in list(re.finditer(pattern, text)):
            cells = cells_of(match)
            if cells is not None:
                found.update(cells)
                text = text[:match.start()] + " " * (match.end() - match.start()) + text[match.end():]

    def idx(word: str, kind: str) -> int | None:
        return _number(word, size, kind)

    def run(kind: str):
        def cells_of(m):
            fixed, a, b = idx(m.group(1), kind), idx(m.group(2), "row" if kind == "column" else "column"), \
                idx(m.group(3), "row" if kind == "column" else "column")
            if None in (fixed, a, b):
                return None
            return {(fixed, i) if kind == "row" else (i, fixed) for i in _span(a, b)}
        return cells_of

    take(rf"row {_N},?\s+(?:from\s+)?(?:columns?|cells?) {_N}\s+(?:to|through|until)\s+(?:column\s+)?{_N}", run("row"))
    take(rf"column {_N},?\s+(?:from\s+)?(?:rows?|cells?) {_N}\s+(?:to|through|until)\s+(?:row\s+)?{_N}", run("column"))

    def cell(row_group: int, col_group: int):
        def cells_of(m):
            r, c = idx(m.group(row_group), "row"), idx(m.group(col_group), "column")
            return None if r is None or c is None else {(r, c)}
        return cells_of

    take(rf"row {_N},?\s+(?:and\s+|in\s+)?column {_N}", cell(1, 2))
    take(rf"column {_N},?\s+(?:and\s+|in\s+)?row {_N}", cell(2, 1))
    take(rf"{_N} row,?\s+(?:and\s+|in\s+)?(?:the\s+)?{_N} column", cell(1, 2))
    take(r"\(\s*(\d+)\s*,\s*(\d+)\s*\)", cell(1, 2))
    main = {(i, i) for i in range(size)}
    anti = {(i, size - 1 - i) for i in range(size)}
    take(r"diagonal from the (?:top|upper) right to the (?:bottom|lower) left|(?:anti|other|second)\s*diagonal",
         lambda m: anti)
    take(r"diagonal from the (?:bottom|lower) left to the (?:top|upper) right", lambda m: anti)
    take(r"(?:main\s+)?diagonal(?: from the (?:top|upper) left to the (?:bottom|lower) right)?", lambda m: main)
    take(r"(top|upper|bottom|lower)\s+(left|right)(?:most)?(?:\s+corner)?", cell(1, 2))
    take(r"\b(?:middle|center|centre)(?:\s+cell)?\b(?!\s+(?:row|column))", lambda m: {(size // 2, size // 2)})
    take(r"(?:whole|entire|full|complete) grid|every cell\b(?! of)|all (?:the )?cells\b(?! of)",
         lambda m: {(r, c) for r in range(size) for c in range(size)})

    def lines(kind: str):
        def cells_of(m):
            words = re.findall(r"\d+(?:st|nd|rd|th)?|[a-z]+", m.group(1))
            indices = [idx(w, kind) for w in words if w not in ("and", "the")]
            if not indices or None in indices:
                return None
            return {(i, j) if kind == "row" else (j, i) for i in indices for j in range(size)}
        return cells_of

    for kind in ("row", "column"):
        take(rf"{kind}s? ({_N}(?:(?:\s*,\s*|\s+and\s+)(?:{kind}\s+)?{_N})*)", lines(kind))
        take(rf"({_N}(?:(?:\s*,\s*|\s+and\s+)(?:the\s+)?{_N})*) {kind}s?\b", lines(kind))
    return found


def read_drawing(text: str, size: int) -> list[list[str]]:
    rows = [line.split() for line in text.strip().splitlines() if line.strip()]
    if len(rows) != size or any(len(row) != size for row in rows):
        return [[EMPTY] * size for _ in range(size)]
    return rows


def render(drawing: Iterable[Iterable[str]]) -> str:
    return "\n".join(" ".join(row) for row in drawing)


def apply(command: str, drawing: list[list[str]]) -> list[list[str]]:
    size = len(drawing)
    drawing = [list(row) for row in drawing]
    erase = re.search(r"\b(remove|clear|erase|delete|empty)\b", command, re.IGNORECASE)
    letter = EMPTY if erase else command_letter(command)
    if letter is None:
        return drawing
    for r, c in command_cells(command, size):
        drawing[r][c] = letter
    return drawing


def follower(request: Request) -> str:
    """The Follower's whole grid after applying the latest command to its previous drawing."""
    game = request.game_state
    assert isinstance(game, ImageGame)
    size = game.dimension
    previous = [m["content"] for m in request.messages if m["role"] == "assistant"]
    drawing = read_drawing(previous[-1], size) if previous else [[EMPTY] * size for _ in range(size)]
    lines = [line for line in request.messages[-1]["content"].splitlines() if line.strip()]
    command = lines[-1] if lines else ""
    return render(apply(command, drawing))


EXPERTS = {"imagegame": {GIVER: giver, FOLLOWER: follower}}
