"""Referencegame's scores, with clembench's key names, order, types and NaNs.

The whole game is one round (one expression, one answer), so the round scores and the episode scores are
computed together. The expression metrics measure the Instruction Giver's whole reply, tag included:
`Generated Expression Length` is its number of characters and `Generated Expression Number of Tokens` the
number of pieces when it is split on single spaces. (The v2.0 benchmark run measured the text after the
tag instead, 12 characters and one token fewer for `Expression: `; the current clembench measures the
whole reply, and so do we.) Both are NaN when the Giver's reply was rejected.

Success, Lose and Main Score are NaN in an aborted episode, wherever it was aborted; the round's
`Success` is then 0.
"""

from __future__ import annotations

from dataclasses import dataclass

from playpen_games.engine import Scores

NAN = float("nan")


@dataclass(frozen=True)
class Episode:
    """What happened, as far as scoring is concerned."""

    expression: str | None  # the Giver's accepted reply; None if it was rejected
    answered: bool  # the Follower's reply was accepted
    correct: bool  # ... and named the target


def expression_length(expression: str) -> int:
    return len(expression)


def expression_tokens(expression: str) -> int:
    return len(expression.split(" "))


def score(episode: Episode) -> Scores:
    requests = 1 if episode.expression is None else 2
    parsed = 0 if episode.expression is None else 1 + int(episode.answered)
    aborted = parsed < requests
    success = int(episode.answered and episode.correct)

    scores: dict[str, float | int] = {}
    if episode.expression is None:
        length: float | int = NAN
        tokens: float | int = NAN
        scores |= {"Aborted at Player 1": 1, "Aborted at Player 2": 0,
                   "Generated Expression Length": length, "Generated Expression Number of Tokens": tokens}
    else:
        length = expression_length(episode.expression)
        tokens = expression_tokens(episode.expression)
        scores |= {"Generated Expression Length": length, "Generated Expression Number of Tokens": tokens,
                   "Aborted at Player 1": 0, "Aborted at Player 2": int(not episode.answered)}
    scores |= {
        "Request Count": requests,
        "Parsed Request Count": parsed,
        "Violated Request Count": requests - parsed,
        "Aborted": int(aborted),
        "Success": NAN if aborted else success,
        "Lose": NAN if aborted else 1 - success,
        "Main Score": NAN if aborted else success * 100,
        "Request Success Ratio": round(parsed / requests, 4),
    }
    round_scores: dict[str, float | int] = {
        "Generated Expression Length": length,
        "Generated Expression Number of Tokens": tokens,
        "Request Count": requests,
        "Parsed Request Count": parsed,
        "Violated Request Count": requests - parsed,
        "Success": success,
    }
    return Scores(episode=scores, rounds=[round_scores])
