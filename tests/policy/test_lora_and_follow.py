"""LoRA adapters, the drain swap mode, and follow mode (a checkpoint directory, a trainer stream)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from playpen.common.v1 import checkpoint_pb2
from playpen.policy.v1 import policy_pb2, policy_pb2_grpc
from playpen.trainer.v1 import trainer_pb2, trainer_pb2_grpc
from playpen_common import launcher
from tests.policy.conftest import make_checkpoint, make_lora, start_policy
from tests.policy.test_vllm_policy import PROMPTS, _load_under_traffic, reference, request


def _status(target: str) -> policy_pb2.GetStatusResponse:
    with grpc.insecure_channel(target) as channel:
        return policy_pb2_grpc.PolicyServiceStub(channel).GetStatus(policy_pb2.GetStatusRequest(), timeout=30)


def _wait_for_version(target: str, version: int, timeout: float = 60.0) -> None:
    with grpc.insecure_channel(target) as channel:
        stub = policy_pb2_grpc.PolicyServiceStub(channel)
        for _ in range(int(timeout / 0.2)):
            if stub.GetStatus(policy_pb2.GetStatusRequest(), timeout=30).policy_version == version:
                return
            threading.Event().wait(0.2)
    raise AssertionError(f"the policy did not reach version {version} within {timeout} s")


@pytest.fixture(scope="module")
def follow_root(workdir: Path) -> Path:
    root = workdir / "checkpoints"
    make_checkpoint(root, 1, seed=1)  # committed before the replica starts: it must catch up
    return root


@pytest.fixture(scope="module")
def loaded_root(workdir: Path) -> Path:
    """Where the adapters LoadWeights loads lie: with --checkpoint-roots, nothing outside the roots is loaded."""
    return workdir / "loaded"


@pytest.fixture(scope="module")
def lora_policy(workdir: Path, tiny_model: Path, follow_root: Path, loaded_root: Path) -> Iterator[launcher.Service]:
    # --stage-copy: full swaps here take the worker-side copy path (the other policy fixture maps shards).
    service = start_policy("lora-policy", workdir, tiny_model, "--enable-lora", "true", "--max-lora-rank", "8",
                           "--reload-mode", "drain", "--follow-dir", str(follow_root), "--follow-poll-s", "0.2",
                           "--stage-copy", "true", "--checkpoint-roots", str(loaded_root))
    yield service
    assert service.stop() == 0, service.log()[-3000:]


def test_a_late_replica_catches_up_before_it_is_ready(lora_policy) -> None:
    status = _status(lora_policy.target)
    assert status.policy_version == 1 and status.state == policy_pb2.SERVING_STATE_READY


def test_lora_adapters_serve_exactly_their_weights_and_swap_under_load(lora_policy, follow_root, tiny_model,
                                                                       loaded_root) -> None:
    base = Path(follow_root / "v00000001")
    first, merged_first = make_lora(loaded_root, 20, seed=20, base=base)
    second, merged_second = make_lora(loaded_root, 21, seed=21, base=base)
    replies = asyncio.run(_load_under_traffic(lora_policy.target, [first, second]))
    weights = {1: base, 20: merged_first, 21: merged_second}
    assert {version for _, version, _ in replies} <= set(weights) and 21 in {v for _, v, _ in replies}
    for prompt, version, tokens in replies:
        assert tokens == reference(weights[version], tiny_model, prompt)[1], (prompt, version)
    assert _status(lora_policy.target).kind == checkpoint_pb2.CHECKPOINT_KIND_LORA


def test_following_a_directory_and_draining_swaps(lora_policy, follow_root, tiny_model) -> None:
    newer = make_checkpoint(follow_root, 30, seed=30)
    _wait_for_version(lora_policy.target, 30)
    with grpc.insecure_channel(lora_policy.target) as channel:
        reply = policy_pb2_grpc.PolicyServiceStub(channel).Generate(request(PROMPTS[1]), timeout=60)
    assert reply.policy_version == 30
    assert tuple(reply.completion_token_ids) == reference(Path(newer.uri), tiny_model, PROMPTS[1])[1]
    replies = asyncio.run(_load_under_traffic(lora_policy.target, [make_checkpoint(follow_root / "x", 31, seed=31)]))
    assert {version for _, version, _ in replies} == {30, 31}


class _Trainer(trainer_pb2_grpc.TrainerServiceServicer):
    """Just enough of a trainer: its status, and WatchCheckpoints sending the latest checkpoint, then each new one."""

    def __init__(self) -> None:
        self.checkpoints: list[checkpoint_pb2.CheckpointRef] = []
        self.changed: asyncio.Condition | None = None

    async def GetStatus(self, request, context):
        return trainer_pb2.GetStatusResponse(latest_version=self.checkpoints[-1].version if self.checkpoints else 0)

    async def WatchCheckpoints(self, request, context):
        assert self.changed is not None
        sent = request.after_version
        while True:
            async with self.changed:
                await self.changed.wait_for(lambda sent=sent: self.checkpoints[-1].version > sent)
                latest = self.checkpoints[-1]
            sent = latest.version
            yield trainer_pb2.WatchCheckpointsResponse(checkpoint=latest)


@pytest.fixture(scope="module")
def fake_trainer(workdir: Path) -> Iterator[tuple[_Trainer, int, asyncio.AbstractEventLoop]]:
    trainer = _Trainer()
    trainer.checkpoints.append(make_checkpoint(workdir / "trainer", 40, seed=40))
    ready, stop = threading.Event(), threading.Event()
    state: dict = {}

    async def serve() -> None:
        trainer.changed = asyncio.Condition()
        server = grpc.aio.server()
        trainer_pb2_grpc.add_TrainerServiceServicer_to_server(trainer, server)
        state["port"], state["loop"] = server.add_insecure_port("127.0.0.1:0"), asyncio.get_running_loop()
        await server.start()
        ready.set()
        while not stop.is_set():
            await asyncio.sleep(0.1)
        await server.stop(0)

    thread = threading.Thread(target=lambda: asyncio.run(serve()), daemon=True)
    thread.start()
    ready.wait(10)
    yield trainer, state["port"], state["loop"]
    stop.set()
    thread.join(10)


def test_following_a_trainer_stream(workdir, tiny_model, fake_trainer) -> None:
    trainer, port, loop = fake_trainer
    service = start_policy("trainer-policy", workdir, tiny_model, "--follow-trainer", f"127.0.0.1:{port}")
    try:
        assert _status(service.target).policy_version == 40  # the latest, loaded before ready

        async def publish() -> None:
            async with trainer.changed:
                trainer.checkpoints.append(make_checkpoint(workdir / "trainer", 41, seed=41))
                trainer.changed.notify_all()

        asyncio.run_coroutine_threadsafe(publish(), loop).result(60)
        _wait_for_version(service.target, 41)
    finally:
        assert service.stop() == 0, service.log()[-3000:]
