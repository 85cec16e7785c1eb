"""The TRL side of offline SFT and DPO: model loading, the trainers on our pre-tokenised datasets, and the
committed checkpoint. Imported only by the commands (it pulls torch, transformers, TRL).

Both trainers get token ids and masks we built (chat_tokens.py), so TRL never tokenises, truncates or guesses an
assistant mask: SFTTrainer takes a dataset that already has `input_ids` and `labels` as it is (and with
`max_length=None` it truncates nothing); DPOTrainer always re-tokenises prompt/chosen/rejected text, so a small
subclass hands it our ids instead, with a collator whose completion mask covers the learner replies only — the
game master's text between the replies of a dialogue-level pair is context, as it is in SFT and GRPO.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig, PrinterCallback, TrainerCallback
from trl import DPOConfig, DPOTrainer, SFTConfig, SFTTrainer

from playpen.common.v1 import checkpoint_pb2
from playpen_common.checkpoints import MANIFEST, commit_manifest, version_dir


@dataclass
class TrainResult:
    steps: int
    losses: list[float] = field(default_factory=list)
    runtime_s: float = 0.0

    def summary(self) -> dict[str, Any]:
        return {"steps": self.steps, "loss_first": self.losses[0] if self.losses else None,
                "loss_last": self.losses[-1] if self.losses else None, "runtime_s": round(self.runtime_s, 2)}


class _LossLog(TrainerCallback):
    """Every logged training loss, in order (logging every step, so first and last are the first and last step).

    Progress goes to stderr, one line a step: stdout carries only the command's JSON report, so Trainer's own
    printer (which writes log dicts to stdout) is taken out."""

    def __init__(self) -> None:
        self.losses: list[float] = []

    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs and "loss" in logs:
            self.losses.append(float(logs["loss"]))
            print(f"step {state.global_step}/{state.max_steps} loss {float(logs['loss']):.4f}", file=sys.stderr)


def load_tokenizer(base_model: Path) -> Any:
    return AutoTokenizer.from_pretrained(str(base_model))


def end_of_turn_ids(base_model: Path, tokenizer: Any) -> set[int]:
    """Tokens that end a reply: the tokenizer's EOS and every EOS the generation config stops at (chat models
    often end a turn with a token other than the tokenizer's EOS)."""
    ids = {tokenizer.eos_token_id} if tokenizer.eos_token_id is not None else set()
    try:
        configured = GenerationConfig.from_pretrained(str(base_model)).eos_token_id
    except OSError:
        configured = None
    ids.update([configured] if isinstance(configured, int) else configured or [])
    return ids


def load_model(base_model: Path) -> Any:
    # fp32 weights: the policy's checkpoints are fp32 and so is every tensor we publish (--bf16 only autocasts).
    model = AutoModelForCausalLM.from_pretrained(str(base_model), dtype=torch.float32)
    model.config.use_cache = False
    return model


def lora_config(options: Any) -> Any:
    if not options.lora:
        return None
    from peft import LoraConfig

    return LoraConfig(r=options.lora_rank, lora_alpha=options.lora_alpha, lora_dropout=0.0, bias="none",
                      target_modules=[t for t in options.lora_targets.split(",") if t], task_type="CAUSAL_LM")


def _common_args(options: Any, work_dir: Path) -> dict[str, Any]:
    # use_cpu without CUDA: transformers refuses bf16 autocast on CPU unless told the CPU is meant.
    return dict(
        use_cpu=not torch.cuda.is_available(), output_dir=str(work_dir), learning_rate=options.lr,
        num_train_epochs=options.epochs, max_steps=options.max_steps if options.max_steps > 0 else -1,
        per_device_train_batch_size=options.batch_size, gradient_accumulation_steps=options.grad_accum,
        seed=options.seed, data_seed=options.seed, bf16=options.bf16, fp16=False,
        gradient_checkpointing=options.gradient_checkpointing, logging_steps=1, save_strategy="no",
        report_to=[], disable_tqdm=True, dataloader_num_workers=0, dataloader_pin_memory=torch.cuda.is_available(),
        max_length=None)


def _run(trainer: Any, losses: _LossLog) -> TrainResult:
    trainer.remove_callback(PrinterCallback)
    started = time.perf_counter()
    trainer.train()
    return TrainResult(steps=trainer.state.global_step, losses=losses.losses,
                       runtime_s=time.perf_counter() - started)


