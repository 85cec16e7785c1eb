"""The codenames board: 25 words in a fixed order, each of one kind, hidden until a side reveals it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

TEAM, OPPONENT, INNOCENT, ASSASSIN = "team", "opponent", "innocent", "assassin"
KINDS = (TEAM, INNOCENT, OPPONENT, ASSASSIN)
SIDES = (TEAM, OPPONENT)


class Board:
    def __init__(self, order: Sequence[str], assignments: Mapping[str, Sequence[str]]):
        self.order = [str(word) for word in order]
        self.hidden: dict[str, list[str]] = {kind: [str(word) for word in assignments[kind]] for kind in KINDS}
        assigned = [word for kind in KINDS for word in self.hidden[kind]]
        if len(set(self.order)) != len(self.order) or sorted(assigned) != sorted(self.order):
            raise ValueError("every board word must be assigned to exactly one of team, opponent, innocent, "
                             "assassin, and appear on the board once")
        if not self.hidden[TEAM] or not self.hidden[OPPONENT]:
            raise ValueError("a board needs at least one team word and one opponent word")
        self.revealed: dict[str, dict[str, list[str]]] = {side: {kind: [] for kind in KINDS} for side in SIDES}

    @classmethod
    def from_instance(cls, instance: Mapping[str, Any]) -> Board:
        return cls(instance["board"], instance["assignments"])

    def remaining(self) -> list[str]:
        """Every hidden word, in board order."""
        hidden = {word for words in self.hidden.values() for word in words}
        return [word for word in self.order if word in hidden]

    def hidden_of(self, kind: str) -> list[str]:
        return list(self.hidden[kind])

    def kind_of_hidden(self, word: str) -> str | None:
        return next((kind for kind in KINDS if word in self.hidden[kind]), None)

    def revealed_by(self, side: str) -> list[str]:
        return [word for kind in KINDS for word in self.revealed[side][kind]]

    def reveal(self, word: str, by: str) -> str | None:
        """Uncover a hidden word for `by`; its kind, or None if it is not hidden."""
        kind = self.kind_of_hidden(word)
        if kind is not None:
            self.hidden[kind].remove(word)
            self.revealed[by][kind].append(word)
        return kind

    @property
    def team_won(self) -> bool:
        return not self.hidden[TEAM]

    @property
    def opponent_won(self) -> bool:
        return not self.hidden[OPPONENT]

    @property
    def team_hit_assassin(self) -> bool:
        return bool(self.revealed[TEAM][ASSASSIN])

    def snapshot(self) -> dict[str, Any]:
        return {"hidden": {kind: list(words) for kind, words in self.hidden.items()},
                "revealed": {side: {kind: list(words) for kind, words in kinds.items()}
                             for side, kinds in self.revealed.items()}}
