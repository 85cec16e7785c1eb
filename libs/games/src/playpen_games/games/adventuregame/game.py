"""Adventuregame: a text adventure. One model, the Adventurer, acts in a small home to reach a goal.

- Roles: the Adventurer (Player 1) is the only player. The game master is the interpreter of a world
  defined in PDDL (interpreter.py): the instance lists the world's facts (`at(plate1,kitchen1)`, ...) and
  names its definitions (entities, rooms, domain, actions with preconditions and effects). The first
  message is the instance's prompt (the task, e.g. "Put the book on the table, ...") followed by a
  description of the room the Adventurer is in; every later message is the interpreter's answer to the
  last command (a room description, "You take the plate.", or why the command failed).
- Replies: an answer must start with `>`; the command is its first line without the `>`, stripped.
  Variants: `basic`, and `plan`, where every answer that does not contain `done` must also have a later
  line starting `Next actions:` followed by the planned commands, separated by commas. In `invlimittwo`
  experiments the inventory holds at most two things.
- Failed commands (unknown verb, nothing of that name here, no passage, a closed container...) do not end
  the game; they are counted by phase and type. Reaching every goal does not end it either.
- Aborted: an answer without `>` (if it mentions complete/finish/done/successfully it is also a
  hallucinated finish), a plan-variant answer without its plan, or reaching `max_turns` answers (the
  answer of the last turn is still played, but the episode is aborted whatever it was). The first two
  are parse errors in our engine and take precedence over the turn limit (clembench checks the format
  first and then stops, so such a last answer does not count as `turn_limit_loss`); the turn limit
  ends the game after the turn.
- Finished (clembench's mark, `finished` in `AdventureGameMaster._does_game_proceed`, adventuregame/
  master.py): set after the first successful command with which every goal fact holds, never cleared.
- Success: the `done` command in a finished episode, even if a goal was undone since. Lose: `done` in an
  episode that is not finished (also a hallucinated finish).
- Main Score = 100 × goals holding at the end / goals; NaN when aborted. An aborted episode that was
  finished still gets the speed scores. Other scores: see scoring.py.

Planning variant: each turn's plan is tried out on a copy of the world after the turn's command (its
viability is the share of commands that succeed before the first failure), and a turn follows the plan
when its command equals the first command of the previous plan. An answer without a plan keeps the last
plan current. (clembench fails with an error when the very first answer is `> done` without a plan; we
score that turn's plan metrics as 0.)
"""

from __future__ import annotations

from playpen_games.engine import DialogueGame, Outcome, ParseError, Scores
from playpen_games.games.adventuregame import definitions, scoring
from playpen_games.games.adventuregame.interpreter import Interpreter
from playpen_games.games.adventuregame.scoring import TurnRecord

ADVENTURER = "Adventurer"
COMMAND_TAG = ">"
PLAN_MARKER = "\nNext actions:"
FINISH_WORDS = ("complete", "finish", "done", "successfully")


class AdventureGame(DialogueGame):
    name = "adventuregame"
    roles = (ADVENTURER,)

    def setup(self) -> None:
        instance = self.instance
        self.planning = str(instance["variant"]) == "plan"
        self.max_turns = int(instance["max_turns"])
        self.optimal_turns = int(instance["optimal_turns"])
        self.interpreter = Interpreter(definitions.load(instance, self.resources), instance)
        self.goals_reported = frozenset()  # what the interpreter last said holds (clembench's bookkeeping)
        self.reached_all_goals_once = False
        self.plans: list[list[str]] = []
        self.records: list[TurnRecord] = []
        self.turn_limit_reached = False
        self.log("adventure_info", {"variant": instance["variant"], "max_turns": self.max_turns,
                                    "optimal_turns": self.optimal_turns,
                                    "goal_count": len(self.interpreter.goal_facts)})
        first_message = str(instance["prompt"]) + self.interpreter.world.room_description()
        self.add_player(ADVENTURER, context=first_message)

    def parse(self, role: str, reply: str) -> str:
        if not reply.startswith(COMMAND_TAG):
            raise ParseError("the answer does not start with '>'", key="command_tag_missing")
        if self.planning and PLAN_MARKER not in reply and "done" not in reply:
            raise ParseError("the answer has no 'Next actions:' line", key="next_actions_missing")
        return reply

    def on_parse_error(self, role: str, error: ParseError) -> None:
        hallucinated = error.key == "command_tag_missing" and any(w in self.turns[-1].reply for w in FINISH_WORDS)
        self.records.append(TurnRecord(invalid_format=error.key, hallucination=hallucinated))
        self.log("invalid_format", error.key)
        self.outcome = Outcome.ABORTED

    def advance(self, role: str, parsed: str) -> None:
        if self.planning and parsed != "> done":
            pieces = parsed.split(PLAN_MARKER)
            if len(pieces) >= 2:
                self.plans.append([command.strip() for command in pieces[1].split(",")])
        command = parsed[len(COMMAND_TAG):].split("\n")[0].strip()
        before = len(self.goals_reported)
        result = self.interpreter.process(command)
        done = result.action == "done"
        record = TurnRecord(failure=result.failure, hallucination=done and not self.reached_all_goals_once,
                            goal_change=len(result.goals) - before, exploration=result.exploration)
        self.log("action_fail" if result.failure else "action_info",
                 vars(result.failure) if result.failure else {"action_type": result.action})
        self.goals_reported = result.goals
        if self.planning and self.plans:
            plan = self.plans[-1]
            record.plan_viability = self.interpreter.try_plan(plan) / len(plan)
            record.plan_followed = len(self.plans) >= 2 and self.plans[-2][0] == command
        self.records.append(record)
        self.set_context(ADVENTURER, result.feedback)
        if result.succeeded and result.goals == self.interpreter.goal_facts:
            self.reached_all_goals_once = True
            self.log("adventure_finished")
        if done:
            self.outcome = Outcome.SUCCESS if self.reached_all_goals_once else Outcome.LOSE
        self._check_turn_limit()

    def _check_turn_limit(self) -> None:
        if len(self.records) >= self.max_turns:
            self.turn_limit_reached = True
            self.outcome = Outcome.ABORTED
            self.log("turn_limit_reached", self.max_turns)

    def score(self) -> Scores:
        return scoring.score(scoring.Episode(
            turns=self.records, finished=self.reached_all_goals_once,
            turn_limit_reached=self.turn_limit_reached, goals_reached=len(self.goals_reported),
            goal_count=len(self.interpreter.goal_facts), optimal_turns=self.optimal_turns,
            max_turns=self.max_turns))
