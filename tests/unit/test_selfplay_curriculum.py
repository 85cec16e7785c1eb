"""The signal curriculum of the self-play actor: each game's weight from the share of its groups with signal, the
games a round draws (deterministic for a round and its history, never the same game twice), how a round's groups
are judged, and the state that carries the history across restarts."""

from __future__ import annotations

import json
import math
from collections import Counter

import pytest
from pydantic import ValidationError

from playpen.common.v1 import episode_pb2
from playpen_selfplay.requests import curriculum_weights, round_games, round_request
from playpen_selfplay.rounds import group_signals
from playpen_selfplay.settings import SelfPlaySettings
from playpen_selfplay.state import ActorState, load_state, save_state

GAMES = "taboo,wordle,referencegame,imagegame"


def settings(*flags: str) -> SelfPlaySettings:
    return SelfPlaySettings(_cli_parse_args=["--games", GAMES, "--games-per-round", "1", "--curriculum", "signal",
                                             *flags])


def test_a_games_weight_is_its_smoothed_share_of_groups_with_signal_with_a_floor() -> None:
    weights = curriculum_weights(settings(), {"taboo": [4, 4], "wordle": [0, 30], "referencegame": [1, 2]})
    assert math.isclose(weights["taboo"], 5 / 6) and weights["wordle"] == 0.1
    assert weights["referencegame"] == 0.5 and weights["imagegame"] == 0.5  # untried: 1/2
    assert curriculum_weights(settings("--curriculum-floor", "0.3"), {"wordle": [0, 30]})["wordle"] == 0.3


def test_rounds_draw_distinct_games_by_weight_the_same_way_every_time() -> None:
    history = {"taboo": [20, 20], "wordle": [0, 20], "referencegame": [10, 20], "imagegame": [0, 20]}
    chosen = settings()
    drawn = Counter(game for index in range(2000) for game in round_games(chosen, index, history))
    assert drawn["taboo"] > drawn["referencegame"] > drawn["wordle"] > 0 and drawn["imagegame"] > 0
    # Expected shares 21/22 : 11/22 : 0.1 : 0.1 of the weight, about 0.61, 0.32, 0.064, 0.064.
    assert 0.55 < drawn["taboo"] / 2000 < 0.67 and 0.04 < drawn["wordle"] / 2000 < 0.09
    two = settings("--games-per-round", "2")
    for index in range(200):
        games = round_games(two, index, history)
        assert len(games) == 2 and len(set(games)) == 2
        assert games == round_games(two, index, {k: list(v) for k, v in history.items()})  # same round, same draw
    assert round_request(chosen, 7, history).games == round_games(chosen, 7, history)
    # Rotation, the default, ignores the history.
    rotate = SelfPlaySettings(_cli_parse_args=["--games", GAMES, "--games-per-round", "1"])
    assert [round_games(rotate, i, history)[0] for i in range(4)] == GAMES.split(",")


def episode(game: str, group: str, *, aborted: bool = False, score: float = 0.0,
            status=episode_pb2.EPISODE_STATUS_COMPLETED) -> episode_pb2.Episode:
    played = episode_pb2.Episode(game=game, group_id=group, status=status)
    played.scores.aborted = aborted
    played.scores.main_score = math.nan if aborted else score
    return played


def test_a_group_has_signal_when_its_completed_episodes_scored_differently() -> None:
    episodes = [episode("taboo", "a", score=100), episode("taboo", "a", score=0),  # differ: signal
                episode("taboo", "b", aborted=True), episode("taboo", "b", aborted=True),  # all aborted: none
                episode("wordle", "c", score=0), episode("wordle", "c", aborted=True),  # aborted vs not: signal
                episode("wordle", "d", score=50), episode("wordle", "d", score=50),  # the same score: none
                # One completed episode and one infrastructure failure: not judged.
                episode("imagegame", "e"), episode("imagegame", "e", status=episode_pb2.EPISODE_STATUS_INFRA_FAILURE)]
    assert group_signals(episodes) == {"taboo": [True, False], "wordle": [True, False]}


def test_the_history_survives_a_restart_and_an_older_state_file_reads_as_none(tmp_path) -> None:
    path = tmp_path / "selfplay.json"
    state = ActorState(next_round=3)
    state.record({"taboo": [True, False], "wordle": [False]})
    state.record({"taboo": [True]})
    save_state(path, state)
    assert json.loads(path.read_text()) == {"next_round": 3, "signal": {"taboo": [2, 3], "wordle": [0, 1]}}
    assert load_state(path) == state
    path.write_text('{"next_round": 9}')  # written before the curriculum existed
    assert load_state(path) == ActorState(next_round=9)
    assert load_state(tmp_path / "missing.json") == ActorState()


def test_the_signal_curriculum_needs_rounds_of_some_games() -> None:
    with pytest.raises(ValidationError, match="--curriculum signal"):
        SelfPlaySettings(_cli_parse_args=["--games", GAMES, "--curriculum", "signal"])
