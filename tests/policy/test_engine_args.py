"""The engine sizing settings reach vLLM's engine arguments (tensor parallelism, memory share)."""

from __future__ import annotations

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
