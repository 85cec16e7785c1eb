"""The trainer as one process or as N processes under torchrun: the device, the process group, the wrapping.

One code path serves both. A `World` of size 1 turns every collective into the identity, so the single-process
trainer runs exactly the code a rank of a multi-process one does. Under torchrun (RANK/WORLD_SIZE/LOCAL_RANK in
the environment) the ranks form a process group — NCCL between GPUs, gloo on CPU — plus a gloo *control* group
over which rank 0 tells the others what to do next (a step and its share of the samples, a checkpoint, stop).
Rank 0 alone owns the gRPC service, the episode store and the ledger; the other ranks only compute.

Two ways to spread the model (`parallel`):
- ddp: every rank holds the whole model; gradients are all-reduced (torch's DistributedDataParallel). For
  models that fit one device, LoRA or full.
- fsdp: parameters, gradients and optimizer state are sharded over the ranks (FSDP2, `fully_shard` on every
  decoder layer and on the root), for full fine-tuning of models that do not fit one device.

Every forward of a sharded model is a collective (its layers all-gather their weights), so every rank runs the
same number of forwards and backwards per step: ranks with fewer micro-batches run empty ones (grpo.py).
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from typing import Any

import structlog
import torch
from torch import nn

log = structlog.get_logger("playpen.trainer.distributed")


def resolve_device(setting: str, local_rank: int = 0) -> torch.device:
    """`auto`: the local rank's GPU when CUDA is present, else the CPU; `cpu`; `cuda` (the local rank's GPU);
    `cuda:N`. Asking for CUDA where there is none is an error, not a silent CPU run."""
    setting = setting.strip().lower()
    if setting == "auto":
        setting = "cuda" if torch.cuda.is_available() else "cpu"
    if setting == "cpu":
        return torch.device("cpu")
    if setting.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ValueError(f"device {setting!r} asked for, but this torch sees no CUDA device")
        index = int(setting.split(":", 1)[1]) if ":" in setting else local_rank
        if index >= torch.cuda.device_count():
            raise ValueError(f"device cuda:{index} asked for, but only {torch.cuda.device_count()} are visible")
        return torch.device("cuda", index)
    raise ValueError(f"unknown device {setting!r}: use auto, cpu, cuda or cuda:N")


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """The dtype forwards run in under autocast, None for plain fp32. `auto`: bf16 on a GPU, fp32 on the CPU
    (CPU bf16 autocast is slower than fp32 on most CPUs and changes the numerics the tests pin)."""
    if precision == "fp32" or (precision == "auto" and device.type != "cuda"):
        return None
    return torch.bfloat16


class World:
    """The processes training together. This base class is the single process: every collective is the identity."""

    rank = 0
    size = 1
    local_rank = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def broadcast(self, value: Any) -> Any:
        """Rank 0's `value` on every rank (picklable objects)."""
        return value

    def scatter(self, values: list[Any] | None) -> Any:
        """Rank r gets `values[r]` of rank 0's list."""
        assert values is not None and len(values) == 1
        return values[0]

    def sum(self, values: list[float]) -> list[float]:
        return list(values)

    def max(self, value: int) -> int:
        return value

    def broadcast_tensors(self, tensors: Iterator[torch.Tensor]) -> None:
        """Overwrite each tensor with rank 0's (in place; same order on every rank)."""

    def close(self) -> None:
        pass


class ProcessWorld(World):
    """One rank of a torchrun job."""

    def __init__(self, *, rank: int, size: int, local_rank: int, device: torch.device, timeout_s: float):
        import torch.distributed as dist

        self.rank, self.size, self.local_rank = rank, size, local_rank
        self._dist = dist
        backend = "nccl" if device.type == "cuda" else "gloo"
        if device.type == "cuda":
            torch.cuda.set_device(device)
        timeout = datetime.timedelta(seconds=timeout_s)
        dist.init_process_group(backend=backend, timeout=timeout,
                                **({"device_id": device} if device.type == "cuda" else {}))
        # Commands and small reductions travel on their own gloo group: CPU objects, and a wait for rank 0's next
        # command (while it waits for episodes) never holds up the data group.
        self._control = dist.new_group(backend="gloo", timeout=timeout)
        self._device = device
        log.info("process group ready", rank=rank, world_size=size, backend=backend)

    def broadcast(self, value: Any) -> Any:
        box = [value if self.rank == 0 else None]
        self._dist.broadcast_object_list(box, src=0, group=self._control)
        return box[0]

    def scatter(self, values: list[Any] | None) -> Any:
        box: list[Any] = [None]
        self._dist.scatter_object_list(box, values if self.rank == 0 else None, src=0, group=self._control)
        return box[0]

    def sum(self, values: list[float]) -> list[float]:
        tensor = torch.tensor(values, dtype=torch.float64)
        self._dist.all_reduce(tensor, op=self._dist.ReduceOp.SUM, group=self._control)
        return tensor.tolist()

    def max(self, value: int) -> int:
        tensor = torch.tensor([value], dtype=torch.int64)
        self._dist.all_reduce(tensor, op=self._dist.ReduceOp.MAX, group=self._control)
        return int(tensor.item())

    def broadcast_tensors(self, tensors: Iterator[torch.Tensor]) -> None:
        seen: set[int] = set()
        for tensor in tensors:
            if tensor.data_ptr() in seen:  # tied weights: one storage, sent once
                continue
            seen.add(tensor.data_ptr())
            self._dist.broadcast(tensor.data, src=0)

    def close(self) -> None:
        if self._dist.is_initialized():
            self._dist.destroy_process_group()


