"""Typed settings of the offline commands `playpen-trainer sft` and `playpen-trainer dpo` (flags, or the
environment with prefixes PLAYPEN_TRAINER_SFT_ and PLAYPEN_TRAINER_DPO_)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from playpen_common.defaults import default_model_dir
from playpen_common.settings import CommandSettings

#: settings that do not change what is trained, left out of the config hash
NOT_TRAINING = ("out", "report", "dry_run", "version", "log_level", "log_format")


class OfflineSettings(CommandSettings):
    episodes: list[Path] = Field(
        description="episodes.jsonl files, directories of them, or the trainer's episode store (.db/.sqlite); "
                    "repeat the flag or separate with commas")
    base_model: Path = Field(default_factory=default_model_dir, description="HF model directory to start from")
    out: Path = Field(description="checkpoint root; the checkpoint is written to <out>/v<version>/")
    version: int = Field(1, gt=0, description="version of the committed checkpoint")
    learner: str = Field("", description="policy label (generation.policy) to learn from; empty: every model turn")
    games: list[str] = Field(default_factory=list, description="only these games (default: all)")
    lora: bool = Field(False, description="train a LoRA adapter instead of all weights")
    lora_rank: int = Field(16, ge=1, description="LoRA rank")
    lora_alpha: int = Field(32, ge=1, description="LoRA alpha")
    lora_targets: str = Field("q_proj,k_proj,v_proj,o_proj", description="comma-separated module names")
    epochs: float = Field(1.0, gt=0, description="passes over the data (ignored when max-steps is set)")
    max_steps: int = Field(0, ge=0, description="optimiser steps (0: as many as the epochs take)")
    batch_size: int = Field(4, ge=1, description="examples (pairs, for DPO) per device step")
    grad_accum: int = Field(1, ge=1, description="gradient accumulation steps per optimiser step")
    max_length: int = Field(2048, ge=16, description="tokens per sequence; longer examples are windowed or dropped")
    seed: int = Field(0, description="seed of shuffling, pair sampling and initialisation")
    bf16: bool = Field(False, description="bf16 autocast (weights stay and are saved in fp32)")
    gradient_checkpointing: bool = Field(False, description="recompute activations to save memory")
    report: Path | None = Field(None, description="also write the report here (it is always printed and kept "
                                                  "in the checkpoint)")
    dry_run: bool = Field(False, description="build the dataset and print the report; train nothing")


class SftSettings(OfflineSettings):
    """Supervised fine-tuning on successful episodes (every learner reply a target)."""

    model_config = SettingsConfigDict(env_prefix="PLAYPEN_TRAINER_SFT_")

    lr: float = Field(2e-5, gt=0, description="learning rate")
    overflow: Literal["window", "drop"] = Field(
        "window", description="too long: keep the last turns that fit (window) or drop the example")
    train_invalid_replies: bool = Field(
        False, description="also imitate learner replies that were parse errors or rule violations "
                           "(default: context only)")


class DpoSettings(OfflineSettings):
    """DPO on success-vs-failure pairs of the same instance and learner role."""

    model_config = SettingsConfigDict(env_prefix="PLAYPEN_TRAINER_DPO_")

    lr: float = Field(1e-6, gt=0, description="learning rate")
    level: Literal["dialogue", "turn", "both"] = Field(
        "both", description="pairs of whole dialogues, of turns (the first diverging one), or both")
    beta: float = Field(0.1, gt=0, description="DPO beta (strength of the pull towards the reference)")
    max_pairs_per_group: int = Field(0, ge=0, description="cap per instance, role and level (0: no cap)")


SETTINGS = {"sft": SftSettings, "dpo": DpoSettings}
