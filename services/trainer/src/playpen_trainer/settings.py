"""Typed settings of the trainer service (environment prefix PLAYPEN_TRAINER_)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from playpen_common.defaults import default_model_dir, grpc_port, metrics_port
from playpen_common.settings import ServiceSettings


class TrainerSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="PLAYPEN_TRAINER_")

    port: int = Field(grpc_port("trainer"), ge=0, le=65535, description="gRPC port; 0 picks a free one")
    metrics_port: int = Field(metrics_port("trainer"), ge=-1, le=65535,
                              description="Prometheus /metrics HTTP port; 0 picks a free one, -1 disables")
    data_dir: Path = Field(Path("trainer-data"), description="episode store, checkpoints and trainer state")
    base_model: str = Field(default_factory=lambda: str(default_model_dir()),
                            description="HF model directory the policy starts from")
    init_from: str = Field("", description=("warm-start weights (a full HF model directory, e.g. an SFT checkpoint): "
                                            "a fresh run commits them as version 1 and uses them as the KL "
                                            "reference; with --lora they are the base the adapter trains over "
                                            "(serve them as the policy's model) and version 1 is the untrained "
                                            "adapter, which changes nothing"))
    algorithm: Literal["grpo"] = Field("grpo", description="online algorithm (SFT and DPO are offline commands)")
    learner: str = Field("", description="policy label whose turns are trained (empty: every model turn)")

    # model and optimiser
    lora: bool = Field(False, description="train a LoRA adapter instead of all weights")
    lora_rank: int = Field(16, ge=1, description="LoRA rank")
    lora_alpha: int = Field(32, ge=1, description="LoRA alpha")
    lora_targets: str = Field("q_proj,k_proj,v_proj,o_proj", description="comma-separated module names")
    lr: float = Field(1e-5, gt=0, description="learning rate")
    weight_decay: float = Field(0.0, ge=0, description="AdamW weight decay")
    max_grad_norm: float = Field(1.0, gt=0, description="gradient clipping norm")
    torch_threads: int = Field(0, ge=0, description="CPU threads for torch; 0 = torch's default")
    device: str = Field("auto", pattern=r"^(auto|cpu|cuda(:\d+)?)$",
                        description="auto (the local rank's GPU if CUDA is present, else CPU), cpu, cuda, cuda:N")
    precision: Literal["auto", "fp32", "bf16"] = Field(
        "auto", description="forward precision: auto = bf16 autocast on a GPU, fp32 on CPU; weights stay fp32")
    gradient_checkpointing: bool = Field(False, description="recompute activations in the backward (less memory)")
    parallel: Literal["ddp", "fsdp"] = Field(
        "ddp", description="under torchrun: ddp (whole model per rank) or fsdp (FSDP2 sharded weights and state)")
    dist_timeout_s: float = Field(1800.0, gt=0, description="timeout of one collective between ranks, seconds")
    seed: int = Field(0, description="seed of the trainer's random state")

    # GRPO
    group_size: int = Field(8, ge=2, description="episodes per group (the game master's group_size)")
    groups_per_step: int = Field(4, ge=1, description="groups consumed by one optimiser step")
    max_staleness: int = Field(2, ge=0, description="episodes more than this many versions old are dropped")
    clip_low: float = Field(0.2, ge=0, description="PPO clip range below 1")
    clip_high: float = Field(0.28, ge=0, description="PPO clip range above 1")
    kl_coef: float = Field(0.0, ge=0, description="weight of the KL term to the reference (base) model")
    micro_batch_tokens: int = Field(4096, ge=64, description="tokens per forward/backward micro-batch")
    aborted_reward: float = Field(-0.5, description="game reward of an aborted episode")
    format_credit: float = Field(0.0, ge=0, description="shaping: credit for well-formed learner turns (0 = off)")
    flat_groups: Literal["drop", "train"] = Field(
        "train", description="a group whose rewards are all equal has no advantage, so no policy gradient: drop sets "
                            "it aside and a step waits for groups_per_step groups with signal; train keeps it in the "
                            "batch, where its tokens dilute the step (and, with kl_coef > 0, its KL term trains)")

    # ingestion and checkpoints
    max_buffered: int = Field(4096, ge=1, description="stored but untrained episodes before ingestion slows down")
    checkpoint_every: int = Field(1, ge=1, description="optimiser steps per committed checkpoint")
    keep_last: int = Field(3, ge=1, description="committed checkpoints kept besides the best")

    @property
    def adapter_base(self) -> str:
        """The full weights the committed checkpoints apply to: a LoRA adapter's base is the warm start."""
        return self.init_from if self.lora and self.init_from else self.base_model