def world_from_env(device_setting: str, timeout_s: float) -> tuple[World, torch.device]:
    """The world torchrun describes in the environment (a single process without it) and this rank's device."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = resolve_device(device_setting, local_rank)
    if size <= 1:
        return World(), device
    return ProcessWorld(rank=int(os.environ["RANK"]), size=size, local_rank=local_rank, device=device,
                        timeout_s=timeout_s), device


# ---------------------------------------------------------------------------------------------- the scorer

def lm_parts(module: nn.Module) -> tuple[nn.Module, nn.Module]:
    """The transformer body and the LM head of an HF causal LM (inside a PEFT wrapper if there is one)."""
    get_base_model = getattr(module, "get_base_model", None)
    lm = get_base_model() if callable(get_base_model) else module
    config = lm.config.get_text_config()
    # We apply the head as a plain projection; models that scale or soft-cap logits would need that too.
    for name in ("final_logit_softcapping", "logit_scale", "logits_scaling", "output_multiplier"):
        if getattr(config, name, None) not in (None, 1.0):
            raise NotImplementedError(f"{type(lm).__name__} transforms its logits ({name}); not supported")
    return lm.base_model, lm.get_output_embeddings()


class Scorer(nn.Module):
    """The training forward as one module: each completion token's log-probability given everything before it.

    Wrapping it (DDP, FSDP) rather than the HF model means the wrapper's hooks run on exactly the forward the
    loss uses: our forward reads the transformer body and applies the LM head only at completion positions,
    which an HF model's own forward would not do.
    """

    def __init__(self, lm: nn.Module):
        super().__init__()
        self.lm = lm

    def forward(self, ids: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor, targets: torch.Tensor,
                autocast: torch.dtype | None = None) -> torch.Tensor:
        body, head = lm_parts(self.lm)
        context = torch.autocast(ids.device.type, dtype=autocast) if autocast is not None else nullcontext()
        with context:
            hidden = body(input_ids=ids, use_cache=False).last_hidden_state
            logits = head(hidden[rows, cols]).float()
        return logits.gather(1, targets.unsqueeze(1)).squeeze(1) - torch.logsumexp(logits, dim=-1)


def decoder_layers(lm: nn.Module) -> list[nn.Module]:
    """The repeated transformer blocks of an HF causal LM (inside a PEFT wrapper if there is one)."""
    get_base_model = getattr(lm, "get_base_model", None)
    causal = get_base_model() if callable(get_base_model) else lm
    layers = getattr(causal.base_model, "layers", None)
    if not isinstance(layers, nn.ModuleList):
        raise NotImplementedError(f"{type(causal).__name__}: no `layers` list to shard")
    return list(layers)


class Parallel:
    """How the policy's forwards and gradients are spread over the world (single process: not at all)."""

    def __init__(self, world: World, mode: str, device: torch.device):
        self.world, self.mode, self.device = world, mode, device

    @property
    def sharded(self) -> bool:
        return self.world.size > 1 and self.mode == "fsdp"

    @property
    def replicated(self) -> bool:
        return self.world.size > 1 and self.mode == "ddp"

    def wrap(self, scorer: Scorer, *, trainable: bool) -> nn.Module:
        if self.world.size == 1:
            return scorer
        if self.mode == "fsdp":
            from torch.distributed.fsdp import fully_shard

            for layer in decoder_layers(scorer.lm):
                fully_shard(layer)
            fully_shard(scorer)
            return scorer
        if not trainable:
            return scorer  # a frozen replica needs no gradient synchronisation
        from torch.nn.parallel import DistributedDataParallel

        return DistributedDataParallel(scorer, device_ids=[self.device.index] if self.device.type == "cuda" else None,
                                       forward_sync_buffers=False)

    @contextmanager
    def accumulating(self, module: nn.Module, last: bool) -> Iterator[None]:
        """Gradients stay local until the last micro-batch of a step (DDP); FSDP reduces every backward."""
        if self.replicated and not last:
            with module.no_sync():
                yield
        else:
            yield

    def full_state(self, module: nn.Module) -> dict[str, torch.Tensor] | None:
        """The whole model's tensors on rank 0's CPU (None on the others): a collective when sharded."""
        inner = module.module if self.replicated else module
        if not self.sharded:
            return None  # the caller saves its own (unsharded) module
        from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

        state = get_model_state_dict(inner, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
        return state if self.world.is_main else None

    def full_optimizer_state(self, module: nn.Module, optimizer: torch.optim.Optimizer) -> dict | None:
        if not self.sharded:
            return optimizer.state_dict() if self.world.is_main else None
        from torch.distributed.checkpoint.state_dict import StateDictOptions, get_optimizer_state_dict

        state = get_optimizer_state_dict(module, optimizer,
                                         options=StateDictOptions(full_state_dict=True, cpu_offload=True))
        return state if self.world.is_main else None

    def load_optimizer_state(self, module: nn.Module, optimizer: torch.optim.Optimizer, state: dict | None,
                             sharded_format: bool) -> bool:
        """Restore rank 0's saved optimizer state on every rank. False (fresh moments, with a warning) when the
        state was saved under the other kind of parallelism, whose layout this one cannot read."""
        usable = self.world.broadcast(state is not None and sharded_format == self.sharded)
        if not usable:
            return False
        if self.sharded:
            from torch.distributed.checkpoint.state_dict import StateDictOptions, set_optimizer_state_dict

            set_optimizer_state_dict(module, optimizer, optim_state_dict=state if self.world.is_main else {},
                                     options=StateDictOptions(full_state_dict=True, broadcast_from_rank0=True))
        else:
            optimizer.load_state_dict(self.world.broadcast(state))
        return True
