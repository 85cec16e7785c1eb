"""The actor of online training (`playpen-selfplay`): rounds of GRPO groups from the game master stream into the
trainer; sync rounds are on-policy, async rounds are bounded, and a restart neither loses nor repeats a round.

The policy is the scripted backend (fast, real checkpoint verification when it follows the trainer); the
trainer trains a tiny random model on the scripted replies' byte tokens.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import grpc
import pytest

from playpen.policy.v1 import policy_pb2, policy_pb2_grpc
from playpen_common import launcher
from playpen_trainer.store import EpisodeStore
from tests.conftest import unavailable
from tests.tiny_model import build_tiny_model
from tests.trainer.trainer_process import start_trainer, status

REPO = Path(__file__).resolve().parents[2]
TOOLS = REPO / ".venv" / "bin"


def _require() -> None:
    for name in ("playpen-policy", "playpen-gamemaster", "playpen-selfplay"):
        if not (TOOLS / name).exists():
            message = f"{TOOLS / name} is not installed; run `make setup`"
            unavailable(message)


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("selfplay-model") / "model")


def _selfplay(services: dict, *flags: str, games: str = "taboo", timeout: float = 300) -> tuple[list[dict], dict]:
    finished = subprocess.run(
        [str(TOOLS / "playpen-selfplay"), "--gamemaster", services["gamemaster"].target,
         "--trainer", services["trainer"].target, "--policy", services["policy"].target, "--games", games,
         "--group-size", "2", "--instances-per-game", "1", "--run-id", "t", "--metrics-port", "-1", *flags],
        capture_output=True, text=True, timeout=timeout)
    assert finished.returncode == 0, finished.stdout + finished.stderr
    lines = [json.loads(line) for line in finished.stdout.splitlines() if line.startswith("{")]
    return [line for line in lines if line["event"] == "round"], lines[-1]


@pytest.fixture
def services(model, tmp_path):
    _require()
    started = {}
    try:
        started["trainer"] = start_trainer("sp-trainer", tmp_path, model, tmp_path / "data")
        started["policy"] = launcher.start(
            "sp-policy", [str(TOOLS / "playpen-policy"), "--backend", "scripted", "--follow-trainer",
                          started["trainer"].target, "--follow-poll-s", "0.2"], tmp_path)
        started["gamemaster"] = launcher.start("sp-gamemaster", [str(TOOLS / "playpen-gamemaster")], tmp_path)
        yield started
    finally:
        for service in reversed(list(started.values())):
            service.stop()


def test_sync_rounds_are_on_policy_and_each_makes_a_step(services, tmp_path) -> None:
    rounds, stopped = _selfplay(services, "--mode", "sync", "--rounds", "3")
    assert [r["acks"] for r in rounds] == [{"stored": 2}] * 3
    assert [r["trainer_step"] for r in rounds] == [1, 2, 3]
    assert [r["trainer_version"] for r in rounds] == [1, 2, 3]
    assert stopped["stopped_by"] == "3 rounds played"
    with grpc.insecure_channel(services["policy"].target) as channel:
        served = policy_pb2_grpc.PolicyServiceStub(channel).GetStatus(policy_pb2.GetStatusRequest(), timeout=10)
    assert served.policy_version == 3
    services["trainer"].stop()
    store = EpisodeStore(tmp_path / "data" / "episodes.db")
    by_round: dict[str, set[int]] = {}
    for episode in store.episodes():
        versions = {t.generation.policy_version for t in episode.turns if t.HasField("generation")}
        by_round.setdefault(episode.episode_id.split(":")[0].split("-r")[1][:6], set()).update(versions)
    # Round r was played entirely by version r: the trainer's update and the reload came in between.
    assert by_round == {"000000": {0}, "000001": {1}, "000002": {2}}


def test_async_rounds_stop_at_the_step_budget_and_a_restart_resumes_the_round_count(services, tmp_path) -> None:
    state = tmp_path / "selfplay.json"
    rounds, stopped = _selfplay(services, "--mode", "async", "--steps", "3", "--state", str(state))
    assert stopped["stopped_by"] == "trainer reached step 3" or stopped["trainer_step"] >= 3
    played = len(rounds)
    saved = json.loads(state.read_text())
    assert played >= 3 and saved["next_round"] == played
    assert saved["signal"]["taboo"][1] == played  # one group a round, counted for the signal curriculum
    assert status(services["trainer"].target).episodes_stored == 2 * played
    # A second run goes on with the next round: new episode ids, nothing stored twice.
    more, _ = _selfplay(services, "--mode", "async", "--rounds", "2", "--state", str(state))
    assert [r["round"] for r in more] == [played, played + 1]
    assert all(r["acks"] == {"stored": 2} for r in more)
    assert status(services["trainer"].target).episodes_stored == 2 * (played + 2)


def test_small_rounds_rotate_through_the_games(services, tmp_path) -> None:
    rounds, _ = _selfplay(services, "--mode", "async", "--rounds", "3", "--games-per-round", "1",
                          games="taboo,wordle,referencegame")
    assert len(rounds) == 3 and all(r["episodes"] == 2 for r in rounds)
    services["trainer"].stop()
    games = {}
    for episode in EpisodeStore(tmp_path / "data" / "episodes.db").episodes():
        games.setdefault(episode.game, set()).add(episode.group_id)
    assert {game: len(groups) for game, groups in games.items()} == {"taboo": 1, "wordle": 1, "referencegame": 1}


def test_the_signal_curriculum_draws_games_by_their_groups_signal_and_keeps_it_across_restarts(services,
                                                                                                 tmp_path) -> None:
    state = tmp_path / "selfplay.json"
    flags = ("--mode", "async", "--games-per-round", "1", "--curriculum", "signal", "--state", str(state))
    games = "taboo,wordle,referencegame"
    rounds, _ = _selfplay(services, *flags, "--rounds", "3", games=games)
    saved = json.loads(state.read_text())
    assert len(rounds) == 3 and saved["next_round"] == 3 and sum(played for _, played in saved["signal"].values()) == 3
    more, _ = _selfplay(services, *flags, "--rounds", "2", games=games)
    assert [r["round"] for r in more] == [3, 4]
    saved = json.loads(state.read_text())
    assert saved["next_round"] == 5 and sum(played for _, played in saved["signal"].values()) == 5
    services["trainer"].stop()
    played = {}
    for episode in EpisodeStore(tmp_path / "data" / "episodes.db").episodes():
        played.setdefault(episode.game, set()).add(episode.group_id)
    assert {game: len(groups) for game, groups in played.items()} == {
        game: counts[1] for game, counts in saved["signal"].items()}


def test_bad_teacher_and_group_size_are_refused_with_a_message(services) -> None:
    finished = subprocess.run([str(TOOLS / "playpen-selfplay"), "--gamemaster", "x:1", "--trainer", "x:1",
                               "--policy", "x:1", "--teacher", "nonsense"], capture_output=True, text=True)
    assert finished.returncode == 2 and "GAME:ROLE=PLAYER" in finished.stderr
    finished = subprocess.run([str(TOOLS / "playpen-selfplay"), "--gamemaster", services["gamemaster"].target,
                               "--trainer", services["trainer"].target, "--policy", services["policy"].target,
                               "--group-size", "1"], capture_output=True, text=True)
    assert finished.returncode == 2 and "--group-size" in finished.stderr and "2" in finished.stderr


def test_an_unreachable_trainer_is_waited_for_then_given_up_on(tmp_path) -> None:
    _require()
    started = time.monotonic()
    finished = subprocess.run([str(TOOLS / "playpen-selfplay"), "--gamemaster", "localhost:1", "--trainer",
                               "localhost:1", "--policy", "localhost:1", "--patience-s", "8", "--metrics-port", "-1"],
                              capture_output=True, text=True, timeout=120)
    assert finished.returncode == 1 and "UNAVAILABLE" in finished.stderr
    # Retried with growing pauses (1 s, 2 s, ...), and gave up before a pause would outlast the patience.
    assert finished.stdout.count('"retrying"') >= 2 and 3 <= time.monotonic() - started < 60
