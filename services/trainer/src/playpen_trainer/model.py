"""The policy being trained, its frozen reference, its optimiser, and its checkpoints on disk.

A checkpoint is what the policy replicas load (services/policy, weights.py), so its format is a contract:
- full fine-tuning: `save_pretrained` of the same architecture — `model.safetensors` (+ `config.json`) whose
  tensor names and shapes are exactly the base checkpoint's (tied embeddings → no `lm_head` tensor), fp32;
- LoRA: PEFT's own `adapter_model.safetensors` + `adapter_config.json`, which vLLM loads as an adapter.
The manifest is not written here: the caller commits the directory (checkpoints.py).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from playpen_trainer.distributed import Parallel, Scorer, World

ADAPTER_WEIGHTS = "adapter_model.safetensors"
ADAPTER_CONFIG = "adapter_config.json"


@dataclass(frozen=True)
class LoraSettings:
    rank: int = 16
    alpha: int = 32
    targets: Sequence[str] = field(default=("q_proj", "k_proj", "v_proj", "o_proj"))
    #: LoRA's own dropout. Above 0 the training forward is stochastic, and so is the logprob-mismatch alarm
    #: computed from it; the policy samples without dropout.
    dropout: float = 0.0


def _silence_dropout(module: nn.Module) -> None:
    """Zero every dropout of the base model: the behaviour logprobs came from a model without dropout, and an
    importance ratio against a randomly thinned network would be noise, not policy change. (LoRA's own dropout
    is added afterwards, only if asked for.)"""
    for sub in module.modules():
        if isinstance(sub, nn.Dropout):
            sub.p = 0.0
        if isinstance(getattr(sub, "attention_dropout", None), float):
            sub.attention_dropout = 0.0  # attention layers pass this float to SDPA in training mode


class PolicyModel:
    """The trainable model: an HF causal LM, optionally wrapped as a PEFT LoRA model."""

    def __init__(self, module: nn.Module, base_model_dir: Path, lora: LoraSettings | None):
        self.module = module
        self.base_model_dir = base_model_dir
        self.lora = lora
        #: what the training forwards run through (distributed.Scorer, wrapped by DDP or FSDP in a multi-process
        #: world — see `parallelize`), and how the world is spread
        self.scorer: nn.Module = Scorer(module)
        self.parallel = Parallel(World(), "ddp", next(module.parameters()).device)
        #: dtype of the forwards under autocast (bf16 on a GPU), None for fp32
        self.autocast: torch.dtype | None = None

    @classmethod
    def load(cls, base_model_dir: Path, *, lora: LoraSettings | None = None, dtype: torch.dtype = torch.float32,
             device: str | torch.device = "cpu", gradient_checkpointing: bool = False) -> PolicyModel:
        """The weights stay in `dtype` (fp32: what the policy loads and the optimizer updates); on a GPU the
        forwards may run in bf16 under autocast (`autocast`)."""
        from transformers import AutoModelForCausalLM

        base_model_dir = Path(base_model_dir)
        module = AutoModelForCausalLM.from_pretrained(str(base_model_dir), dtype=dtype).to(device)
        _silence_dropout(module)
        if gradient_checkpointing:
            # Recompute each layer's activations in the backward instead of keeping them: activation memory
            # of one layer instead of all, for about one more forward. Non-reentrant, so LoRA (frozen inputs)
            # and FSDP work without tricks.
            if hasattr(module, "activation_checkpointing_enable"):  # transformers ≥ 5.x's name
                module.activation_checkpointing_enable({"use_reentrant": False})
            else:
                module.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        if lora is not None:
            from peft import LoraConfig, get_peft_model

            module = get_peft_model(module, LoraConfig(
                r=lora.rank, lora_alpha=lora.alpha, target_modules=list(lora.targets), lora_dropout=lora.dropout,
                bias="none", task_type="CAUSAL_LM"))
        module.train()
        return cls(module, base_model_dir, lora)

    @property
    def is_lora(self) -> bool:
        return self.lora is not None

    @property
    def causal_lm(self) -> nn.Module:
        """The HF model itself (inside the PEFT wrapper for LoRA, whose injected layers it then contains)."""
        return self.module.get_base_model() if self.is_lora else self.module

    def trainable_parameters(self) -> list[nn.Parameter]:
        return [p for p in self.module.parameters() if p.requires_grad]

    def parallelize(self, parallel, reference: ReferenceModel | None = None) -> None:
        """Spread the training forwards over `parallel`'s world (a no-op for one process). Call before the
        optimizer is made: sharding replaces the parameters. Every rank must hold the same weights already."""
        self.parallel = parallel
        self.scorer = parallel.wrap(Scorer(self.module), trainable=True)
        if reference is not None:
            reference.parallelize(parallel, self)

    def full_state(self) -> dict[str, torch.Tensor] | None:
        """For a sharded model, the whole state gathered on rank 0 (a collective: every rank calls it);
        None otherwise (save reads the module itself)."""
        state = self.parallel.full_state(self.scorer)
        if state is None:
            return None
        return {name.removeprefix("lm."): tensor for name, tensor in state.items()}

    # ------------------------------------------------------------------------------------------ checkpoints

    def save(self, directory: Path, state: dict[str, torch.Tensor] | None = None) -> None:
        """Write the weights the policy loads into `directory` (which the caller created and will commit);
        `state`: the gathered tensors of a sharded model (full_state), whose own parameters are shards."""
        # Full: transformers writes safetensors with shared tensors de-duplicated, so a tied lm_head is left out
        # exactly as in the base checkpoint, in the module's dtype (fp32 unless loaded otherwise). LoRA: the
        # PeftModel writes only the adapter, in PEFT's naming (no adapter name in the keys), which vLLM reads.
        if state is None:
            self.module.save_pretrained(str(directory))
            return
        config = self.causal_lm.config.get_text_config()
        if not self.is_lora and getattr(config, "tie_word_embeddings", False):
            # Gathered tensors are copies, so the tie is no longer visible to transformers: drop the head.
            state = {name: tensor for name, tensor in state.items() if name != "lm_head.weight"}
        self.module.save_pretrained(str(directory), state_dict=state)

    def load_state_from(self, directory: Path) -> None:
        """Restore the weights of one of our checkpoint directories (full or adapter, matching this model)."""
        directory = Path(directory)
        is_adapter = (directory / ADAPTER_CONFIG).is_file()
        if is_adapter != self.is_lora:
            raise ValueError(f"{directory} holds {'a LoRA adapter' if is_adapter else 'full weights'}, "
                             f"but this model trains {'LoRA' if self.is_lora else 'full weights'}")
        if self.is_lora:
            self._load_adapter(directory)
        else:
            self._load_full(directory)

    def _load_full(self, directory: Path) -> None:
        from safetensors.torch import load_file

        files = sorted(directory.glob("*.safetensors"))
        if not files:
            raise FileNotFoundError(f"{directory} holds no .safetensors files")
        state: dict[str, torch.Tensor] = {}
        for path in files:
            state.update(load_file(str(path)))
        model = self.module
        missing, unexpected = model.load_state_dict(state, strict=False)
        if unexpected:
            raise ValueError(f"{directory} has tensors this model lacks: {sorted(unexpected)[:3]}")
        # A missing name is acceptable only if it is tied to a loaded tensor (lm_head ↔ embed_tokens).
        params = dict(model.named_parameters(remove_duplicate=False)) | dict(model.named_buffers())
        loaded = {params[name].data_ptr() for name in state if name in params}
        untied = [name for name in missing if name in params and params[name].data_ptr() not in loaded]
        if untied:
            raise ValueError(f"{directory} lacks tensors of this model: {sorted(untied)[:3]}")

    def _load_adapter(self, directory: Path) -> None:
        from peft import set_peft_model_state_dict
        from safetensors.torch import load_file

        assert self.lora is not None
        config = json.loads((directory / ADAPTER_CONFIG).read_text())
        if config.get("r") != self.lora.rank or sorted(config.get("target_modules") or []) != sorted(self.lora.targets):
            raise ValueError(f"adapter in {directory} has rank {config.get('r')} on {config.get('target_modules')}, "
                             f"this model rank {self.lora.rank} on {list(self.lora.targets)}")
        state = load_file(str(directory / ADAPTER_WEIGHTS))
        result = set_peft_model_state_dict(self.module, state)
        if result.unexpected_keys:
            raise ValueError(f"adapter in {directory} has unexpected tensors: {sorted(result.unexpected_keys)[:3]}")
        not_set = [k for k in result.missing_keys if "lora_" in k]
        if not_set:
            raise ValueError(f"adapter in {directory} lacks tensors: {sorted(not_set)[:3]}")

    # ------------------------------------------------------------------------------------------ reference

    @classmethod
    def reference_for(cls, model: PolicyModel, base_model_dir: Path | None = None) -> ReferenceModel:
        """The frozen reference of the KL term, as cheaply as it can be had exactly.

        LoRA: the base model *is* the policy with its adapters switched off, so the reference costs no memory
        at all (PEFT's `disable_adapter()` around the reference forward). Full fine-tuning changes the base
        weights, so a second copy is unavoidable; it is frozen (no grads, no optimizer state, eval mode), i.e.
        one set of weights against the policy's weights + grads + two Adam moments.
        """
        if model.is_lora:
            return ReferenceModel(model.module, adapters_off=True)
        parameter = next(model.module.parameters())
        frozen = cls.load(Path(base_model_dir or model.base_model_dir), dtype=parameter.dtype,
                          device=parameter.device).module
        frozen.eval()
        frozen.requires_grad_(False)
        return ReferenceModel(frozen, adapters_off=False)


class ReferenceModel:
    """A module to run reference forwards with, under `no_grad` (see PolicyModel.reference_for)."""

    def __init__(self, module: nn.Module, *, adapters_off: bool):
        self._module = module
        self._adapters_off = adapters_off
        self._scorer: nn.Module = Scorer(module)

    @property
    def module(self) -> nn.Module:
        return self._module

    def parallelize(self, parallel, policy: PolicyModel) -> None:
        """LoRA: the policy's own forward with the adapters off (sharded if the policy is: its forward is then a
        collective). Full weights: a frozen copy, sharded like the policy under FSDP, whole on every rank else."""
        if self._adapters_off:
            self._scorer = policy.scorer if parallel.sharded else Scorer(self._module)
        else:
            self._scorer = parallel.wrap(Scorer(self._module), trainable=False)

    @contextmanager
    def active(self) -> Iterator[nn.Module]:
        if self._adapters_off:
            with self._module.disable_adapter():
                yield self._scorer
        else:
            yield self._scorer


def make_optimizer(model: PolicyModel, lr: float, weight_decay: float = 0.0,
                   betas: tuple[float, float] = (0.9, 0.999)) -> torch.optim.AdamW:
    """AdamW over the trainable parameters.

    Weight decay applies to matrices only: decaying norm gains and biases pulls them towards 0, not towards
    the pretrained values, which only hurts. The parameter order is the module's, so an optimizer state saved
    by one process loads into the next. The fused kernel (CPU and CUDA) is several times faster than the
    per-tensor loop on a model with hundreds of tensors.
    """
    params = model.trainable_parameters()
    decayed = [p for p in params if p.dim() >= 2]
    plain = [p for p in params if p.dim() < 2]
    groups = [{"params": decayed, "weight_decay": weight_decay}, {"params": plain, "weight_decay": 0.0}]
    groups = [g for g in groups if g["params"]]
    device = params[0].device.type if params else "cpu"
    fused = device in ("cpu", "cuda") and all(p.dtype in (torch.float32, torch.bfloat16, torch.float16) for p in params)
    return torch.optim.AdamW(groups, lr=lr, betas=betas, fused=fused)
