"""SIGTERM: health turns NOT_SERVING, in-flight calls finish within the grace period, exit status 0."""

from __future__ import annotations

import threading

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from playpen.common.v1 import episode_pb2
from playpen.gamemaster.v1 import gamemaster_pb2 as gm
from playpen.gamemaster.v1 import gamemaster_pb2_grpc
from playpen_common import launcher as servers
from tests.integration.conftest import write_script

pytestmark = pytest.mark.integration


def test_sigterm_drains_in_flight_episodes_and_exits_zero(workdir) -> None:
    script = write_script(workdir / "slow.json", {"rules": [
        {"when": r"\AGUESS:", "reply": "CLUE: think again", "delay_s": 0.3},
        {"when": "You are the describer", "reply": "CLUE: a thing", "delay_s": 0.3},
        {"when": r"CLUE:[^\n]*\Z", "reply": "GUESS: thing", "delay_s": 0.3},
    ]})
    policy = servers.start("slow-policy", ["playpen-policy", "--backend", "scripted", "--script", str(script)], workdir)
    gamemaster = servers.start("gamemaster-drain", ["playpen-gamemaster", "--grace-period-s", "30"], workdir)
    try:
        channel = grpc.insecure_channel(gamemaster.target)
        stub = gamemaster_pb2_grpc.GameMasterServiceStub(channel)
        request = gm.PlayEpisodesRequest(
            games=["taboo"], split="validation", instances_per_game=3, concurrency=1,
            default_player=gm.PlayerConfig(policy=gm.PolicyEndpoint(target=policy.target)))
        stream = stub.PlayEpisodes(request, timeout=60)
        received: list[episode_pb2.Episode] = []
        first = threading.Event()

        def consume() -> None:
            for response in stream:
                received.append(response.episode)
                first.set()

        reader = threading.Thread(target=consume)
        reader.start()
        # One episode at a time, 6 turns x 0.3 s each: once the first has arrived, two are still to come.
        assert first.wait(60)
        health = health_pb2_grpc.HealthStub(channel)
        assert health.Check(health_pb2.HealthCheckRequest(), timeout=10).status == \
            health_pb2.HealthCheckResponse.SERVING
        gamemaster.process.send_signal(15)
        reader.join(60)
        assert gamemaster.process.wait(60) == 0
        assert len(received) == 3
        assert all(e.status == episode_pb2.EPISODE_STATUS_COMPLETED for e in received)
        assert all(e.outcome == episode_pb2.GAME_OUTCOME_LOSE and len(e.turns) == 6 for e in received)
        assert '"draining"' in gamemaster.log() and '"stopped"' in gamemaster.log()
        channel.close()
    finally:
        gamemaster.stop()
        policy.stop()
