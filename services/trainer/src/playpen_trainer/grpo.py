"""The GRPO update: clipped importance-weighted policy gradient over the learner's own tokens.

Why our own loop and not TRL's GRPOTrainer: GRPOTrainer owns the rollout — it generates completions for a
prompt dataset itself, single-turn, and recomputes the "old" logprobs with its own model. Our episodes are
multi-turn games played elsewhere (game master + policy service), arrive over gRPC with the behaviour logprobs
and weight version the policy returned, and may be a few versions stale. What we need is only the update, fed
with externally generated (prompt ids, completion ids, behaviour logprobs, advantage) turns. That is the ~100
lines below; the rest of GRPOTrainer (generation, reward functions, dataloaders) would be dead weight.

The objective, per completion token t of a sample with advantage A:
    r_t   = exp(logπ(t) − logπ_behaviour(t))              importance ratio vs the policy that sampled it
    pg_t  = −min(r_t·A, clip(r_t, 1 − clip_low, 1 + clip_high)·A)
    kl_t  = exp(ref_t − logπ(t)) − (ref_t − logπ(t)) − 1  k3 estimator of KL(π ‖ π_ref), ≥ 0
    loss  = Σ_t (pg_t + kl_coef·kl_t) / (completion tokens in the batch)
Normalising by the batch's token count (DAPO), not per sequence, gives every token the same weight, so long
and short replies are not biased against each other. The count includes zero-advantage samples, which are
then skipped: their terms are 0, so skipping them changes nothing but the time spent (unless kl_coef > 0,
where their KL term has a gradient and they are kept).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from playpen_trainer.distributed import Scorer
from playpen_trainer.model import PolicyModel, ReferenceModel
from playpen_trainer.samples import TurnSample


@dataclass(frozen=True)
class GrpoConfig:
    clip_low: float = 0.2
    clip_high: float = 0.28
    kl_coef: float = 0.0
    #: padded tokens (rows × longest row) per forward/backward; bounds activation memory
    micro_batch_tokens: int = 4096
    #: when no trained sample is of the current version, forward about this many tokens (at least one sample)
    #: of skipped current-version samples, without grad, so the mismatch alarm still reads; 0 disables
    mismatch_probe_tokens: int = 1024


@dataclass
class StepStats:
    loss: float
    tokens: int  # completion tokens forwarded and trained on
    tokens_per_s: float
    mean_ratio: float
    clip_fraction: float  # share of trained tokens whose clipped branch was taken (no gradient)
    kl: float  # mean k3 KL to the reference over trained tokens (0 without a reference)
    grad_norm: float  # before clipping
    logprob_mismatch: float  # mean |new − behaviour| over current-version tokens, before the update (nan: none)
    samples: int  # samples trained on
    skipped: int  # zero-advantage samples skipped (their tokens still count in the normaliser)
    seconds: float
    updated: bool  # False: nothing to train on, or a non-finite gradient (then the weights are left untouched)


@dataclass
class TokenLoss:
    loss: torch.Tensor  # per token, before normalisation
    ratio: torch.Tensor
    clipped: torch.Tensor  # bool: the clipped branch is active, so this token gives no policy gradient
    kl: torch.Tensor


def token_loss(new: torch.Tensor, behaviour: torch.Tensor, advantages: torch.Tensor, config: GrpoConfig,
               reference: torch.Tensor | None = None) -> TokenLoss:
    """Per-token GRPO loss terms (see the module docstring); `new` carries the gradient."""
    ratio = torch.exp(new - behaviour)
    unclipped = ratio * advantages
    clipped = torch.clamp(ratio, 1.0 - config.clip_low, 1.0 + config.clip_high) * advantages
    loss = -torch.minimum(unclipped, clipped)
    clipped_active = clipped < unclipped
    if reference is None:
        kl = torch.zeros_like(new)
    else:
        delta = reference - new
        kl = torch.exp(delta) - delta - 1.0
        loss = loss + config.kl_coef * kl
    return TokenLoss(loss=loss, ratio=ratio.detach(), clipped=clipped_active, kl=kl.detach())


# ---------------------------------------------------------------------------------------------- forwards

def micro_batches(samples: Sequence[TurnSample], budget: int) -> list[list[int]]:
    """Indices grouped longest first, each group's rows × longest row ≤ budget (a longer sample goes alone).
    Similar lengths share a batch, so right padding wastes little."""
    order = sorted(range(len(samples)), key=lambda i: -_length(samples[i]))
    batches: list[list[int]] = []
    for i in order:
        if batches and _length(samples[batches[-1][0]]) * (len(batches[-1]) + 1) <= budget:
            batches[-1].append(i)
        else:
            batches.append([i])
    return batches


def _length(sample: TurnSample) -> int:
    # The last completion token is a target, never an input.
    return len(sample.prompt_ids) + len(sample.completion_ids) - 1


def _scorer(module: nn.Module) -> nn.Module:
    """A module whose forward is Scorer's: the given one if it already is (possibly wrapped by DDP or FSDP),
    else a Scorer around an HF causal LM."""
    return module if isinstance(getattr(module, "module", module), Scorer) else Scorer(module)


def _forward(module: nn.Module, batch: Sequence[TurnSample], autocast: torch.dtype | None = None) -> list[torch.Tensor]:
    """One forward over right-padded rows: each sample's completion-token logprobs (grad if enabled).

    No attention mask is needed: with right padding and causal attention a real token never sees a pad (pads
    come after it), and only real positions are read — so SDPA takes its fast causal path, and positions are
    0..n−1 exactly as when the policy generated. Only the positions that predict completion tokens go through
    the LM head: on multi-turn prompts that is a small share of the sequence, and the head is the widest
    matmul of the model (distributed.Scorer).
    """
    scorer = _scorer(module)
    device = next(scorer.parameters()).device
    width = max(_length(s) for s in batch)
    ids = torch.zeros((len(batch), width), dtype=torch.long)
    rows, cols, targets, counts = [], [], [], []
    for row, sample in enumerate(batch):
        sequence = sample.prompt_ids + sample.completion_ids[:-1]
        ids[row, :len(sequence)] = torch.tensor(sequence, dtype=torch.long)
        prompt, completion = len(sample.prompt_ids), len(sample.completion_ids)
        rows.append(torch.full((completion,), row, dtype=torch.long))
        cols.append(torch.arange(prompt - 1, prompt + completion - 1))
        targets.extend(sample.completion_ids)
        counts.append(completion)
    logprobs = scorer(ids.to(device), torch.cat(rows).to(device), torch.cat(cols).to(device),
                      torch.tensor(targets, dtype=torch.long, device=device), autocast)
    return list(logprobs.split(counts))


def sequence_logprobs(module: nn.Module, samples: Sequence[TurnSample], *,
                      micro_batch_tokens: int = 4096) -> list[torch.Tensor]:
    """Log-probabilities of each sample's completion tokens given its prompt, in the order given.

    The same code path as the loss, so comparing it with the policy's behaviour logprobs checks exactly what
    the update uses. Runs with gradients if the caller has them enabled.
    """
    for sample in samples:
        _check(sample, logprobs=False)
    result: list[torch.Tensor | None] = [None] * len(samples)
    for indices in micro_batches(samples, micro_batch_tokens):
        for index, logprobs in zip(indices, _forward(module, [samples[i] for i in indices]), strict=True):
            result[index] = logprobs
    return result  # type: ignore[return-value]


def _check(sample: TurnSample, *, logprobs: bool) -> None:
    problem = None
    if not sample.prompt_ids or not sample.completion_ids:
        problem = "an empty prompt or completion"
    elif logprobs and len(sample.behaviour_logprobs) != len(sample.completion_ids):
        problem = f"{len(sample.completion_ids)} completion tokens but {len(sample.behaviour_logprobs)} logprobs"
    if problem:
        raise ValueError(f"sample {sample.episode_id}/{sample.turn_index} has {problem}")


# ---------------------------------------------------------------------------------------------- the step

# A micro-batch that trains nothing, for ranks with fewer micro-batches than others: every rank must run the
# same number of forwards and backwards, since a sharded model's forward is a collective (distributed.py).
_EMPTY = TurnSample(episode_id="", group_id="", game="", role="", turn_index=0, prompt_ids=[0], completion_ids=[0],
                    behaviour_logprobs=[0.0], policy_version=-1, well_formed=True)


def grpo_step(model: PolicyModel, optimizer: torch.optim.Optimizer, samples: Sequence[TurnSample],
              config: GrpoConfig, *, ref_model: ReferenceModel | None, current_version: int,
              max_grad_norm: float, total_tokens: int | None = None,
              inspect_gradients: Callable[[], None] | None = None) -> StepStats:
    """One optimiser step over `samples` (advantages already set), accumulated over micro-batches.

    In a multi-process world every rank calls this at once with its own share of the step's samples and
    `total_tokens` of the whole step; the statistics returned are the whole step's on every rank.
    `inspect_gradients` (tests) is called on every rank once the gradients are complete, before clipping.
    """
    started = time.perf_counter()
    parallel, world = model.parallel, model.parallel.world
    for sample in samples:
        _check(sample, logprobs=True)
    if total_tokens is None:
        total_tokens = int(world.sum([sum(s.tokens for s in samples)])[0])
    trained: list[TurnSample] = []
    skipped: list[TurnSample] = []
    for sample in samples:
        # With a KL term a zero-advantage sample still has a gradient (towards the reference): kept then.
        (trained if sample.advantage != 0.0 or config.kl_coef > 0 else skipped).append(sample)
    scorer = model.scorer
    scorer.train()
    optimizer.zero_grad(set_to_none=True)
    # DDP and FSDP average gradients over the ranks; the loss is already a sum over the whole step's tokens.
    scale = float(world.size)

    loss_sum = ratio_sum = kl_sum = 0.0
    clipped_count = 0
    mismatch_sum, mismatch_tokens = 0.0, 0
    device = parallel.device
    batches: list[list[TurnSample] | None] = [[trained[i] for i in indices]
                                              for indices in micro_batches(trained, config.micro_batch_tokens)]
    count = world.max(len(batches))
    batches += [None] * (count - len(batches))
    for number, batch in enumerate(batches):
        rows = batch or [_EMPTY]
        reference = None
        if ref_model is not None:
            with torch.no_grad(), ref_model.active() as ref_module:
                reference = torch.cat(_forward(ref_module, rows, model.autocast))
        with parallel.accumulating(scorer, last=number == count - 1):
            new_per_sample = _forward(scorer, rows, model.autocast)
            new = torch.cat(new_per_sample)
            if batch is None:
                (new.sum() * 0.0).backward()
                continue
            behaviour = torch.tensor([x for s in batch for x in s.behaviour_logprobs], device=device)
            advantages = torch.tensor([s.advantage for s in batch for _ in s.completion_ids], device=device)
            terms = token_loss(new, behaviour, advantages, config, reference)
            loss = terms.loss.sum() / total_tokens
            (loss * scale).backward()

        loss_sum += float(loss.detach())
        ratio_sum += float(terms.ratio.sum())
        kl_sum += float(terms.kl.sum())
        clipped_count += int(terms.clipped.sum())
        for sample, logprobs in zip(batch, new_per_sample, strict=True):
            if sample.policy_version == current_version:
                mismatch_sum += float((logprobs.detach() - torch.tensor(sample.behaviour_logprobs, device=device))
                                      .abs().sum())
                mismatch_tokens += sample.tokens

    if world.sum([mismatch_tokens])[0] == 0 and config.mismatch_probe_tokens > 0:
        mismatch_sum, mismatch_tokens = _probe_mismatch(model, skipped, current_version, config)

    trained_tokens = sum(s.tokens for s in trained)
    (loss_sum, ratio_sum, kl_sum, clipped_count, mismatch_sum, mismatch_tokens, trained_tokens, trained_count,
     skipped_count) = world.sum([loss_sum, ratio_sum, kl_sum, clipped_count, mismatch_sum, mismatch_tokens,
                                 trained_tokens, len(trained), len(skipped)])
    grad_norm, updated = 0.0, False
    if count:
        if inspect_gradients is not None:
            inspect_gradients()
        norm = torch.nn.utils.clip_grad_norm_(model.trainable_parameters(), max_grad_norm)
        grad_norm = float(norm.full_tensor() if hasattr(norm, "full_tensor") else norm)
        # One inf/nan (e.g. an overflowing ratio on a badly stale token) would poison every weight for good;
        # the step is dropped instead, and the non-finite grad_norm says why. Every rank sees the same norm.
        updated = math.isfinite(grad_norm)
        if updated:
            optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    seconds = time.perf_counter() - started
    return StepStats(
        loss=loss_sum, tokens=int(trained_tokens), tokens_per_s=trained_tokens / seconds if seconds > 0 else 0.0,
        mean_ratio=ratio_sum / trained_tokens if trained_tokens else math.nan,
        clip_fraction=clipped_count / trained_tokens if trained_tokens else 0.0,
        kl=kl_sum / trained_tokens if trained_tokens else 0.0, grad_norm=grad_norm,
        logprob_mismatch=mismatch_sum / mismatch_tokens if mismatch_tokens else math.nan,
        samples=int(trained_count), skipped=int(skipped_count), seconds=seconds, updated=updated)


def _probe_mismatch(model: PolicyModel, skipped: Sequence[TurnSample], current_version: int,
                    config: GrpoConfig) -> tuple[float, int]:
    """Σ|new − behaviour| and its token count over a few skipped current-version samples, without gradient.

    When every group of a step has equal rewards (early on: every episode aborts) nothing is trained, and
    without this the alarm for a version/tokenisation/numerics bug would go silent exactly then. Every rank
    probes its own share (the same number of forwards on each: the model's forward may be a collective).
    """
    probe: list[TurnSample] = []
    budget = config.mismatch_probe_tokens
    # Shortest first, and at least one sample even if it alone exceeds the budget.
    for sample in sorted((s for s in skipped if s.policy_version == current_version), key=_length):
        if probe and _length(sample) > budget:
            break
        probe.append(sample)
        budget -= _length(sample)
    batches: list[list[TurnSample] | None] = [[probe[i] for i in indices]
                                              for indices in micro_batches(probe, config.micro_batch_tokens)]
    count = model.parallel.world.max(len(batches))
    batches += [None] * (count - len(batches))
    total = 0.0
    with torch.no_grad():
        for batch in batches:
            computed = _forward(model.scorer, batch or [_EMPTY], model.autocast)
            if batch is not None:
                total += sum(float((c - torch.tensor(s.behaviour_logprobs, device=c.device)).abs().sum())
                             for c, s in zip(computed, batch, strict=True))
    return total, sum(s.tokens for s in probe)
