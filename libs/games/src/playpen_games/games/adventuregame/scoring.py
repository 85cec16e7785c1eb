"""Adventuregame's scores, with clembench's key names and NaNs.

Every turn is one request. Per turn: the format problem if any (`command_tag_missing`,
`next_actions_missing`), a hallucinated finish (a reply without `>` that mentions finishing, or `done`
before the goals were ever all reached), the interpreter's failure phase and type, the change in the
number of goals reached, the exploration metrics (exploration.py; only for turns whose answer had the `>`),
and in the planning variant whether the previous plan was followed and how much of this turn's plan is
viable.

"Finished" is clembench's mark (`AdventureGameMaster.finished` in its adventuregame/master.py): set after
the first successful command with which every goal holds, never cleared. Undoing a goal, breaking the format or running
out of turns afterwards does not take it away.

Episode:
- request counts; `hallucination_count`; `action_parsing_fail` / `action_resolution_fail` and one count
  per failure type (turns in which it happened); `successful_actions` = parsed requests − failed actions;
  `turn_limit_loss` (a format error on the last allowed turn is a format abort, not the turn limit).
- `turns_over_par` = turns − optimal turns, `turn_ratio` = 1 − turns_over_par / (max turns − optimal turns),
  `finish_speed` = 1 − turn_ratio: numbers whenever the episode is finished, aborted or not, NaN otherwise.
  "Turns" are all the turns played, not the turn at which the mark was set.
- `achieved_goal_ratio` = goals reached at the end / goals (also when aborted);
  `Main Score` = 100 × achieved_goal_ratio, NaN when aborted (an invalid reply or the turn limit).
- Aborted / Success / Lose: aborted as above (Success and Lose 0); otherwise (the episode ended with
  `done`) success when it is finished, even if a goal was undone before the `done`, else a loss.
- Planning (0 in the basic variant): `plan_followed_ratio` = turns from the second on whose command was
  the first command of the previous plan / turns; `plan_average_viability_ratio` = mean share of each
  turn's plan that succeeds before its first failure; `bad_plan_follow_ratio` = turns that followed a plan
  none of which was viable / turns; `bad_plan_dismiss_ratio` = 1 − that.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from playpen_games.engine import Scores
from playpen_games.games.adventuregame.interpreter import PARSING, RESOLUTION, Failure

NAN = float("nan")

#: the failure types clembench reports one by one, in its order
FAILURE_TYPES = (
    "lark_exception", "malformed_command", "undefined_action_verb", "undefined_action", "undefined_repr_str",
    "manipulating_room", "undefined_argument_type", "taking_from_inventory", "other_room_argument",
    "domain_trait_type_mismatch", "domain_type_discrepancy", "world_state_discrepancy", "entity_not_accessible",
    "entity_state_mismatch", "entity_trait_mismatch", "entity_already_inventory", "going_to_current_room",
    "no_exit_to", "inventory_limit_exceeded",
)
FORMAT_PROBLEMS = ("command_tag_missing", "next_actions_missing")


@dataclass
class TurnRecord:
    invalid_format: str = ""
    hallucination: bool = False
    failure: Failure | None = None
    goal_change: int = 0
    plan_followed: bool = False
    plan_viability: float = 0.0
    exploration: Mapping[str, float | int] | None = None


@dataclass(frozen=True)
class Episode:
    turns: list[TurnRecord]
    finished: bool  # clembench's mark, see above
    turn_limit_reached: bool
    goals_reached: int
    goal_count: int
    optimal_turns: int
    max_turns: int


def _ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator else NAN


def score(episode: Episode) -> Scores:
    turns = episode.turns
    count = len(turns)
    invalid = any(t.invalid_format for t in turns)
    parsed = sum(not t.invalid_format for t in turns)
    parsing = sum(t.failure is not None and t.failure.phase == PARSING for t in turns)
    resolution = sum(t.failure is not None and t.failure.phase == RESOLUTION for t in turns)
    aborted = invalid or episode.turn_limit_reached
    finished = episode.finished

    scores: dict[str, float | int] = {
        "Violated Request Count": count - parsed,
        "Parsed Request Count": parsed,
        "Request Count": count,
        "Request Success Ratio": _ratio(parsed, count),
        "hallucination_count": sum(t.hallucination for t in turns),
        "action_parsing_fail": parsing,
        "action_resolution_fail": resolution,
    }
    for kind in FAILURE_TYPES:
        scores[kind] = sum(t.failure is not None and t.failure.kind == kind for t in turns)
    over_par = count - episode.optimal_turns
    turn_ratio = 1 - _ratio(over_par, episode.max_turns - episode.optimal_turns)
    achieved = episode.goals_reached / episode.goal_count
    scores |= {
        "successful_actions": parsed - parsing - resolution,
        "turn_limit_loss": int(episode.turn_limit_reached),
        "turns_over_par": over_par if finished else NAN,
        "turn_ratio": turn_ratio if finished else NAN,
        "finish_speed": 1 - turn_ratio if finished else NAN,
        "achieved_goal_ratio": achieved,
        "Main Score": NAN if aborted else achieved * 100,
        "Aborted": int(aborted),
        "Success": int(finished and not aborted),
        "Lose": int(not aborted and not finished),
    }
    bad_follows = [int(i > 0 and t.plan_followed and turns[i - 1].plan_viability == 0.0)
                   for i, t in enumerate(turns)]
    bad_ratio = _ratio(sum(bad_follows), count)
    scores |= {
        "plan_followed_ratio": _ratio(sum(t.plan_followed for t in turns[1:]), count),
        "plan_average_viability_ratio": _ratio(sum(t.plan_viability for t in turns), count),
        "bad_plan_follow_ratio": bad_ratio,
        "bad_plan_dismiss_ratio": 1 - bad_ratio,
    }
    return Scores(episode=scores, rounds=[_turn_scores(t, bad) for t, bad in zip(turns, bad_follows, strict=True)])


def _turn_scores(turn: TurnRecord, bad_follow: int) -> dict[str, float | int]:
    failure = turn.failure
    scores: dict[str, float | int] = {
        "Request Count": 1,
        "Parsed Request Count": int(not turn.invalid_format),
        "Violated Request Count": int(bool(turn.invalid_format)),
    }
    scores |= {problem: int(turn.invalid_format == problem) for problem in FORMAT_PROBLEMS}
    scores |= {
        "hallucination": int(turn.hallucination),
        "action_parsing_fail": int(failure is not None and failure.phase == PARSING),
        "action_resolution_fail": int(failure is not None and failure.phase == RESOLUTION),
    }
    scores |= {kind: int(failure is not None and failure.kind == kind) for kind in FAILURE_TYPES}
    scores["goal_score"] = turn.goal_change
    if turn.exploration is not None:
        scores |= turn.exploration
    scores |= {
        "plan_followed": int(turn.plan_followed),
        "plan_command_success_ratio": turn.plan_viability,
        "bad_plan_followed": bad_follow,
    }
    return scores
