"""Guess What? scores, with clembench's key names, order and NaNs.

A round (a Guesser turn and, unless it guessed, the Answerer's reply) is one request: `Request Count` is
the number of rounds played, and a round is violated when either reply in it was rejected (which ends the
game). The `Invalid …` counts say whose reply was rejected and how: a malformed reply is a format error, a
well-formed but forbidden question a content error; the Answerer can only make format errors.

- Aborted: Main Score NaN; Success, Lose and Speed are not reported.
- Success: `Speed` = 100 when the target was guessed within LOWER_BOUND rounds, else
  100 × (max_turns − rounds) / (max_turns − LOWER_BOUND), at least 0; Main Score = Speed.
- Lose (a wrong guess, or max_turns rounds without a guess): Main Score 0, no Speed.

clembench meant the lower bound to depend on the level (5, log2(max_turns) + 1, 5), but its level test
(`name == "Level_1" or "Abs_Level_1"`) is always true, so every level uses 5; so do the recorded runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from playpen_games.engine import Scores

NAN = float("nan")
LOWER_BOUND = 5


@dataclass
class RoundRecord:
    violated: bool = False


@dataclass
class EpisodeRecord:
    max_turns: int
    rounds: list[RoundRecord] = field(default_factory=list)
    won: bool = False
    aborted: bool = False
    invalid_format_guesser: int = 0
    invalid_format_answerer: int = 0
    invalid_content_guesser: int = 0


def speed(rounds: int, max_turns: int) -> float | int:
    if rounds <= LOWER_BOUND:
        return 100
    return max(0, 100 * (max_turns - rounds) / (max_turns - LOWER_BOUND))


def score(record: EpisodeRecord) -> Scores:
    requests = len(record.rounds)
    violated = sum(r.violated for r in record.rounds)
    parsed = requests - violated
    episode: dict[str, float | int] = {
        "Violated Request Count": violated,
        "Parsed Request Count": parsed,
        "Request Count": requests,
        "Request Success Ratio": parsed / requests if requests else 0,
        "Aborted": int(record.aborted),
    }
    if record.aborted:
        episode["Main Score"] = NAN
    elif record.won:
        quality = speed(requests, record.max_turns)
        episode |= {"Success": 1, "Lose": 0, "Speed": quality, "Main Score": quality}
    else:
        episode |= {"Success": 0, "Lose": 1, "Main Score": 0}
    episode |= {
        "Invalid format guesser response": record.invalid_format_guesser,
        "Invalid format answerer response": record.invalid_format_answerer,
        "Invalid content guesser response": record.invalid_content_guesser,
        "Invalid content answerer response": 0,
    }
    last = requests - 1
    rounds = [{"Accuracy": int(record.won and index == last),
               "Violated Request Count": int(r.violated),
               "Parsed Request Count": int(not r.violated),
               "Request Count": 1} for index, r in enumerate(record.rounds)]
    return Scores(episode=episode, rounds=rounds)
