"""Oversized or malformed requests to the game master are INVALID_ARGUMENT with a short message, and the service
stays up: a huge run_id, too many list entries, a deep JSON document, a replay without replies, a huge name; and the
largest allowed request leaves it answering health checks."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from playpen.gamemaster.v1 import gamemaster_pb2 as gm
from playpen.gamemaster.v1 import gamemaster_pb2_grpc
from playpen_common import launcher

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def service(workdir: Path) -> Iterator[launcher.Service]:
    service = launcher.start("gamemaster-bounds", ["playpen-gamemaster"], workdir)
    yield service
    assert service.stop() == 0


@pytest.fixture(scope="module")
def stub(service) -> Iterator[gamemaster_pb2_grpc.GameMasterServiceStub]:
    with grpc.insecure_channel(service.target, options=[("grpc.max_send_message_length", 64 << 20)]) as channel:
        yield gamemaster_pb2_grpc.GameMasterServiceStub(channel)


def refusal(call) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as raised:
        call()
    return raised.value.code(), raised.value.details()


def play(stub, **fields):
    return list(stub.PlayEpisodes(gm.PlayEpisodesRequest(**fields), timeout=30))


@pytest.mark.parametrize(("fields", "names"), [
    ({"games": ["taboo"], "run_id": "r" * 10_000_000, "group_size": 16}, "run_id has 10000000 characters"),
    ({"games": ["taboo" * 1000]}, "games has 5000 characters"),
    ({"games": ["g"] * 10_001}, "games has 10001 entries"),
    ({"games": ["nope-" + str(k) for k in range(50)]}, "and 45 more"),
    ({"games": ["taboo"], "default_player": gm.PlayerConfig(policy=gm.PolicyEndpoint(target="x" * 5000 + ":1"))},
     "default_player.policy.target has 5002 characters"),
])
def test_oversized_play_requests_are_refused_briefly(stub, fields, names) -> None:
    code, details = refusal(lambda: play(stub, **fields))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and names in details
    assert len(details) < 400


def test_replays_without_replies_or_with_deep_json_are_refused(stub) -> None:
    instance = json.dumps({"game_id": 0})
    code, details = refusal(lambda: stub.ReplayEpisode(gm.ReplayEpisodeRequest(
        game="taboo", experiment_json="{}", instance_json=instance), timeout=30))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "recorded replies" in details
    deep = "[" * 100_000 + "]" * 100_000
    for document in (deep, '{"a": ' * 50 + "1" + "}" * 50):
        code, details = refusal(lambda document=document: stub.ReplayEpisode(gm.ReplayEpisodeRequest(
            game="taboo", experiment_json="{}", instance_json=document,
            replies=[gm.RecordedReplies(role="Describer", replies=["x"])]), timeout=30))
        assert code == grpc.StatusCode.INVALID_ARGUMENT and "nested deeper" in details
    code, details = refusal(lambda: stub.ReplayEpisode(gm.ReplayEpisodeRequest(game="q" * 10_000_000), timeout=30))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and len(details) < 400
    # Still serving after all of it.
    assert stub.ListGames(gm.ListGamesRequest(), timeout=10).games


def test_health_answers_while_the_largest_allowed_request_is_planned(stub, service) -> None:
    """100,000 episodes (the allowed maximum) are planned in a thread and started by a few workers: the event loop
    keeps answering health checks meanwhile (the issue's criterion: within 1 s; before, over 2 s here and 10 s
    on a busy node)."""
    latencies: list[float] = []
    done = threading.Event()
    with grpc.insecure_channel(service.target) as channel:
        health = health_pb2_grpc.HealthStub(channel)

        def probe() -> None:
            while not done.is_set():
                started = time.perf_counter()
                health.Check(health_pb2.HealthCheckRequest(), timeout=30)
                latencies.append(time.perf_counter() - started)
                done.wait(0.02)

        prober = threading.Thread(target=probe)
        prober.start()
        try:
            stream = stub.PlayEpisodes(gm.PlayEpisodesRequest(
                games=["taboo"], instances_per_game=100, group_size=1000, run_id="big",
                default_player=gm.PlayerConfig(builtin="expert")), timeout=120)
            first = [next(stream) for _ in range(10)]
            stream.cancel()
        finally:
            done.set()
            prober.join()
    # Episodes start in plan order: the first to finish are all of the first instance's group of 1,000.
    assert len({item.episode.episode_id for item in first}) == 10
    assert len({item.episode.group_id for item in first}) == 1 and first[0].episode.run_id == "big"
    print(f"health during planning of 100,000 episodes: {len(latencies)} checks, "
          f"max {max(latencies):.3f} s, median {sorted(latencies)[len(latencies) // 2]:.4f} s")
    assert max(latencies) < 1.0
