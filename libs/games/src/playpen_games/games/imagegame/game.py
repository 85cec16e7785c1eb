"""Imagegame: the Instruction Giver sees a target grid and describes it, one command per turn; the
Instruction Follower, who never sees the target, redraws the whole grid after every command.

- Roles: Instruction Giver (Player 1) speaks first each round, then the Instruction Follower (Player 2).
  The Follower gets only the command; the Giver gets a fixed question back, never the drawing.
- Giver: a reply matching the terminate pattern (`command: done`, case-insensitive, whitespace allowed)
  ends the game. Any other reply must match the command pattern (`^command: [^\\n]+$`, case-insensitive),
  so text after a newline aborts. Only the first line is passed on.
- Follower: the reply must match the grid pattern (case-sensitive): exactly grid_dimension rows of
  uppercase letters or `▢` (U+25A2) separated by single whitespace; `□` (U+25A1), lowercase letters and
  other sizes abort. Surrounding blank lines are allowed.
- Every format failure is a ParseError and aborts the episode (Main Score NaN). There are no rule
  violations in this game.
- The game also ends after 2 × grid_dimension² rounds. Either way it succeeds when the latest drawing's
  F1 against the target is ≥ 99 and is lost otherwise.
- Main Score = the final F1 (0–100, whole numbers), NaN when aborted. Per-round scores are logged for
  every completed round (see scoring.py for clembench's exact counting).

Instances of clembench v0.9/v1.0, which carry no patterns, are played with that era's `Instruction:`
format (grids.LEGACY_*) and today's turn limit and scoring.
"""

from __future__ import annotations

import re
from typing import Any

from playpen_games.engine import DialogueGame, Outcome, ParseError, Scores
from playpen_games.games.imagegame import grids, scoring
from playpen_games.games.imagegame.scoring import Event

GIVER, FOLLOWER = "Instruction Giver", "Instruction Follower"
SUCCESS_F1 = 99


class ImageGame(DialogueGame):
    name = "imagegame"
    roles = (GIVER, FOLLOWER)

    def setup(self) -> None:
        instance = self.instance
        self.target: str = instance["target_grid"]
        self.dimension = int(instance["grid_dimension"])
        if self.dimension < 1 or not self.target.strip():
            raise ValueError("an imagegame instance needs a positive grid_dimension and a target_grid")
        self.max_rounds = 2 * self.dimension * self.dimension
        if "player_1_response_pattern" in instance:
            terminate, command = instance["player_1_terminate_pattern"], instance["player_1_response_pattern"]
        else:
            terminate, command = grids.LEGACY_TERMINATE_PATTERN, grids.LEGACY_COMMAND_PATTERN
        grid = instance.get("player_2_response_pattern") or grids.grid_pattern(self.dimension)
        try:
            self.terminate_re = re.compile(terminate, re.IGNORECASE)
            self.command_re = re.compile(command, re.IGNORECASE)
            self.grid_re = re.compile(grid)  # case-sensitive: lowercase letters are not cells
        except re.error as exc:
            raise ValueError(f"invalid reply pattern in the instance: {exc}") from exc
        self.question: str = instance["player_1_question"]
        giver_prompt = f"{instance['player_1_prompt_header']}\n{self.target}\n{self.question}"
        self.add_player(GIVER, context=giver_prompt)
        self.add_player(FOLLOWER, initial_prompt=instance["player_2_prompt_header"])
        # the drawing's scores so far; clembench keeps the previous values where its evaluator fails
        self.scores_so_far: tuple[float, float, float] = (0, 0, 0)

    # ------------------------------------------------------------------ turns

    def parse(self, role: str, reply: str) -> Any:
        if role == GIVER:
            if self.terminate_re.match(reply):
                return None
            if not self.command_re.match(reply):
                raise ParseError("Invalid instruction format", key="command")
            return reply.split("\n")[0]
        if not self.grid_re.match(reply):
            raise ParseError("Invalid grid format", key="grid")
        return reply

    def advance(self, role: str, parsed: str | None) -> None:
        if role == GIVER:
            if parsed is None:
                self.log(scoring.TERMINATE, self.turns[-1].reply)
                self._finish()
                return
            self.log(scoring.FOUND_INSTRUCTION, parsed)
            self.set_context(FOLLOWER, parsed)
            return
        self.log(scoring.FOUND_GRID, parsed)
        measured = grids.compare(self.target, parsed)
        if measured is not None:
            self.scores_so_far = measured
        self.set_context(GIVER, self.question)

    def on_parse_error(self, role: str, error: ParseError) -> None:
        self.log(scoring.INVALID_FORMAT, error.reason)
        self.outcome = Outcome.ABORTED

    def on_round_end(self) -> None:
        if self.round_index + 1 >= self.max_rounds:
            self.log(scoring.GAME_END, "turn limit reached")
            self._finish()

    def _finish(self) -> None:
        self.outcome = Outcome.SUCCESS if self.scores_so_far[2] >= SUCCESS_F1 else Outcome.LOSE

    # ------------------------------------------------------------------ scores

    def score(self) -> Scores:
        return scoring.score_episode(self.target, self.clembench_events())

    def clembench_events(self) -> list[list[Event]]:
        """Each round's events in the order clembench logs them: per turn the message sent, the reply,
        then the game master's notes; notes made between turns (the turn limit) close the round."""
        rounds: list[list[Event]] = []
        for round_ in self.rounds:
            events: list[Event] = []
            noted: set[int] = set()
            for turn in self.turns:
                if turn.round != round_.index:
                    continue
                events += [Event(scoring.SEND, None), Event(scoring.GET, turn.reply)]
                events += [Event(e.kind, e.content) for e in turn.events]
                noted.update(id(e) for e in turn.events)
            events += [Event(e.kind, e.content) for e in round_.events if id(e) not in noted]
            rounds.append(events)
        return rounds
