"""The vLLM policy over gRPC: token-level outputs equal transformers', weight swaps under load never fail a
request nor mix versions, bad checkpoints are refused while the old weights keep serving."""

from __future__ import annotations

import asyncio
import math
import shutil
from functools import lru_cache
from pathlib import Path

import grpc
import pytest

from playpen.common.v1 import chat_pb2, checkpoint_pb2
from playpen.policy.v1 import policy_pb2, policy_pb2_grpc
from tests.policy.conftest import make_checkpoint

PROMPTS = ["CLUE: a cold season", "Answer: first", "Command: put an X", "The quick brown fox",
           "GUESS: winter", "ASIDE: yes", "explanation: common letters", "the lazy dog"]
MAX_TOKENS = 12


def request(prompt: str, max_tokens: int = MAX_TOKENS) -> policy_pb2.GenerateRequest:
    return policy_pb2.GenerateRequest(messages=[chat_pb2.ChatMessage(role="user", content=prompt)],
                                      sampling=chat_pb2.SamplingParams(temperature=0.0, max_tokens=max_tokens))


@lru_cache(maxsize=16)
def reference(weights: Path, tokenizer_dir: Path, prompt: str, steps: int = MAX_TOKENS) -> tuple:
    """Greedy continuation and its logprobs under transformers, fp32, for the weights in `weights`."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_dir))
    model = AutoModelForCausalLM.from_pretrained(str(weights), dtype=torch.float32).eval()
    ids = tokenizer.apply_chat_template([{"role": "user", "content": prompt}], add_generation_prompt=True,
                                        tokenize=True, return_dict=False)
    tokens, logprobs = list(ids), []
    with torch.no_grad():
        for _ in range(steps):
            logits = model(torch.tensor([tokens])).logits[0, -1].float()
            log_softmax = torch.log_softmax(logits, dim=-1)
            token = int(torch.argmax(log_softmax))
            tokens.append(token)
            logprobs.append(float(log_softmax[token]))
            if token == tokenizer.eos_token_id:
                break
    return tuple(ids), tuple(tokens[len(ids):]), tuple(logprobs)


def test_generate_returns_tokens_and_logprobs_equal_to_transformers(stub, tiny_model) -> None:
    for prompt in PROMPTS[:3]:
        response = stub.Generate(request(prompt), timeout=60)
        prompt_ids, tokens, logprobs = reference(tiny_model, tiny_model, prompt)
        assert list(response.prompt_token_ids) == list(prompt_ids)
        assert list(response.completion_token_ids) == list(tokens)
        assert response.completion_logprobs == pytest.approx(logprobs, abs=1e-4)
        assert response.policy_version == 0 and response.model == "model"
        assert response.finish_reason in (chat_pb2.FINISH_REASON_LENGTH, chat_pb2.FINISH_REASON_STOP)
        assert response.timings.total_s >= response.timings.first_token_s > 0


def test_sampling_with_a_seed_is_reproducible_and_stops_apply(stub) -> None:
    sampled = policy_pb2.GenerateRequest(
        messages=[chat_pb2.ChatMessage(role="user", content="the lazy dog")],
        sampling=chat_pb2.SamplingParams(temperature=1.0, top_p=0.9, top_k=50, max_tokens=10, seed=7))
    first, second = stub.Generate(sampled, timeout=60), stub.Generate(sampled, timeout=60)
    assert first.completion_token_ids == second.completion_token_ids
    assert all(math.isfinite(x) and x <= 0 for x in first.completion_logprobs)
    with pytest.raises(grpc.RpcError) as raised:
        stub.Generate(policy_pb2.GenerateRequest(messages=[chat_pb2.ChatMessage(role="robot", content="x")]),
                      timeout=60)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def _load(target: str, ref: checkpoint_pb2.CheckpointRef) -> None:
    async with grpc.aio.insecure_channel(target) as channel:
        await policy_pb2_grpc.PolicyServiceStub(channel).LoadWeights(
            policy_pb2.LoadWeightsRequest(checkpoint=ref), timeout=120)


async def _load_under_traffic(target: str, refs: list[checkpoint_pb2.CheckpointRef]) -> list:
    """Eight clients send greedy requests back to back while `refs` are loaded one after the other."""
    replies: list = []
    failures: list = []
    stop = asyncio.Event()

    async def client(index: int) -> None:
        async with grpc.aio.insecure_channel(target) as channel:
            stub = policy_pb2_grpc.PolicyServiceStub(channel)
            n = 0
            while not stop.is_set() or n < 2:
                prompt = PROMPTS[(index + n) % len(PROMPTS)]
                try:
                    response = await stub.Generate(request(prompt), timeout=120)
                    replies.append((prompt, response.policy_version, tuple(response.completion_token_ids)))
                except grpc.aio.AioRpcError as error:
                    failures.append(error)
                n += 1

    clients = [asyncio.create_task(client(i)) for i in range(8)]
    await asyncio.sleep(0.5)
    for ref in refs:
        await _load(target, ref)
        await asyncio.sleep(0.3)
    stop.set()
    await asyncio.gather(*clients)
    assert not failures, failures
    return replies


def test_swaps_under_load_fail_nothing_and_never_mix_versions(policy, tiny_model, tmp_path) -> None:
    v1, v2 = make_checkpoint(tmp_path, 1, seed=1), make_checkpoint(tmp_path, 2, seed=2)
    rollback = checkpoint_pb2.CheckpointRef()
    rollback.CopyFrom(v1)
    replies = asyncio.run(_load_under_traffic(policy.target, [v1, v2, rollback]))
    weights = {0: tiny_model, 1: Path(v1.uri), 2: Path(v2.uri)}
    assert {version for _, version, _ in replies} == {0, 1, 2}
    for prompt, version, tokens in replies:
        # Greedy decoding is deterministic: a reply equals the continuation of exactly the version it names.
        assert tokens == reference(weights[version], tiny_model, prompt)[1], (prompt, version)
    with grpc.insecure_channel(policy.target) as channel:
        status = policy_pb2_grpc.PolicyServiceStub(channel).GetStatus(policy_pb2.GetStatusRequest(), timeout=30)
    assert status.policy_version == 1 and status.state == policy_pb2.SERVING_STATE_READY


def _refused(stub, ref: checkpoint_pb2.CheckpointRef, code=grpc.StatusCode.FAILED_PRECONDITION) -> str:
    with pytest.raises(grpc.RpcError) as raised:
        stub.LoadWeights(policy_pb2.LoadWeightsRequest(checkpoint=ref), timeout=120)
    assert raised.value.code() == code
    return raised.value.details()


def test_bad_checkpoints_are_refused_and_the_old_weights_keep_serving(stub, tiny_model, tmp_path) -> None:
    good = make_checkpoint(tmp_path, 5, seed=5)
    stub.LoadWeights(policy_pb2.LoadWeightsRequest(checkpoint=good), timeout=120)
    expected = reference(Path(good.uri), tiny_model, PROMPTS[0])[1]

    corrupt = make_checkpoint(tmp_path / "corrupt", 6, seed=6)
    weights = Path(corrupt.uri) / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    assert "corrupt" in _refused(stub, corrupt)

    partial = make_checkpoint(tmp_path / "partial", 7, seed=7)
    weights = Path(partial.uri) / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    assert "partial" in _refused(stub, partial)

    wider = make_checkpoint(tmp_path / "wider", 8, seed=8, hidden=128)
    assert "shape" in _refused(stub, wider)

    missing = checkpoint_pb2.CheckpointRef()
    missing.CopyFrom(good)
    missing.version = 9
    missing.uri = str(tmp_path / "nowhere")
    assert "does not exist" in _refused(stub, missing)

    lora = make_checkpoint(tmp_path / "lora", 10, seed=10, kind=checkpoint_pb2.CHECKPOINT_KIND_LORA)
    assert "LoRA" in _refused(stub, lora)

    status = stub.GetStatus(policy_pb2.GetStatusRequest(), timeout=30)
    assert status.policy_version == 5
    assert tuple(stub.Generate(request(PROMPTS[0]), timeout=60).completion_token_ids) == expected
    shutil.rmtree(tmp_path, ignore_errors=True)


def _shards(ref: checkpoint_pb2.CheckpointRef) -> list[str]:
    return sorted(f.path for f in ref.files if f.path.endswith(".safetensors"))


def test_a_sharded_checkpoint_verifies_and_serves_exactly_its_weights(stub, tiny_model, tmp_path) -> None:
    sharded = make_checkpoint(tmp_path, 11, seed=11, max_shard_size="100KB")
    assert len(_shards(sharded)) >= 3
    assert "model.safetensors.index.json" in {f.path for f in sharded.files}
    stub.LoadWeights(policy_pb2.LoadWeightsRequest(checkpoint=sharded), timeout=120)
    for prompt in PROMPTS[:2]:
        reply = stub.Generate(request(prompt), timeout=60)
        assert reply.policy_version == 11
        assert tuple(reply.completion_token_ids) == reference(Path(sharded.uri), tiny_model, prompt)[1]


def test_a_shard_corrupted_after_the_manifest_is_refused_and_the_previous_version_keeps_serving(
        stub, tiny_model, tmp_path) -> None:
    good = make_checkpoint(tmp_path, 12, seed=12, max_shard_size="100KB")
    stub.LoadWeights(policy_pb2.LoadWeightsRequest(checkpoint=good), timeout=120)
    expected = reference(Path(good.uri), tiny_model, PROMPTS[1])[1]

    bad = make_checkpoint(tmp_path / "bad", 13, seed=13, max_shard_size="100KB")
    shard = Path(bad.uri) / _shards(bad)[1]
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0x40  # a weight, same size: the manifest's hash alone can tell
    shard.write_bytes(bytes(data))
    assert "corrupt" in _refused(stub, bad)

    status = stub.GetStatus(policy_pb2.GetStatusRequest(), timeout=30)
    assert status.policy_version == 12 and status.state == policy_pb2.SERVING_STATE_READY
    reply = stub.Generate(request(PROMPTS[1]), timeout=60)
    assert reply.policy_version == 12 and tuple(reply.completion_token_ids) == expected
