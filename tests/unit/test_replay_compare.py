import asyncio
import math

import pytest

from playpen_games.engine import ReplayDivergence
from playpen_games.engine.runner import Request
from playpen_games.replay import ScriptedRole, compare_scores, values_equal

NAN = math.nan


@pytest.mark.parametrize(("computed", "expected", "equal"), [
    (NAN, None, True), (0, None, False), (None, None, True), (NAN, 0, False),
    (1, 1.0, True), (100 / 3, 33.333333333333336, True), (0.5, 0.51, False), ("risk_low", "risk_low", True),
])
def test_values_equal_follows_the_fixture_conventions(computed, expected, equal) -> None:
    assert values_equal(computed, expected) is equal


def test_known_differences_accept_either_value_and_missing_keys_are_reported() -> None:
    known = {"Request Count": {"expected": 4, "reference": 6, "reason": "counting"}}
    assert compare_scores({"Request Count": 6, "Main Score": 1.0}, {"Request Count": 4, "Main Score": 1}, known) == []
    assert compare_scores({"Request Count": 5}, {"Request Count": 4}, known) == ["Request Count: 5 != 4"]
    assert compare_scores({}, {"Lose": 0}, {}) == ["Lose: missing (expected 0)"]


def test_scripted_role_diverges_when_asked_for_more_than_recorded() -> None:
    order: list[str] = []
    role = ScriptedRole("Guesser", ["GUESS: a"], order)
    request = Request("e", "taboo", "Guesser", "Player 2", 0, [])
    assert asyncio.run(role.respond(request)).text == "GUESS: a"
    with pytest.raises(ReplayDivergence, match="only 1 were recorded"):
        asyncio.run(role.respond(request))
    assert order == ["Guesser"] and role.remaining == 0
