"""Referencegame: the Instruction Giver describes one of three grids; the Instruction Follower picks it out.

- Roles and turns: one round of two turns. The Instruction Giver (Player 1) sees the target grid and two
  similar distractors and writes a referring expression. The Instruction Follower (Player 2) sees the same
  three grids in another order, followed by the Giver's whole reply, and names the grid it means.
- Replies: the Giver starts with `Expression:` and the Follower with `Answer:` and a label (`first`,
  `second`, `third`, or `1`, `2`, `3`; other languages have their own tags and words), ignoring case; the
  instance's patterns decide. Text after the label on the same line is fine (`Answer: second grid.`). In
  strict mode (every official instance) nothing but line breaks may follow the first line, and that
  includes end-of-turn tokens on a new line.
- Aborted: a Giver reply that breaks the format aborts at Player 1 (the Follower is never asked); a
  Follower reply that breaks it aborts at Player 2. Both are parse errors; this game has no rule violations.
- Success: the Follower's label, lowercased, is one of the instance's `target_grid_name` labels.
  Lose: any other valid label.
- Main Score: 100 on success, 0 on a loss, NaN when aborted (Success and Lose are NaN too).
  Other scores, including the expression length metrics: see scoring.py.
"""

from __future__ import annotations

from playpen_games.engine import DialogueGame, Outcome, ParseError, Scores
from playpen_games.games.referencegame import scoring
from playpen_games.games.referencegame.protocol import FormatProblem, Rules

GIVER, FOLLOWER = "Instruction Giver", "Instruction Follower"
#: where the Follower's prompt receives the Giver's reply
EXPRESSION_SLOT = "TARGET_EXPRESSION"


class ReferenceGame(DialogueGame):
    name = "referencegame"
    roles = (GIVER, FOLLOWER)

    def setup(self) -> None:
        self.rules = Rules.from_instance(self.instance)
        self.expression: str | None = None  # the Giver's accepted reply
        self.answer: str | None = None  # the Follower's accepted label, lowercased
        self.add_player(GIVER, context=self.rules.giver_prompt)
        self.add_player(FOLLOWER)

    def parse(self, role: str, reply: str) -> str:
        reader = self.rules.giver if role == GIVER else self.rules.follower
        try:
            response = reader.read(reply)
        except FormatProblem as problem:
            raise ParseError(str(problem), key="invalid format") from None
        # The Giver's expression is its whole reply: it is what the Follower reads and what is measured.
        return reply if role == GIVER else response.lower()

    def advance(self, role: str, parsed: str) -> None:
        if role == GIVER:
            self.expression = parsed
            self.log("parse", parsed)
            self.set_context(FOLLOWER, self.rules.follower_prompt.replace(EXPRESSION_SLOT, parsed))
            return
        self.answer = parsed
        correct = parsed in self.rules.labels
        self.log("parse_correct" if correct else "parse_wrong", parsed)
        self.outcome = Outcome.SUCCESS if correct else Outcome.LOSE

    @property
    def correct(self) -> bool:
        return self.answer is not None and self.answer in self.rules.labels

    def score(self) -> Scores:
        return scoring.score(scoring.Episode(expression=self.expression, answered=self.answer is not None,
                                             correct=self.correct))
