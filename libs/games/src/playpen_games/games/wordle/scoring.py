"""Wordle scores, with clembench's key names and values.

Episode scores, in clembench's order: Aborted, Lose, Success, the four request counts, `Main Score`,
`Guess Repetitions` (NaN when aborted), and for the critic variant the four
`[Non-]Repetition-Guesser-On-Critic-[Dis]Agreement` shares. `repeats guess` (0/1) and
`total guess repetitions` are the names benchmark run v2.0 used for the repetition count; they are
reported as well, so that scores compare with both the recorded run and the current clembench.

Round scores: `Closeness Score` (5 per green, 3 per yellow letter), `Strategy Score` (how the guess used
the previous feedback) and, with a critic, `Change-Of-Opinion` (1 when the final guess differs from the
first one). Entry r belongs to round r; clembench numbers these turns from 1 (key r + 1). An episode
without any letter feedback has a single entry with NaN closeness and strategy (clembench's key 0).
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise

from playpen_games.games.wordle.feedback import GREEN, RED, YELLOW, Mark, letters_with

NAN = float("nan")

# Plain wordle's Main Score by the number of rounds a success took; the variants use 100 / rounds.
SPEED_SCORES = {1: 100, 2: 100, 3: 100, 4: 50, 5: 30, 6: 20}

CLOSENESS, STRATEGY, CHANGE_OF_OPINION = "Closeness Score", "Strategy Score", "Change-Of-Opinion"


def closeness(marks: Sequence[Mark]) -> int:
    return sum(5 if mark.colour == GREEN else 3 if mark.colour == YELLOW else 0 for mark in marks)


def strategy_scores(feedbacks: Sequence[Sequence[Mark]], aborted: bool) -> list[int]:
    """Per guess: +20 per distinct green and +10 per distinct yellow letter of the previous feedback that
    the guess reuses, -20 per distinct red one. The first guess scores 0, or 100 when it is the only
    guess of an episode that was not aborted (solved at once)."""
    if len(feedbacks) == 1:
        return [0 if aborted else 100]
    scores = [0]
    for previous, current in pairwise(feedbacks):
        used = {mark.letter for mark in current}
        scores.append(20 * len(letters_with(previous, GREEN) & used)
                      + 10 * len(letters_with(previous, YELLOW) & used)
                      - 20 * len(letters_with(previous, RED) & used))
    return scores


def main_score(plain: bool, rounds: int) -> float:
    if plain:
        return SPEED_SCORES[rounds]
    return round(100 / rounds, 2)


def repetitions(guesses: Sequence[str]) -> int:
    return len(guesses) - len(set(guesses))


def opinion_scores(first: Sequence[str], final: Sequence[str], agreements: Sequence[str]
                   ) -> tuple[dict[str, float], list[int]]:
    """How the Guesser's final guess followed the Critic: the share of kept / changed guesses after a
    `yes` and after a `no` (0 when there was none; NaN when no round got that far)."""
    changes: list[int] = []
    counts = {(agreed, changed): 0 for agreed in (True, False) for changed in (True, False)}
    for guess, committed, agreement in zip(first, final, agreements, strict=False):
        changed = guess != committed
        changes.append(int(changed))
        counts[(agreement == "yes", changed)] += 1
    shares: dict[str, float] = {}
    for agreed, name in ((True, "Agreement"), (False, "Disagreement")):
        total = counts[(agreed, False)] + counts[(agreed, True)]
        if not changes:
            kept = changed_share = NAN
        elif total == 0:
            kept = changed_share = 0
        else:
            kept = round(counts[(agreed, False)] / total, 2)
            changed_share = round(counts[(agreed, True)] / total, 2)
        shares[f"Repetition-Guesser-On-Critic-{name}"] = kept
        shares[f"Non-Repetition-Guesser-On-Critic-{name}"] = changed_share
    order = ["Repetition-Guesser-On-Critic-Agreement", "Non-Repetition-Guesser-On-Critic-Agreement",
             "Repetition-Guesser-On-Critic-Disagreement", "Non-Repetition-Guesser-On-Critic-Disagreement"]
    return {key: shares[key] for key in order}, changes


def round_scores(feedbacks: Sequence[Sequence[Mark]], aborted: bool,
                 changes: Sequence[int] = ()) -> list[dict[str, float | int]]:
    if not feedbacks:
        return [{CLOSENESS: NAN, STRATEGY: NAN}]
    rounds: list[dict[str, float | int]] = [
        {CLOSENESS: closeness(marks), STRATEGY: score}
        for marks, score in zip(feedbacks, strategy_scores(feedbacks, aborted), strict=True)]
    for index, change in enumerate(changes):
        rounds[index][CHANGE_OF_OPINION] = change
    return rounds


def outcome_scores(*, aborted: bool, lost: bool, plain: bool, rounds: int, committed: Sequence[str]
                   ) -> dict[str, float | int]:
    """Main Score and the repetition counts."""
    if aborted:
        return {"Main Score": NAN, "Guess Repetitions": NAN, "repeats guess": NAN, "total guess repetitions": NAN}
    repeated = repetitions(committed)
    return {"Main Score": 0 if lost else main_score(plain, rounds), "Guess Repetitions": repeated,
            "repeats guess": int(repeated > 0), "total guess repetitions": repeated}
