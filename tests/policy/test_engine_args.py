"""The engine sizing settings reach vLLM's engine arguments (tensor parallelism, memory share, prefix caching,
batch size, cores)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from playpen_policy.settings import PolicySettings
from playpen_policy.vllm_engine import engine_args


def test_tensor_parallel_size_and_memory_fraction_reach_the_engine(tiny_model: Path) -> None:
    settings = PolicySettings(_cli_parse_args=["--device", "cpu", "--memory-fraction", "0.25"])
    args = engine_args(settings, tiny_model, "tiny")
    assert (args.tensor_parallel_size, args.gpu_memory_utilization) == (1, 0.25)


def test_tensor_parallelism_on_cpu_is_refused_with_the_alternative() -> None:
    settings = PolicySettings(_cli_parse_args=["--device", "cpu", "--tensor-parallel-size", "2"])
    with pytest.raises(RuntimeError, match="on CPU run more replicas instead"):
        engine_args(settings, Path("unused"), "tiny")


def test_prefix_caching_batch_size_and_cores_reach_the_engine(tiny_model: Path, monkeypatch) -> None:
    monkeypatch.setenv("VLLM_CPU_OMP_THREADS_BIND", "")  # recorded, so the test's own setting is undone
    monkeypatch.delenv("VLLM_CPU_OMP_THREADS_BIND")
    settings = PolicySettings(_cli_parse_args=["--device", "cpu", "--enable-prefix-caching", "false",
                                               "--max-num-batched-tokens", "1024", "--cpu-cores", "0-1"])
    args = engine_args(settings, tiny_model, "tiny")
    assert (args.enable_prefix_caching, args.max_num_batched_tokens) == (False, 1024)
    assert os.environ["VLLM_CPU_OMP_THREADS_BIND"] == "0-1"


def test_by_default_prefix_caching_is_on_and_vllm_picks_the_batch_and_the_cores(tiny_model: Path,
                                                                                 monkeypatch) -> None:
    monkeypatch.setenv("VLLM_CPU_OMP_THREADS_BIND", "")  # recorded, so the test's own setting is undone
    monkeypatch.delenv("VLLM_CPU_OMP_THREADS_BIND")
    args = engine_args(PolicySettings(_cli_parse_args=["--device", "cpu"]), tiny_model, "tiny")
    assert (args.enable_prefix_caching, args.max_num_batched_tokens) == (True, None)
    assert "VLLM_CPU_OMP_THREADS_BIND" not in os.environ
