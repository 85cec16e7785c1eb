"""One game master target over several policy replicas: turns spread over them, a replica that dies or drains
mid-episode costs no episode (its turns are asked again on another), and a replica that starts behind the
announced version gets no call until it has caught up."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from playpen.common.v1 import episode_pb2
from playpen.gamemaster.v1 import gamemaster_pb2 as gm
from playpen.gamemaster.v1 import gamemaster_pb2_grpc
from playpen.policy.v1 import policy_pb2, policy_pb2_grpc
from playpen.trainer.v1 import trainer_pb2, trainer_pb2_grpc
from playpen_common import launcher
from tests.integration.conftest import TABOO_SCRIPT, write_script
from tests.integration.helpers import checkpoint, scrape, total, wait_until

pytestmark = pytest.mark.integration

REPLY_DELAY_S = 0.1  # every reply takes this long, so that calls are in flight when a replica goes
SLOW_SCRIPT = {**TABOO_SCRIPT, "rules": [{**rule, "delay_s": REPLY_DELAY_S} for rule in TABOO_SCRIPT["rules"]]}
GENERATE = 'method="/playpen.policy.v1.PolicyService/Generate"'


@pytest.fixture(scope="module")
def script(workdir: Path) -> Path:
    return write_script(workdir / "slow_taboo.json", SLOW_SCRIPT)


@pytest.fixture(scope="module")
def gamemaster(workdir: Path) -> Iterator[launcher.Service]:
    service = launcher.start("gamemaster-replicas", ["playpen-gamemaster", "--policy-timeout-s", "10"], workdir)
    yield service
    service.stop()


def start_replica(name: str, workdir: Path, script: Path, *flags: str, ready: bool = True) -> launcher.Service:
    return launcher.start(name, ["playpen-policy", "--backend", "scripted", "--script", str(script),
                                 "--grace-period-s", "5", *flags], workdir, wait_ready=ready)


def play(gamemaster: launcher.Service, target: str, episodes: int, on_episode=lambda count: None,
         ) -> list[episode_pb2.Episode]:
    """`episodes` taboo episodes (3 test instances, groups), 12 at a time; calls on_episode(n) after the n-th."""
    request = gm.PlayEpisodesRequest(games=["taboo"], split="test", instances_per_game=3,
                                     group_size=episodes // 3, concurrency=12,
                                     default_player=gm.PlayerConfig(policy=gm.PolicyEndpoint(target=target)))
    played = []
    with grpc.insecure_channel(gamemaster.target) as channel:
        for response in gamemaster_pb2_grpc.GameMasterServiceStub(channel).PlayEpisodes(request, timeout=120):
            played.append(response.episode)
            on_episode(len(played))
    assert len(played) == episodes
    return played


def assert_all_scored(episodes: list[episode_pb2.Episode]) -> None:
    for episode in episodes:
        assert episode.status == episode_pb2.EPISODE_STATUS_COMPLETED, (episode.episode_id, episode.error)
        assert episode.HasField("scores") and not episode.scores.aborted
        assert "Main Score" in episode.scores.episode


def generate_calls(replica: launcher.Service, code: str = "") -> float:
    """Generate calls the replica answered (with `code`, or any code)."""
    return sum(value for key, value in scrape(replica).items()
               if key.startswith(f'playpen_policy_rpc_duration_seconds_count{{code="{code}' if code else
                                 "playpen_policy_rpc_duration_seconds_count{") and GENERATE in key)


def served(replica: launcher.Service) -> float:
    return generate_calls(replica, "OK")


def test_a_replica_killed_and_one_drained_under_load_cost_no_episode(workdir, script, gamemaster) -> None:
    replicas = [start_replica(f"replica-{i}", workdir, script) for i in range(3)]
    killed, drained, survivor = replicas
    target = ",".join(r.target for r in replicas)
    before = scrape(gamemaster)
    served_by_killed = 0.0

    def disrupt(count: int) -> None:
        nonlocal served_by_killed
        if count == 6:
            served_by_killed = served(killed)
            killed.process.kill()  # SIGKILL: its in-flight calls break off
        elif count == 18:
            drained.process.terminate()  # SIGTERM: NOT_SERVING, finishes what it has, refuses the rest

    try:
        episodes = play(gamemaster, target, 36, disrupt)
        assert_all_scored(episodes)
        assert killed.process.wait(10) == -9
        assert drained.stop() == 0, drained.log()[-3000:]
        # Every replica had its share of the turns before it went; the survivor took over the rest.
        assert served_by_killed > 0 and served(survivor) > 0
        assert "draining" in drained.log()
        after = scrape(gamemaster)
        retries = total(after, "playpen_gamemaster_policy_retries_total") - \
            total(before, "playpen_gamemaster_policy_retries_total")
        assert retries > 0, "the killed replica had calls in flight: they must have been asked again"
        assert total(after, "playpen_gamemaster_retried_turn_latency_seconds_count") > 0
        infra = 'playpen_gamemaster_episodes_total{game="taboo",outcome="aborted",status="infra_failure"}'
        assert after.get(infra, 0) == before.get(infra, 0)
    finally:
        for replica in replicas:
            replica.stop()


class GatedTrainer(trainer_pb2_grpc.TrainerServiceServicer):
    """Announces `latest` at once (GetStatus) but streams its checkpoint only once `release` is called."""

    def __init__(self, latest) -> None:
        self.latest = latest
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()
        self._released: asyncio.Event | None = None
        self._server: grpc.aio.Server | None = None
        self.port = asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(10)

    async def _start(self) -> int:
        # The server and the event belong to the loop of this thread.
        self._released, self._server = asyncio.Event(), grpc.aio.server()
        trainer_pb2_grpc.add_TrainerServiceServicer_to_server(self, self._server)
        port = self._server.add_insecure_port("127.0.0.1:0")
        await self._server.start()
        return port

    def release(self) -> None:
        assert self._released is not None
        self.loop.call_soon_threadsafe(self._released.set)

    def close(self) -> None:
        assert self._server is not None
        asyncio.run_coroutine_threadsafe(self._server.stop(0), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)

    async def GetStatus(self, request, context):
        return trainer_pb2.GetStatusResponse(latest_version=self.latest.version)

    async def WatchCheckpoints(self, request, context):
        assert self._released is not None
        await self._released.wait()
        yield trainer_pb2.WatchCheckpointsResponse(checkpoint=self.latest)
        await asyncio.Event().wait()  # a live stream that announces nothing more


def status(replica: launcher.Service) -> policy_pb2.GetStatusResponse:
    with grpc.insecure_channel(replica.target) as channel:
        return policy_pb2_grpc.PolicyServiceStub(channel).GetStatus(policy_pb2.GetStatusRequest(), timeout=10)


def test_a_late_replica_gets_no_turn_until_it_has_caught_up(workdir, script, gamemaster) -> None:
    v3 = checkpoint(workdir / "checkpoints", 3)
    trainer = GatedTrainer(v3)
    current = [start_replica(f"current-{i}", workdir, script) for i in range(2)]
    late = None
    try:
        for replica in current:
            with grpc.insecure_channel(replica.target) as channel:
                policy_pb2_grpc.PolicyServiceStub(channel).LoadWeights(
                    policy_pb2.LoadWeightsRequest(checkpoint=v3), timeout=30)
        # The late replica binds its port, learns that version 3 is the newest, and waits for its checkpoint.
        late = start_replica("late", workdir, script, "--follow-trainer", f"127.0.0.1:{trainer.port}", ready=False)
        wait_until(lambda: scrape(late).get("playpen_policy_source_version") == 3, "the late replica to hear of v3")
        target = ",".join(r.target for r in [*current, late])

        behind = play(gamemaster, target, 12)
        assert_all_scored(behind)
        assert {t.generation.policy_version for e in behind for t in e.turns if t.HasField("generation")} == {3}
        assert status(late).policy_version == 0
        # Not even a refused call: the channel's health check kept every turn off the replica that was behind.
        assert generate_calls(late) == 0

        trainer.release()
        launcher.wait_healthy(late.target, timeout=30)
        assert status(late).policy_version == 3
        caught_up = play(gamemaster, target, 12)
        assert_all_scored(caught_up)
        assert {t.generation.policy_version for e in caught_up for t in e.turns if t.HasField("generation")} == {3}
        assert served(late) > 0, "once caught up, the late replica takes its share"
    finally:
        for replica in [*current, late]:
            if replica is not None:
                replica.stop()
        trainer.close()


def test_a_malformed_replica_list_is_an_invalid_argument(gamemaster) -> None:
    with pytest.raises(grpc.RpcError) as raised:
        play(gamemaster, "localhost:1,localhost", 3)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "'localhost' is not host:port" in raised.value.details()
