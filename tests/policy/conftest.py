"""Fixtures of the policy tests. They run in the policy's own environment (.venv-policy: vLLM, torch,
transformers) against real `playpen-policy` processes serving a tiny random model built on the fly."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from playpen.common.v1 import checkpoint_pb2
from playpen.policy.v1 import policy_pb2_grpc
from playpen_common import launcher
from playpen_common.checkpoints import commit_manifest, version_dir
from tests.conftest import unavailable
from tests.tiny_model import build_tiny_model

try:
    import vllm  # noqa: F401 — a broken vLLM install must fail CI, not skip the policy tests
except ImportError as error:
    unavailable(f"vLLM cannot be imported ({error}); policy tests run in the policy environment (.venv-policy)")

# Two cores: vLLM takes one for its engine, the test process and gRPC share the other.
SERVER_ENV = {"VLLM_CPU_KVCACHE_SPACE": "1", "OMP_NUM_THREADS": "1"}


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "model")


def make_checkpoint(root: Path, version: int, seed: int, *, kind=checkpoint_pb2.CHECKPOINT_KIND_FULL,
                    hidden: int = 64, max_shard_size: str | None = None) -> checkpoint_pb2.CheckpointRef:
    """A committed full-weights checkpoint: the tiny model's architecture with weights drawn from `seed`
    (in several shards with their index when `max_shard_size` is given)."""
    directory = version_dir(root, version)
    build_tiny_model(directory, seed=seed, hidden=hidden, max_shard_size=max_shard_size)
    for name in os.listdir(directory):  # a weights checkpoint holds weights only
        if not name.endswith((".safetensors", ".safetensors.index.json")) and name != "config.json":
            os.remove(directory / name)
    return commit_manifest(directory, checkpoint_pb2.CheckpointRef(version=version, kind=kind, step=version))


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("policy")


def start_policy(name: str, workdir: Path, model: Path, *flags: str) -> launcher.Service:
    return launcher.start(name, ["playpen-policy", "--model", str(model), *flags], workdir, env=SERVER_ENV,
                          timeout=240)


@pytest.fixture(scope="module")
def policy(workdir: Path, tiny_model: Path) -> Iterator[launcher.Service]:
    service = start_policy("policy", workdir, tiny_model, "--reload-mode", "restart")
    yield service
    assert service.stop() == 0, service.log()[-3000:]


@pytest.fixture(scope="module")
def stub(policy: launcher.Service) -> Iterator[policy_pb2_grpc.PolicyServiceStub]:
    with grpc.insecure_channel(policy.target) as channel:
        yield policy_pb2_grpc.PolicyServiceStub(channel)


def make_lora(root: Path, version: int, seed: int, base: Path, *, rank: int = 8,
              alpha: int = 16) -> tuple[checkpoint_pb2.CheckpointRef, Path]:
    """A committed PEFT LoRA adapter on q_proj/v_proj, and beside it the base weights with the adapter merged
    in (W + alpha/rank · B·A), which transformers can run as the reference."""
    import json

    import torch
    from safetensors.torch import load_file, save_file

    directory = version_dir(root, version)
    directory.mkdir(parents=True)
    weights = load_file(str(base / "model.safetensors"))
    generator = torch.Generator().manual_seed(seed)
    adapter = {}
    for name in [n for n in weights if n.endswith(("q_proj.weight", "v_proj.weight"))]:
        out_features, in_features = weights[name].shape
        a = torch.randn(rank, in_features, generator=generator) * 0.3
        b = torch.randn(out_features, rank, generator=generator) * 0.3
        prefix = "base_model.model." + name.removesuffix(".weight")
        adapter[f"{prefix}.lora_A.weight"], adapter[f"{prefix}.lora_B.weight"] = a, b
        weights[name] = weights[name] + (alpha / rank) * (b @ a)
    save_file(adapter, str(directory / "adapter_model.safetensors"))
    (directory / "adapter_config.json").write_text(json.dumps({
        "peft_type": "LORA", "task_type": "CAUSAL_LM", "r": rank, "lora_alpha": alpha, "lora_dropout": 0.0,
        "target_modules": ["q_proj", "v_proj"], "bias": "none", "fan_in_fan_out": False,
        "base_model_name_or_path": str(base)}))
    merged = root / f"merged-{version}"
    merged.mkdir()
    save_file(weights, str(merged / "model.safetensors"), metadata={"format": "pt"})
    (merged / "config.json").write_text((base / "config.json").read_text())
    ref = commit_manifest(directory, checkpoint_pb2.CheckpointRef(
        version=version, kind=checkpoint_pb2.CHECKPOINT_KIND_LORA, step=version))
    return ref, merged
