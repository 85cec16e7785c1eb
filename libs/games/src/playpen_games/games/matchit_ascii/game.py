"""MatchIt ASCII: two players, each with a 5×5 grid of `X` and `▢` the other cannot see, talk until both
decide whether their grids are the same.

- Roles: Player A (Player 1) and Player B (Player 2), both model-backed, each with its own grid.
- Turns (decision_turn = d, 3 in the official instances):
  round 0: A describes its grid; B describes its own, then (shown A's description) asks a question;
  rounds 1 … d−1: A answers, then asks; B answers, then asks;
  round d: A answers, then asks; B answers, then decides;
  round d+1: A (shown B's last answer) decides.
  A player who is asked for two replies in a row gets the second prompt as a follow-up in its history.
- Replies: the first word of the first non-empty line must be the expected tag (`DESCRIPTION:`,
  `QUESTION:`, `ANSWER:`, `DECISION:`); the rest is free. A decision must be exactly
  `DECISION: same grid` or `DECISION: different grids` (case-insensitive, `.` and line breaks at the ends
  ignored). See protocol.py.
- Aborted: an empty reply or a wrong tag (parse errors), or a decision with the right tag but other
  content (a rule violation, which aborts as well). There are no re-prompts.
- Success: both decisions right. Lose: either wrong (both are always asked unless the game aborts).
- Main Score: 100 on success, 0 on a loss, NaN when aborted. `Player Score` is 100 / 50 / 0 for two, one or
  no right decisions. Every format check is a request: a decision with a valid tag but invalid content
  counts twice (one parsed, one violated), as in clembench. See scoring.py.
"""

from __future__ import annotations

from dataclasses import dataclass

from playpen_games.engine import DialogueGame, Outcome, ParseError, RuleViolation, Scores
from playpen_games.games.matchit_ascii import scoring
from playpen_games.games.matchit_ascii.protocol import ANSWER, DECISION, DESCRIPTION, QUESTION, Protocol

PLAYER_A, PLAYER_B = "Player A", "Player B"
INVALID_FORMAT, INVALID_CONTENT = scoring.INVALID_FORMAT, scoring.INVALID_CONTENT


@dataclass
class Said:
    """What a player has said so far (the latest reply of each kind)."""

    description: str = ""
    question: str = ""
    answer: str = ""


class MatchItAscii(DialogueGame):
    name = "matchit_ascii"
    roles = (PLAYER_A, PLAYER_B)

    def setup(self) -> None:
        experiment, instance = self.experiment, self.instance
        self.protocol = Protocol.from_experiment(experiment)
        self.texts = {key: str(experiment[key]) for key in ("q_reprompt", "d_reprompt", "a_request", "desc_intro")}
        self.decision_turn = int(instance["decision_turn"])
        if self.decision_turn < 1:
            raise ValueError("decision_turn must be at least 1 (round 0 is for the descriptions)")
        prompt = str(experiment["initial_prompt"])
        self.grids = {PLAYER_A: str(instance["grid_a"]), PLAYER_B: str(instance["grid_b"])}
        self.said = {PLAYER_A: Said(), PLAYER_B: Said()}
        self.decisions: dict[str, bool] = {}
        self.replies_this_round = {PLAYER_A: 0, PLAYER_B: 0}
        for role in self.roles:
            self.add_player(role, context=prompt.replace("$GRID$", self.grids[role]))

    def on_round_start(self) -> None:
        self.replies_this_round = {PLAYER_A: 0, PLAYER_B: 0}

    def expected(self, role: str) -> str:
        """The kind of reply `role` owes now."""
        first = self.replies_this_round[role] == 0
        if self.round_index == 0:
            return DESCRIPTION if first else QUESTION
        if self.round_index == self.decision_turn + 1:
            return DECISION
        if self.round_index == self.decision_turn and role == PLAYER_B and not first:
            return DECISION
        return ANSWER if first else QUESTION

    # ------------------------------------------------------------------ replies

    def parse(self, role: str, reply: str) -> tuple[str, str]:
        kind = self.expected(role)
        if not reply.strip():
            raise ParseError("empty message", key=INVALID_CONTENT)
        if not self.protocol.has_tag(reply, kind):
            raise ParseError(f"the first word must be {self.protocol.flags[kind]!r}", key=INVALID_FORMAT)
        return kind, reply

    def advance(self, role: str, parsed: tuple[str, str]) -> None:
        kind, reply = parsed
        self.replies_this_round[role] += 1
        self.log(scoring.VALID_FORMAT, kind)
        other = PLAYER_B if role == PLAYER_A else PLAYER_A
        said, texts, text = self.said[role], self.texts, reply.strip()
        if kind == DECISION:
            verdict = self.protocol.decision(reply)
            if verdict is None:
                raise RuleViolation(f"a decision must be {self.protocol.flags[DECISION]} {self.protocol.solution!r} "
                                    f"or {self.protocol.wrong_solution!r} and nothing else", key=INVALID_CONTENT)
            self.decisions[role] = verdict
            self.log(scoring.decision_event(role), "success" if verdict else "loss")
            if role == PLAYER_B:  # A decides next, after B's last answer
                self.set_context(PLAYER_A, f"{said.answer}\n{texts['d_reprompt']}")
            else:
                self.outcome = Outcome.SUCCESS if all(self.decisions.values()) else Outcome.LOSE
            return
        setattr(said, kind, text)
        if kind == DESCRIPTION:
            if role == PLAYER_B:  # B, now shown A's description, asks the first question
                description = self.said[PLAYER_A].description
                self.reprompt(PLAYER_B, f"{texts['desc_intro']}{description}\n{texts['q_reprompt']}")
            return  # after A's description the turn passes to B, whose grid prompt is waiting
        if kind == ANSWER:
            if self.round_index == self.decision_turn and role == PLAYER_B:
                self.reprompt(PLAYER_B, texts["d_reprompt"])
            else:
                self.reprompt(role, texts["q_reprompt"])
            return
        # a question goes to the other player, with what the asker said before it
        before = f"{texts['desc_intro']}{said.description}" if self.round_index == 0 else said.answer
        self.set_context(other, f"{before}\n{text}{texts['a_request']}")

    def on_parse_error(self, role: str, error: ParseError) -> None:
        self.log(error.key, error.reason)
        self.outcome = Outcome.ABORTED

    def on_rule_violation(self, role: str, error: RuleViolation) -> None:
        self.log(error.key, error.reason)  # clembench aborts here too; it is not a lost game
        self.outcome = Outcome.ABORTED

    def score(self) -> Scores:
        return scoring.score([round_.events for round_ in self.rounds], aborted=self.outcome is Outcome.ABORTED)
