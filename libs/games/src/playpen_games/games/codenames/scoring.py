"""Codenames scores with clembench's names, order, rounding and NaNs (benchmark run v2.0).

Each round (clue + guesses) is a turn. Turn scores, every one rounded to 3 decimals:

- Cluegiver Number of Targets; Team Precision = team targets / targets (0 without targets); Team Recall =
  team targets / team words hidden when the round began; Team F1 (0 when precision + recall is 0).
- Guesser Number of Guesses (as played, later ignored guesses included); Number of Revealed Words;
  Number of Unrevealed Guesses (the difference); Target Precision = revealed targets / revealed words and
  Team Precision = revealed team words / revealed words (0 if nothing was revealed); Target Recall =
  revealed targets / targets; Team Recall = revealed team words / team words hidden at the round's start;
  both F1s.

Episode: the experiment's variable and name; for every enabled flag, how often it was engaged, per role;
`Average <turn score>` = mean of the rounded turn scores, rounded; Aborted, Lose, Success; Game ended
through assassin; Episode Recall = team words the team revealed / team words of the experiment; Episode
Negative Recall = 1 − other words the team revealed / other words of the experiment; Number of turns =
rounds played; Efficiency = min(1, guesses per turn / 2); request counts; Main Score = 100 on success, 0
otherwise, NaN when aborted. The v2.0 run counted the rounds played as `Number of turns`; today's clembench
reports one more when the game ends during or after a Guesser turn, and so a smaller Efficiency. We report
the v2.0 values.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

from playpen_games.games.codenames.board import ASSASSIN, INNOCENT, OPPONENT, TEAM

NAN = float("nan")
EXPECTED_WORDS_PER_TURN = 2
TURN_SCORES = (
    "Cluegiver Number of Targets", "Cluegiver Team Precision", "Cluegiver Team Recall", "Cluegiver Team F1",
    "Guesser Number of Guesses", "Guesser Number of Revealed Words", "Guesser Number of Unrevealed Guesses",
    "Guesser Target Precision", "Guesser Target Recall", "Guesser Target F1", "Guesser Team Precision",
    "Guesser Team Recall", "Guesser Team F1",
)


@dataclass
class RoundRecord:
    team_hidden: int  # team words hidden when the round began (after the opponent's turn)
    targeted: Counter = field(default_factory=Counter)  # kind -> targets of that kind
    guesses: list[str] = field(default_factory=list)
    revealed: Counter = field(default_factory=Counter)  # kind -> words the Guesser revealed
    revealed_targets: int = 0
    cluegiver_errors: int = 0
    guesser_errors: int = 0


@dataclass
class EpisodeRecord:
    variable: str
    experiment_name: str
    flags: Mapping[str, bool]
    engaged: dict[str, dict[str, int]]  # "Cluegiver"/"Guesser" -> flag -> count
    team_words: int  # the experiment's number of team words
    other_words: int  # ... of opponent, innocent and assassin words
    rounds: list[RoundRecord] = field(default_factory=list)
    team_revealed: Counter = field(default_factory=Counter)  # kind -> words the team revealed, whole episode
    requests: int = 0
    parsed: int = 0
    violated: int = 0
    aborted: bool = False
    lost: bool = False
    assassin: bool = False


def f1(precision: float, recall: float) -> float:
    return 0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)


def _rounded(value: float) -> float:
    return round(value, 3)


def turn_scores(record: RoundRecord) -> dict[str, float | int]:
    targets = sum(record.targeted.values())
    cg_precision = record.targeted[TEAM] / targets if targets > 0 else 0
    cg_recall = record.targeted[TEAM] / record.team_hidden
    cg_f1 = f1(cg_precision, cg_recall) if cg_precision + cg_recall > 0 else 0

    guesses = len(record.guesses)
    revealed = sum(record.revealed.values())
    target_precision = record.revealed_targets / revealed if revealed else 0
    team_precision = record.revealed[TEAM] / revealed if revealed else 0
    target_recall = record.revealed_targets / targets if targets > 0 else 0
    target_f1 = f1(target_precision, target_recall) if target_precision + target_recall > 0 else 0
    team_recall = record.revealed[TEAM] / record.team_hidden
    values = (targets, cg_precision, cg_recall, cg_f1, guesses, revealed, guesses - revealed, target_precision,
              target_recall, target_f1, team_precision, team_recall, f1(team_precision, team_recall))
    scores: dict[str, float | int] = {"Cluegiver validation error": record.cluegiver_errors,
                                      "Guesser validation error": record.guesser_errors}
    scores.update({name: _rounded(value) for name, value in zip(TURN_SCORES, values, strict=True)})
    return scores


def episode_scores(record: EpisodeRecord) -> dict[str, float | int | str]:
    turns = [turn_scores(r) for r in record.rounds]
    scores: dict[str, float | int | str] = {"experiment variable": record.variable,
                                            "experiment name": record.experiment_name}
    for flag, enabled in record.flags.items():
        if enabled:
            scores[f"Cluegiver {flag.lower()}"] = record.engaged["Cluegiver"].get(flag, 0)
            scores[f"Guesser {flag.lower()}"] = record.engaged["Guesser"].get(flag, 0)
    for name in TURN_SCORES:
        scores[f"Average {name}"] = _rounded(statistics.mean(turn[name] for turn in turns))

    aborted = int(record.aborted)
    lose = 0 if aborted else int(record.lost)
    success = 0 if aborted else 1 - lose
    number_of_turns = len(record.rounds)
    guesses_per_turn = sum(turn["Guesser Number of Guesses"] for turn in turns) / number_of_turns
    wrong = sum(record.team_revealed[kind] for kind in (OPPONENT, INNOCENT, ASSASSIN))
    scores.update({
        "Aborted": aborted,
        "Lose": lose,
        "Success": success,
        "Game ended through assassin": int(record.assassin),
        "Episode Recall": _rounded(record.team_revealed[TEAM] / record.team_words),
        "Episode Negative Recall": _rounded(1 - wrong / record.other_words),
        "Number of turns": number_of_turns,
        "Efficiency": _rounded(min(1 / EXPECTED_WORDS_PER_TURN * guesses_per_turn, 1)),
        "Request Count": record.requests,
        "Parsed Request Count": record.parsed,
        "Violated Request Count": record.violated,
        "Request Success Ratio": _rounded(record.parsed / record.requests) if record.requests else 0.0,
        "Main Score": NAN if aborted else _rounded(success) * 100,
    })
    return scores


def round_scores(record: EpisodeRecord) -> list[dict[str, float | int]]:
    return [turn_scores(r) for r in record.rounds]