def train_sft(model: Any, tokenizer: Any, rows: list[dict[str, list[int]]], options: Any,
              work_dir: Path) -> tuple[Any, TrainResult]:
    from datasets import Dataset

    losses = _LossLog()
    trainer = SFTTrainer(model=model, args=SFTConfig(**_common_args(options, work_dir)),
                         train_dataset=Dataset.from_list(rows), processing_class=tokenizer,
                         peft_config=lora_config(options), callbacks=[losses])
    result = _run(trainer, losses)
    return trainer.model, result


@dataclass
class MaskedPreferenceCollator:
    """Chosen rows then rejected rows (the order DPOTrainer splits the batch in), right-padded; the completion mask
    marks learner-reply tokens only, so a dialogue's log-probability sums over the learner's own tokens."""

    pad_token_id: int

    def __call__(self, examples: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        sequences, masks = [], []
        for side in ("chosen", "rejected"):
            for example in examples:
                sequences.append(example["prompt_ids"] + example[f"{side}_ids"])
                masks.append([0] * len(example["prompt_ids"]) + example[f"{side}_mask"])
        width = max(len(s) for s in sequences)
        batch = {"input_ids": torch.full((len(sequences), width), self.pad_token_id, dtype=torch.long),
                 "attention_mask": torch.zeros((len(sequences), width), dtype=torch.long),
                 "completion_mask": torch.zeros((len(sequences), width), dtype=torch.long)}
        for row, (sequence, mask) in enumerate(zip(sequences, masks, strict=True)):
            batch["input_ids"][row, :len(sequence)] = torch.tensor(sequence)
            batch["attention_mask"][row, :len(sequence)] = 1
            batch["completion_mask"][row, :len(mask)] = torch.tensor(mask)
        return batch


class PretokenizedDPOTrainer(DPOTrainer):
    """DPOTrainer on rows that are already `prompt_ids`/`chosen_ids`/`rejected_ids` with per-token masks."""

    def _prepare_dataset(self, dataset, processing_class, args, dataset_name):
        return dataset  # tokenised and length-checked by chat_tokens.ChatEncoder.encode_pair


def train_dpo(model: Any, tokenizer: Any, rows: list[dict[str, list[int]]], options: Any,
              work_dir: Path) -> tuple[Any, TrainResult]:
    from datasets import Dataset

    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    peft = lora_config(options)
    # The reference is the base: with LoRA, the policy with its adapter switched off (no second copy); for full
    # fine-tuning, a frozen copy of the base loaded here rather than by TRL from whatever the config names.
    reference = None if peft is not None else load_model(Path(options.base_model))
    args = DPOConfig(**_common_args(options, work_dir), beta=options.beta, remove_unused_columns=False)
    losses = _LossLog()
    trainer = PretokenizedDPOTrainer(
        model=model, ref_model=reference, args=args, train_dataset=Dataset.from_list(rows),
        processing_class=tokenizer, data_collator=MaskedPreferenceCollator(tokenizer.pad_token_id),
        peft_config=peft, callbacks=[losses])
    result = _run(trainer, losses)
    return trainer.model, result


def commit_checkpoint(model: Any, tokenizer: Any, out_root: Path, *, version: int, step: int, base_model: str,
                      config_hash: str, report: dict[str, Any]) -> checkpoint_pb2.CheckpointRef:
    """Write the weights and the report into a staging directory, rename it to v<version>, then commit.

    A full model is saved with the base's tensor names and shapes (save_pretrained of the same architecture, fp32)
    plus its tokenizer, so the directory is also a base model for a next run (SFT, then DPO). A LoRA run saves
    PEFT's adapter directory. The report is inside, so the manifest's checksums cover it too.
    """
    out_root.mkdir(parents=True, exist_ok=True)
    target = version_dir(out_root, version)
    if (target / MANIFEST).is_file():
        raise FileExistsError(f"{target} is already a committed checkpoint; choose another --version")
    from peft import PeftModel

    is_lora = isinstance(model, PeftModel)
    staging = out_root / f".staging-v{version}-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    model.save_pretrained(str(staging))
    if not is_lora:
        tokenizer.save_pretrained(str(staging))
    (staging / "training_report.json").write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
    shutil.rmtree(target, ignore_errors=True)  # an uncommitted leftover of a run that died before its manifest
    os.replace(staging, target)
    kind = checkpoint_pb2.CHECKPOINT_KIND_LORA if is_lora else checkpoint_pb2.CHECKPOINT_KIND_FULL
    return commit_manifest(target, checkpoint_pb2.CheckpointRef(
        version=version, kind=kind, step=step, base_model=base_model, config_hash=config_hash))
