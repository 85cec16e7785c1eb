"""The self-play actor's settings and the rounds it asks for: flags, validation, rotation, stable episode ids."""

from __future__ import annotations

import subprocess
import sys

import pytest
from pydantic import ValidationError

from playpen_selfplay.requests import round_request
from playpen_selfplay.settings import SelfPlaySettings


def settings(*flags: str) -> SelfPlaySettings:
    return SelfPlaySettings(_cli_parse_args=list(flags))


def test_teachers_parse_per_game_or_for_every_game() -> None:
    parsed = settings("--teacher", "wordle_withcritic:Critic=expert", "--teacher", "Guesser=expert")
    assert parsed.teachers == {("wordle_withcritic", "Critic"): "expert", ("", "Guesser"): "expert"}
    request = round_request(parsed, 0)
    assert [(r.game, r.role, r.player.builtin) for r in request.roles] == [
        ("", "Guesser", "expert"), ("wordle_withcritic", "Critic", "expert")]


@pytest.mark.parametrize(("flags", "message"), [
    (("--teacher", "nonsense"), "GAME:ROLE=PLAYER"),
    (("--teacher", "taboo:=expert"), "the role is empty"),
    (("--group-size", "1"), "greater than or equal to 2"),
    (("--games-per-round", "1"), "name the games"),
    (("--mode", "later"), "async"),
])
def test_bad_settings_are_refused_with_the_reason(flags, message) -> None:
    with pytest.raises(ValidationError, match=message):
        settings(*flags)


def test_rounds_rotate_through_the_games_and_keep_their_episode_ids() -> None:
    parsed = settings("--games", "taboo,wordle", "--games", "taboo,referencegame", "--games-per-round", "2",
                      "--run-id", "r", "--seed", "3", "--policy", "rollout:50052", "--top-p", "0.9")
    assert parsed.games == ["taboo", "wordle", "referencegame"]  # repeats dropped, order kept
    assert [list(round_request(parsed, k).games) for k in range(3)] == [
        ["taboo", "wordle"], ["referencegame", "taboo"], ["wordle", "referencegame"]]
    first, again = round_request(parsed, 1), round_request(parsed, 1)
    assert first == again and first.run_id == "r-r000001" and first.seed == 3 * 1_000_003 + 1
    assert first.default_player.policy.target == "rollout:50052"
    assert first.default_player.sampling.top_p == pytest.approx(0.9)


def test_environment_and_help() -> None:
    env = {"PLAYPEN_SELFPLAY_MODE": "sync", "PLAYPEN_SELFPLAY_GAMES": '["taboo"]'}
    code = ("import sys\nfrom playpen_selfplay.__main__ import main\n"
            "from playpen_selfplay.settings import SelfPlaySettings\n"
            "s = SelfPlaySettings()\nassert s.mode == 'sync' and s.games == ['taboo'], s\n"
            "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "assert 'grpc' not in sys.modules, 'grpc imported for --help'\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                            env={"PATH": "/usr/bin:/bin", **env})
    assert result.returncode == 0, result.stderr
    assert "--max-pending" in result.stdout and "--teacher" in result.stdout
