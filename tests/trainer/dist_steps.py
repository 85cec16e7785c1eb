"""K GRPO steps on fixed batches, as one process or as one rank of a torchrun job (tests/trainer/test_distributed.py).

    torchrun --nproc-per-node 2 tests/trainer/dist_steps.py MODEL OUT --parallel fsdp [--lora] [--kl 0.1]

Every rank trains on its shard of each step's groups (the trainer's own shard_groups); rank 0 writes OUT/result.pt
with each step's statistics and whole gradients, the final weights, and OUT/checkpoint (the consolidated save).
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

import torch

from playpen_trainer.distributed import Parallel, world_from_env
from playpen_trainer.grpo import GrpoConfig, grpo_step
from playpen_trainer.loop import shard_groups
from playpen_trainer.model import LoraSettings, PolicyModel, make_optimizer
from playpen_trainer.samples import TurnSample


def step_samples(step: int, *, groups: int = 5, size: int = 3, vocab: int = 380) -> list[TurnSample]:
    """Groups of one-turn samples with ragged lengths and advantages of both signs (some zero)."""
    rng = random.Random(f"step-{step}")
    samples = []
    for g in range(groups):
        for k in range(size):
            completion = [rng.randrange(3, vocab) for _ in range(rng.randrange(1, 10))]
            samples.append(TurnSample(
                episode_id=f"s{step}g{g}e{k}", group_id=f"s{step}g{g}", game="test", role="player", turn_index=0,
                prompt_ids=[rng.randrange(3, vocab) for _ in range(rng.randrange(2, 30))], completion_ids=completion,
                behaviour_logprobs=[-rng.uniform(4.0, 7.0) for _ in completion], policy_version=0, well_formed=True,
                advantage=0.0 if (g == 0) else rng.choice([-1.0, -0.5, 0.5, 1.0])))
    return samples


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("model", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--parallel", default="ddp")
    parser.add_argument("--lora", action="store_true")
    parser.add_argument("--kl", type=float, default=0.0)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--micro-batch-tokens", type=int, default=96)
    args = parser.parse_args()

    torch.manual_seed(0)
    world, device = world_from_env("cpu", 120)
    lora = LoraSettings(rank=4, alpha=8, targets=("q_proj", "v_proj")) if args.lora else None
    model = PolicyModel.load(args.model, lora=lora, device=device)
    world.broadcast_tensors(iter(model.module.state_dict(keep_vars=True).values()))
    reference = PolicyModel.reference_for(model) if args.kl > 0 else None
    model.parallelize(Parallel(world, args.parallel, device), reference)
    optimizer = make_optimizer(model, lr=1e-2)
    config = GrpoConfig(kl_coef=args.kl, micro_batch_tokens=args.micro_batch_tokens)

    steps = []
    for number in range(args.steps):
        samples = step_samples(number)
        shard = shard_groups(samples, world.size)[world.rank]
        grads: dict[str, torch.Tensor] = {}

        def keep_gradients(grads=grads) -> None:
            for name, parameter in model.module.named_parameters():
                if parameter.grad is not None:
                    grad = parameter.grad
                    grads[name] = (grad.full_tensor() if hasattr(grad, "full_tensor") else grad).detach().clone()

        stats = grpo_step(model, optimizer, shard, config, ref_model=reference, current_version=0,
                          max_grad_norm=1.0, total_tokens=sum(s.tokens for s in samples),
                          inspect_gradients=keep_gradients)
        steps.append({"loss": stats.loss, "grad_norm": stats.grad_norm, "kl": stats.kl, "tokens": stats.tokens,
                      "samples": stats.samples, "skipped": stats.skipped, "mismatch": stats.logprob_mismatch,
                      "grads": grads})

    full = model.full_state()
    if world.is_main:
        weights = full if full is not None else {k: v.detach().clone() for k, v in model.module.state_dict().items()}
        (args.out / "checkpoint").mkdir(parents=True, exist_ok=True)
        model.save(args.out / "checkpoint", full)
        torch.save({"steps": steps, "weights": weights, "world_size": world.size}, args.out / "result.pt")
    world.close()


if __name__ == "__main__":
    main()
