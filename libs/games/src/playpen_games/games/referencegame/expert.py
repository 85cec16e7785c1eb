"""Expert players of referencegame: a Giver that states what only the target grid has, and a Follower that
checks each grid against the statements it can read.

What they read:
- the Giver: the three grids its prompt shows (`player_1_target_grid`, `player_1_second_grid`,
  `player_1_third_grid`; the target is its to know) and the reply format (`game.rules.giver`);
- the Follower: the three grids its prompt shows (`player_2_*_grid`), the Giver's expression and its reply
  format and labels (`game.rules.follower`) — never `target_grid_name` or the Giver's grids.

Giver: finds the fewest facts that hold for the target and rule out both distractors — a whole row or
column that reads differently (`row 2 reads X ▢ ▢ ▢ X`), a full or empty row or column, or single cells
(`an X in row 2, column 5`, `an empty cell in row 4, column 1`) — choosing among equally short sets with the
episode's seed, and writes them as one `Expression:` line.
Follower: reads those kinds of facts (also `top`/`bottom`/`leftmost`/ordinal row and column names and
`completely filled`/`empty` rows), scores each grid by facts kept minus facts broken, and answers with the
best grid's label; ties (e.g. an expression it cannot read) are broken with the seed.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from itertools import combinations

from playpen_games.engine.runner import Request
from playpen_games.games.referencegame.game import FOLLOWER, GIVER, ReferenceGame
from playpen_games.games.referencegame.protocol import ReplyFormat

SIZE = 5
FILLED, EMPTY = "X", "▢"
ORDINALS = ("first", "second", "third", "fourth", "fifth")
Grid = tuple[tuple[bool, ...], ...]


def read_grid(text: str) -> Grid:
    """Rows of cells; any cell other than the empty squares (▢ or □) counts as filled."""
    return tuple(tuple(cell not in ("▢", "□") for cell in line.split()) for line in text.strip().splitlines())


def cells_text(cells: tuple[bool, ...]) -> str:
    return " ".join(FILLED if cell else EMPTY for cell in cells)


def column(grid: Grid, index: int) -> tuple[bool, ...]:
    return tuple(row[index] for row in grid)


@dataclass(frozen=True)
class Fact:
    """A checkable statement about a grid: a line (row/column) reading `cells`, or one cell's state."""

    kind: str  # "row", "column" or "cell"
    index: int  # row or column (0-based); for a cell, the row
    cells: tuple[bool, ...] = ()  # for lines
    col: int = 0  # for a cell
    filled: bool = False  # for a cell

    def holds(self, grid: Grid) -> bool | None:
        """Whether the grid satisfies the fact; None if the grid has no such line or cell."""
        try:
            if self.kind == "row":
                return grid[self.index] == self.cells
            if self.kind == "column":
                return column(grid, self.index) == self.cells
            return grid[self.index][self.col] == self.filled
        except IndexError:
            return None

    def phrase(self, rng: random.Random) -> str:
        if self.kind in ("row", "column"):
            where = f"{self.kind} {self.index + 1}"
            if all(self.cells):
                return rng.choice((f"{where} is completely filled", f"{where} is all X"))
            if not any(self.cells):
                return f"{where} is completely empty"
            order = " from top to bottom" if self.kind == "column" else ""
            return f"{where} reads {cells_text(self.cells)}{order}"
        where = f"row {self.index + 1}, column {self.col + 1}"
        if self.filled:
            return rng.choice((f"an X in {where}", f"a filled cell in {where}"))
        return f"an empty cell in {where}"


def candidate_facts(target: Grid) -> list[Fact]:
    facts = [Fact("row", r, target[r]) for r in range(len(target))]
    facts += [Fact("column", c, column(target, c)) for c in range(len(target[0]))]
    facts += [Fact("cell", r, col=c, filled=target[r][c]) for r in range(len(target)) for c in range(len(target[r]))]
    return facts


def distinguishing_facts(target: Grid, distractors: list[Grid], rng: random.Random) -> list[Fact]:
    """A smallest set of facts true of the target that rules out every distractor (seeded among equals).
    Lines (whole rows or columns) are preferred to single cells at equal size, as people describe grids."""
    facts = candidate_facts(target)
    rules_out = {fact: {i for i, other in enumerate(distractors) if fact.holds(other) is not True}
                 for fact in facts}
    everyone = set(range(len(distractors)))
    for size in (1, 2):
        sets = [list(group) for group in combinations(facts, size)
                if set().union(*(rules_out[f] for f in group)) == everyone]
        if sets:
            lines = [group for group in sets if all(f.kind != "cell" for f in group)]
            mixed = [group for group in sets if any(f.kind != "cell" for f in group)]
            pool = lines or (mixed if mixed and rng.random() < 0.5 else sets)
            return rng.choice(pool)
    return [fact for fact in facts if fact.kind == "row"]  # identical grids: describe the whole target


