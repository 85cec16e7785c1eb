"""SIGTERM drain of every gRPC service (self-play is a client, not a server; the trainer's is in
tests/reliability/trainer): health turns NOT_SERVING within 1 s of the signal, the call in flight then finishes
successfully, and the process exits 0 having logged "stopped".

The 1 s bound is the issue's pass criterion: a readiness probe must see the drain before the endpoint's next
check. The services flip health first thing in their SIGTERM handler (milliseconds); 1 s is the slack.
"""

from __future__ import annotations

import threading

import grpc
import pytest

from playpen.common.v1 import chat_pb2, episode_pb2
from playpen.evaluator.v1 import evaluator_pb2, evaluator_pb2_grpc
from playpen.gamemaster.v1 import gamemaster_pb2 as gm
from playpen.gamemaster.v1 import gamemaster_pb2_grpc
from playpen.policy.v1 import policy_pb2, policy_pb2_grpc
from playpen_common import launcher as servers
from tests.integration.conftest import write_script
from tests.integration.helpers import checkpoint, scrape
from tests.reliability.support import Drain, HealthWatch, sigterm_drain

pytestmark = pytest.mark.integration
NOT_SERVING_WITHIN_S = 1.0


def assert_drained(drain: Drain, service: servers.Service) -> None:
    assert drain.not_serving_s is not None and drain.not_serving_s < NOT_SERVING_WITHIN_S, drain
    assert drain.in_flight_ok, (drain.in_flight_error, service.log()[-3000:])
    assert drain.exit_status == 0, service.log()[-3000:]
    assert drain.stopped_logged


@pytest.fixture
def slow_taboo_policy(tmp_path):
    script = write_script(tmp_path / "slow.json", {"rules": [
        {"when": r"\AGUESS:", "reply": "CLUE: think again", "delay_s": 0.3},
        {"when": "You are the describer", "reply": "CLUE: a thing", "delay_s": 0.3},
        {"when": r"CLUE:[^\n]*\Z", "reply": "GUESS: thing", "delay_s": 0.3},
    ], "default": "slowly"})
    policy = servers.start("slow-policy", ["playpen-policy", "--backend", "scripted", "--script", str(script)],
                           tmp_path)
    yield policy
    policy.stop()


def test_game_master_drains_in_flight_episodes_and_exits_zero(tmp_path, slow_taboo_policy) -> None:
    """Pass: NOT_SERVING < 1 s after SIGTERM; the PlayEpisodes stream in flight delivers all 3 episodes, each
    COMPLETED with its 6 turns; exit 0 with "draining" and "stopped" logged."""
    gamemaster = servers.start("gamemaster-drain", ["playpen-gamemaster", "--grace-period-s", "30"], tmp_path)
    received: list[episode_pb2.Episode] = []
    first = threading.Event()
    try:
        with grpc.insecure_channel(gamemaster.target) as channel:
            stub = gamemaster_pb2_grpc.GameMasterServiceStub(channel)
            request = gm.PlayEpisodesRequest(
                games=["taboo"], split="validation", instances_per_game=3, concurrency=1,
                default_player=gm.PlayerConfig(policy=gm.PolicyEndpoint(target=slow_taboo_policy.target)))

            def play() -> None:
                # One episode at a time, 6 turns x 0.3 s each: once the first has arrived, two are still to come.
                for response in stub.PlayEpisodes(request, timeout=60):
                    received.append(response.episode)
                    first.set()

            drain = sigterm_drain(gamemaster, play, first.is_set)
        assert_drained(drain, gamemaster)
        assert len(received) == 3
        assert all(e.status == episode_pb2.EPISODE_STATUS_COMPLETED for e in received)
        assert all(e.outcome == episode_pb2.GAME_OUTCOME_LOSE and len(e.turns) == 6 for e in received)
        assert '"draining"' in gamemaster.log()
    finally:
        gamemaster.stop()


def test_scripted_policy_drains_a_generate_in_flight_and_exits_zero(tmp_path) -> None:
    """Pass: NOT_SERVING < 1 s after SIGTERM; a Generate that takes 2 s and was running when the signal came
    returns its reply; exit 0."""
    script = write_script(tmp_path / "script.json", {"rules": [{"when": "slow", "reply": "done", "delay_s": 2.0}]})
    policy = servers.start("policy-drain", ["playpen-policy", "--backend", "scripted", "--script", str(script)],
                           tmp_path)
    replies = []
    try:
        with grpc.insecure_channel(policy.target) as channel:
            stub = policy_pb2_grpc.PolicyServiceStub(channel)

            def generate() -> None:
                replies.append(stub.Generate(policy_pb2.GenerateRequest(
                    messages=[chat_pb2.ChatMessage(role="user", content="slow please")]), timeout=30))

            drain = sigterm_drain(policy, generate,
                                  lambda: scrape(policy).get("playpen_policy_running_requests", 0) > 0)
        assert_drained(drain, policy)
        assert [reply.text for reply in replies] == ["done"]
    finally:
        policy.stop()


def test_evaluator_drains_an_evaluation_in_flight_and_exits_zero(tmp_path, slow_taboo_policy) -> None:
    """Pass: NOT_SERVING < 1 s after SIGTERM; an EvaluateCheckpoint that was playing its episodes when the
    signal came returns its result (version 3, every taboo episode counted); exit 0."""
    gamemaster = servers.start("gm-for-evaluator", ["playpen-gamemaster"], tmp_path)
    evaluator = servers.start("evaluator-drain", [
        "playpen-evaluator", "--gamemaster-target", gamemaster.target, "--eval-policy-target",
        slow_taboo_policy.target, "--state-dir", str(tmp_path / "state"), "--seen-games", "taboo",
        "--unseen-games", "", "--instances-per-game", "2", "--concurrency", "1", "--skills", "false",
        "--grace-period-s", "60"], tmp_path)
    results = []
    try:
        with grpc.insecure_channel(evaluator.target) as channel:
            stub = evaluator_pb2_grpc.EvaluatorServiceStub(channel)
            ref = checkpoint(tmp_path / "checkpoints", 3)

            def evaluate() -> None:
                results.append(stub.EvaluateCheckpoint(evaluator_pb2.EvaluateCheckpointRequest(checkpoint=ref),
                                                       timeout=120).result)

            drain = sigterm_drain(evaluator, evaluate,
                                  lambda: scrape(slow_taboo_policy).get("playpen_policy_running_requests", 0) > 0)
        assert_drained(drain, evaluator)
        assert [(result.version, [game.game for game in result.games]) for result in results] == [(3, ["taboo"])]
    finally:
        evaluator.stop()
        gamemaster.stop()


def test_a_health_watch_does_not_hold_the_drain_for_the_grace_period(tmp_path) -> None:
    """Pass: with a client watching health (as health-checked channels do) and a 600 s grace period, SIGTERM ends
    the Watch stream with OK right after NOT_SERVING, and the server exits 0 within 60 s — it does not wait out
    the grace period for a stream that never ends by itself."""
    policy = servers.start("policy-watched", ["playpen-policy", "--backend", "scripted", "--grace-period-s", "600",
                                              "--drain-notice-s", "0"], tmp_path)
    try:
        watch = HealthWatch(policy.target)
        policy.process.send_signal(15)
        assert policy.process.wait(60) == 0
        watch.close()
        assert [status for _, status in watch.changes] == ["SERVING", "NOT_SERVING"]
        assert watch.ended == "OK"
    finally:
        policy.stop()
