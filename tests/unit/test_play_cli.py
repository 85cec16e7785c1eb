"""`playpen-play`'s settings and its clembench table: roles parse, bad flags exit 2, and an episode that outgrew
the context counts as aborted while an infrastructure failure is counted apart."""

from __future__ import annotations

import math

import pytest
from pydantic import ValidationError

from playpen_gamemaster.cli import PlaySettings, main, summarise


def test_roles_games_and_defaults() -> None:
    settings = PlaySettings(_cli_parse_args=["--policy", "expert", "--role", "Guesser=localhost:1",
                                             "--games", "taboo,wordle"])
    assert settings.gamemaster == "localhost:50051" and settings.games == ["taboo", "wordle"]
    with pytest.raises(ValidationError, match="GAME:ROLE=PLAYER"):
        PlaySettings(_cli_parse_args=["--policy", "expert", "--role", "Guesser"])


def test_a_missing_policy_exits_with_status_2(capsys) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--games", "taboo"])
    assert exited.value.code == 2 and "--policy" in capsys.readouterr().err


def test_the_table_counts_context_overflows_as_aborted_and_infrastructure_apart() -> None:
    won = {"game": "taboo", "status": "EPISODE_STATUS_COMPLETED",
           "scores": {"episode": {"Aborted": 0, "Success": 1, "Lose": 0, "Main Score": 100.0}}}
    overflow = {"game": "taboo", "status": "EPISODE_STATUS_CONTEXT_EXCEEDED"}
    down = {"game": "taboo", "status": "EPISODE_STATUS_INFRA_FAILURE"}
    per_game, failures = summarise([won, overflow, down])
    assert failures == {"taboo": 1}
    score = per_game["taboo"]
    assert score.episodes == 2 and score.played == 50.0 and score.quality == 100.0
    assert math.isclose(score.clemscore, 50.0)