def tag_of(reply_format: ReplyFormat, default: str) -> str:
    """The literal tag the reply pattern starts with (`expression:` -> `Expression:`)."""
    found = re.search(r"\(\?P<tag>\^?([^\\(\[]*)", reply_format.pattern.pattern)
    tag = found.group(1).strip() if found and found.group(1).strip() else default
    return tag[:1].upper() + tag[1:]


def labels_of(reply_format: ReplyFormat) -> list[str]:
    """The three labels of the Follower's pattern in grid order (`first|second|third|1|2|3` -> words)."""
    found = re.search(r"\(\?P<response>([^)]*)\)", reply_format.pattern.pattern)
    options = found.group(1).split("|") if found else []
    return options[:3] if len(options) >= 3 else ["first", "second", "third"]


def _rng(request: Request) -> random.Random:
    return random.Random(f"{request.episode_id}/{request.role}/{request.turn_index}")


def giver(request: Request) -> str:
    """The Giver's `Expression:` line."""
    game = request.game_state
    assert isinstance(game, ReferenceGame)
    rng = _rng(request)
    instance = game.instance
    target = read_grid(instance["player_1_target_grid"])
    distractors = [read_grid(instance["player_1_second_grid"]), read_grid(instance["player_1_third_grid"])]
    facts = distinguishing_facts(target, distractors, rng)
    opening = rng.choice(("the grid where", "the one in which", "the grid in which"))
    clauses = []
    for fact in facts:
        text = fact.phrase(rng)
        clauses.append(f"there is {text}" if fact.kind == "cell" else text)
    return f"{tag_of(game.rules.giver, 'Expression:')} {opening} {' and '.join(clauses)}"


# ------------------------------------------------------------------ reading expressions

_NUMBER = (r"(\d|one|two|three|four|five|first|second|third|fourth|fifth|top|bottom|middle|leftmost|rightmost|left"
           r"|right|last)")
_WORD_INDEX = {"one": 0, "two": 1, "three": 2, "four": 3, "five": 4, "top": 0, "leftmost": 0, "left": 0,
               "middle": 2, "bottom": 4, "rightmost": 4, "right": 4, "last": 4}
_CELLS = r"((?:[X▢□]\s*){5})"


def _index(word: str) -> int:
    word = word.lower()
    if word.isdigit():
        return int(word) - 1
    if word in ORDINALS:
        return ORDINALS.index(word)
    return _WORD_INDEX[word]


def _line(kind: str, match_text: str) -> tuple[bool, ...]:
    return tuple(cell == "X" for cell in match_text.split())


def read_facts(expression: str) -> list[Fact]:
    """The facts an expression states, in the phrasings the Giver uses and a few common others."""
    text = expression.replace("□", "▢")
    facts = []
    for kind in ("row", "column"):
        for match in re.finditer(rf"{kind} {_NUMBER}\s+(?:reads|is|looks like|:)\s+{_CELLS}", text, re.IGNORECASE):
            facts.append(Fact(kind, _index(match.group(1)), _line(kind, match.group(2))))
        for pattern in (rf"{kind} {_NUMBER}\s+is\s+(?:completely |entirely |fully )?(filled|empty|all x)",
                        rf"{_NUMBER} {kind}\s+is\s+(?:completely |entirely |fully )?(filled|empty|all x)"):
            for match in re.finditer(pattern, text, re.IGNORECASE):
                filled = match.group(2).lower() != "empty"
                facts.append(Fact(kind, _index(match.group(1)), (filled,) * SIZE))
    cell = (rf"(an x|a filled cell|an empty cell|x|empty)\s+(?:cell\s+)?(?:in|at)\s+"
            rf"row {_NUMBER},?\s+(?:and\s+)?column {_NUMBER}")
    for match in re.finditer(cell, text, re.IGNORECASE):
        filled = "empty" not in match.group(1).lower()
        facts.append(Fact("cell", _index(match.group(2)), col=_index(match.group(3)), filled=filled))
    return facts


def follower(request: Request) -> str:
    """The Follower's `Answer:` line naming the grid the expression fits best."""
    game = request.game_state
    assert isinstance(game, ReferenceGame)
    instance = game.instance
    grids = [read_grid(instance[f"player_2_{name}_grid"]) for name in ("first", "second", "third")]
    facts = read_facts(game.expression or "")

    def fit(grid: Grid) -> int:
        return sum(1 if fact.holds(grid) else -1 for fact in facts)

    scores = [fit(grid) for grid in grids]
    best = [i for i, score in enumerate(scores) if score == max(scores)]
    choice = best[0] if len(best) == 1 else _rng(request).choice(best)
    return f"{tag_of(game.rules.follower, 'Answer:')} {labels_of(game.rules.follower)[choice]}"


EXPERTS = {"referencegame": {GIVER: giver, FOLLOWER: follower}}
