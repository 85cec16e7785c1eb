"""Typed settings of the policy service (environment prefix PLAYPEN_POLICY_)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from playpen_common.defaults import default_model_dir, grpc_port, metrics_port
from playpen_common.settings import ServiceSettings


class PolicySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="PLAYPEN_POLICY_")

    port: int = Field(grpc_port("policy"), ge=0, le=65535, description="gRPC port; 0 picks a free one")
    metrics_port: int = Field(metrics_port("policy"), ge=-1, le=65535,
                              description="Prometheus /metrics HTTP port; 0 picks a free one, -1 disables")
    drain_notice_s: float = Field(
        1.0, ge=0, description="on SIGTERM, how long health says NOT_SERVING (and new Generate calls get UNAVAILABLE) "
                               "before the server stops taking calls, so that clients move to other replicas, s")
    backend: Literal["vllm", "scripted"] = Field("vllm", description="engine behind the API")
    model: str = Field(default_factory=lambda: str(default_model_dir()),
                       description="HF model directory (or a model id in the local HF cache)")
    model_name: str = Field("", description="name reported for the served model (default: the model's folder)")
    max_prompt_chars: int = Field(1 << 20, ge=1, description="longest accepted prompt, characters in all")
    default_max_tokens: int = Field(256, ge=1, description="generated tokens when a request sets no max_tokens")

    # vLLM
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="where the engine runs")
    dtype: str = Field("auto", description="weights dtype; auto = float32 on CPU, bfloat16 on CUDA")
    max_model_len: int = Field(0, ge=0, description="longest prompt + completion, tokens; 0 = the model's own")
    memory_fraction: float = Field(
        0.0, ge=0, le=1, description="share of memory for weights + KV cache (vLLM's gpu_memory_utilization; "
                                     "on CPU a share of host memory); 0 = 0.3 on CPU, 0.9 on CUDA")
    tensor_parallel_size: int = Field(
        1, ge=1, description="GPUs the engine shards the model over (vLLM's tensor_parallel_size); CUDA only")
    cpu_kv_cache_gib: int = Field(
        2, ge=1, description="CPU only: KV cache size, whole GiB (vLLM's VLLM_CPU_KVCACHE_SPACE, which wins if "
                             "set); vLLM's own default takes a share of all memory and makes first requests slow")
    cpu_cores: str = Field(
        "", description="CPU only: cores the engine computes on, a list such as 0-3 or 0,2 (vLLM's "
                        "VLLM_CPU_OMP_THREADS_BIND, which wins if set); empty = vLLM's auto, which on x86 leaves one "
                        "core per engine to its scheduler; `nobind` leaves placement to the OS")
    enable_prefix_caching: bool = Field(
        True, description="keep computed KV blocks for reuse: each dialogue's growing prefix is prefilled once, "
                          "not again on every turn")
    max_num_batched_tokens: int = Field(
        0, ge=0, description="tokens the engine computes in one step (prefill chunks + decodes); 0 = vLLM's default")
    enforce_eager: bool | None = Field(None, description="skip graph capture (fast start); default: on CPU only")
    enable_lora: bool = Field(False, description="serve LoRA adapters (LoadWeights of kind LORA)")
    max_lora_rank: int = Field(16, ge=1, description="largest LoRA rank accepted")
    max_adapters: int = Field(
        4, ge=1, description="LoRA adapters (versions) held at once, the current one included; pinning one more "
                             "evicts the least recently used idle one")
    checkpoint_roots: str = Field(
        "", description="comma-separated folders of committed checkpoints (v*/manifest.json) where a pinned "
                        "version this policy does not hold is looked up; follow_dir is always one. When any is "
                        "set, LoadWeights and followed checkpoints must lie under them too (symlinks resolved; "
                        "INVALID_ARGUMENT otherwise); none set: a checkpoint may be anywhere")
    reload_mode: Literal["restart", "drain"] = Field(
        "restart", description="full-weight swap: restart = abort in-flight requests and run them again on the "
                               "new weights (fast swap); drain = let them finish first")
    read_workers: int = Field(
        0, ge=0, description="checkpoint shards read and hashed at once during a swap; 0 = min(8, CPU cores)")
    stage_copy: bool = Field(
        False, description="full-weight swap: read shards into private memory rather than mapping them (one "
                           "more copy; the loaded bytes stay the hashed ones even if a file is rewritten in place)")
    warmup: bool = Field(True, description="run a short generation before reporting ready")
    seed: int = Field(0, description="engine seed")

    # follow mode: load every committed checkpoint
    follow_trainer: str = Field("", description="host:port of a TrainerService whose checkpoints to follow")
    follow_evaluator: str = Field(
        "", description="host:port of an EvaluatorService whose promoted checkpoints to follow (eval-gated serving)")
    follow_dir: Path | None = Field(None, description="checkpoint root (v*/manifest.json) to follow without trainer")
    follow_poll_s: float = Field(1.0, gt=0, description="how often follow_dir is scanned, seconds")

    # scripted backend
    script: Path | None = Field(None, description="scripted backend: rules file (default: the built-in one)")

    @property
    def version_roots(self) -> list[Path]:
        roots = [Path(part.strip()) for part in self.checkpoint_roots.split(",") if part.strip()]
        if self.follow_dir is not None:
            roots.append(self.follow_dir)
        return list(dict.fromkeys(roots))

    @model_validator(mode="after")
    def _one_source(self) -> PolicySettings:
        if bool(self.follow_trainer) + bool(self.follow_evaluator) + (self.follow_dir is not None) > 1:
            raise ValueError("follow one of a trainer, an evaluator or a checkpoint directory, not several")
        return self
