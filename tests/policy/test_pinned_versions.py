"""One engine, many versions: requests pin LoRA versions the policy finds under its checkpoint root, each
reply is exactly its version's weights, and the adapter LRU evicts and reloads without failing a request."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from playpen.policy.v1 import policy_pb2, policy_pb2_grpc
from playpen_common import launcher
from tests.policy.conftest import make_checkpoint, make_lora, start_policy
from tests.policy.test_vllm_policy import PROMPTS, reference, request


def pinned(prompt: str, version: int) -> policy_pb2.GenerateRequest:
    message = request(prompt)
    message.policy_version = version
    return message


@pytest.fixture(scope="module")
def versions_root(workdir: Path, tiny_model: Path) -> tuple[Path, dict[int, Path]]:
    root = workdir / "versions"
    _, merged_1 = make_lora(root, 1, seed=1, base=tiny_model)
    _, merged_2 = make_lora(root, 2, seed=2, base=tiny_model)
    make_checkpoint(root, 3, seed=3)  # full weights: never pinned beside the engine's own
    return root, {0: tiny_model, 1: merged_1, 2: merged_2}


@pytest.fixture(scope="module")
def versions_policy(workdir: Path, tiny_model: Path, versions_root) -> Iterator[launcher.Service]:
    service = start_policy("versions-policy", workdir, tiny_model, "--enable-lora", "true", "--max-lora-rank", "8",
                           "--max-adapters", "1", "--checkpoint-roots", str(versions_root[0]))
    yield service
    assert service.stop() == 0, service.log()[-3000:]


def test_each_pinned_version_replies_with_its_own_weights_on_one_engine(versions_policy, versions_root,
                                                                        tiny_model) -> None:
    weights = versions_root[1]
    with grpc.insecure_channel(versions_policy.target) as channel:
        stub = policy_pb2_grpc.PolicyServiceStub(channel)

        def check(version: int | None, prompt: str) -> tuple[int, ...]:
            reply = stub.Generate(request(prompt) if version is None else pinned(prompt, version), timeout=120)
            assert reply.policy_version == (version or 0)
            assert tuple(reply.completion_token_ids) == reference(weights[version or 0], tiny_model, prompt)[1]
            return tuple(reply.completion_token_ids)

        replies = {version: [check(version, prompt) for prompt in PROMPTS[:2]] for version in (None, 1, 2)}
        assert replies[None] != replies[1] and replies[1] != replies[2] and replies[None] != replies[2]
        status = stub.GetStatus(policy_pb2.GetStatusRequest(), timeout=30)
        assert status.policy_version == 0 and list(status.held_versions) == [0, 2]  # one adapter: 1 was evicted
        check(1, PROMPTS[2])  # loaded again
        assert list(stub.GetStatus(policy_pb2.GetStatusRequest(), timeout=30).held_versions) == [0, 1]

        for version, reason in ((3, "full-weights checkpoint"), (9, "not held by this policy")):
            with pytest.raises(grpc.RpcError) as refused:
                stub.Generate(pinned(PROMPTS[0], version), timeout=60)
            assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
            assert reason in refused.value.details()


def test_concurrent_pins_of_two_versions_never_mix_or_fail(versions_policy, versions_root, tiny_model) -> None:
    weights = versions_root[1]

    async def traffic() -> list:
        async with grpc.aio.insecure_channel(versions_policy.target) as channel:
            stub = policy_pb2_grpc.PolicyServiceStub(channel)
            calls = [(PROMPTS[i % 4], 1 + i % 2) for i in range(8)]
            replies = await asyncio.gather(*(stub.Generate(pinned(p, v), timeout=120) for p, v in calls))
            return list(zip(calls, replies, strict=True))

    for (prompt, version), reply in asyncio.run(traffic()):
        assert reply.policy_version == version
        assert tuple(reply.completion_token_ids) == reference(weights[version], tiny_model, prompt)[1]
