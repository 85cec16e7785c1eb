"""How the vLLM engine is built from the policy's settings: which model directory, which device, which knobs."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from playpen_policy.settings import PolicySettings


def resolve_model_dir(model: str) -> Path:
    path = Path(model).expanduser()
    if path.is_dir():
        return path
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(model, local_files_only=True))
    except Exception as exc:
        raise FileNotFoundError(f"model {model!r} is neither a directory nor in the local HF cache "
                                f"(run `make setup` to convert the default model)") from exc


def choose_device(settings: PolicySettings) -> str:
    """cpu or cuda: `auto` takes CUDA when a device is visible."""
    import torch

    wanted = settings.device
    if wanted == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if wanted == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device=cuda but no CUDA device is visible (this environment's vLLM build is CPU-only?)")
    return wanted


def engine_args(settings: PolicySettings, model_dir: Path, served_name: str) -> Any:
    """vLLM's AsyncEngineArgs; on CPU the KV cache size and the cores are set through the environment vLLM reads
    (the engine's worker process reads it when it starts)."""
    from vllm.engine.arg_utils import AsyncEngineArgs

    on_cpu = choose_device(settings) == "cpu"
    if on_cpu and settings.tensor_parallel_size > 1:
        raise RuntimeError("tensor_parallel_size > 1 needs CUDA devices; on CPU run more replicas instead")
    if on_cpu:
        os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", str(settings.cpu_kv_cache_gib))
        if settings.cpu_cores:
            os.environ.setdefault("VLLM_CPU_OMP_THREADS_BIND", settings.cpu_cores)
    dtype = settings.dtype if settings.dtype != "auto" else ("float32" if on_cpu else "bfloat16")
    fraction = settings.memory_fraction or (0.3 if on_cpu else 0.9)
    eager = settings.enforce_eager if settings.enforce_eager is not None else on_cpu
    return AsyncEngineArgs(
        model=str(model_dir), served_model_name=served_name, dtype=dtype, seed=settings.seed,
        max_model_len=settings.max_model_len or None, gpu_memory_utilization=fraction, enforce_eager=eager,
        tensor_parallel_size=settings.tensor_parallel_size, enable_prefix_caching=settings.enable_prefix_caching,
        max_num_batched_tokens=settings.max_num_batched_tokens or None,
        enable_lora=settings.enable_lora, max_lora_rank=settings.max_lora_rank, max_loras=2,
        # vLLM's own CPU cache holds at least every adapter our LRU holds, so it never drops one underneath.
        max_cpu_loras=max(2, settings.max_adapters) if settings.enable_lora else None,
        disable_log_stats=True, worker_extension_cls="playpen_policy.worker_extension.PlaypenWorkerExtension",
    )
