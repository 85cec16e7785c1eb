"""MatchIt ASCII scores, computed as clembench does: from the checks the game master noted in each round.

Each noted check is one request: `valid format` is a parsed request, `invalid format` (wrong tag) and
`invalid content` (empty reply, or a decision that is neither solution) are violated ones. A decision with
the right tag but invalid content was noted twice and counts twice. There is no Request Success Ratio.

- Aborted: Success 0, Lose 0, Main Score and Player Score NaN.
- Otherwise Success needs both decisions right (Main Score 100, Player Score 100); one right decision is a
  loss with Main Score 0 and Player Score 50; none right, a loss with 0 and 0.
"""

from __future__ import annotations

from collections.abc import Sequence

from playpen_games.engine import Event, Scores

NAN = float("nan")
VALID_FORMAT, INVALID_FORMAT, INVALID_CONTENT = "valid format", "invalid format", "invalid content"
SUCCESS = "success"


def decision_event(role: str) -> str:
    """`Decision Player A` for "Player A": the event that records a decision's result."""
    return f"Decision {role}"


def score(rounds: Sequence[Sequence[Event]], *, aborted: bool) -> Scores:
    per_round = []
    right: dict[str, bool] = {}
    for events in rounds:
        parsed = sum(e.kind == VALID_FORMAT for e in events)
        violated = sum(e.kind in (INVALID_FORMAT, INVALID_CONTENT) for e in events)
        per_round.append({"Violated Request Count": violated, "Parsed Request Count": parsed,
                          "Request Count": parsed + violated})
        for event in events:
            if event.kind.startswith("Decision "):
                right[event.kind] = event.content == SUCCESS
    episode: dict[str, float | int] = {
        key: sum(r[key] for r in per_round)
        for key in ("Violated Request Count", "Parsed Request Count", "Request Count")
    }
    correct = sum(right.values())
    if aborted:
        episode |= {"Aborted": 1, "Success": 0, "Lose": 0, "Main Score": NAN, "Player Score": NAN}
    elif correct == 2:
        episode |= {"Aborted": 0, "Success": 1, "Lose": 0, "Main Score": 100, "Player Score": 100}
    else:
        episode |= {"Aborted": 0, "Success": 0, "Lose": 1, "Main Score": 0, "Player Score": 50 * correct}
    return Scores(episode=episode, rounds=per_round)
