"""GRPO step time of the trainer as one process or as one rank of a torchrun job (bench-scale's `trainer` section).

    python -m torch.distributed.run --standalone --nproc-per-node 2 scripts/bench_train_ranks.py MODEL --parallel ddp

Every rank trains its shard of the same synthetic steps (groups of multi-turn-sized samples: long prompts, short
completions, as game turns are); rank 0 prints one JSON line: median seconds per step after a warm-up step, the
tokens trained per step, and the world size. Run in the trainer's environment.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from pathlib import Path

import torch

from playpen_trainer.distributed import Parallel, autocast_dtype, world_from_env
from playpen_trainer.grpo import GrpoConfig, grpo_step
from playpen_trainer.loop import shard_groups
from playpen_trainer.model import PolicyModel, make_optimizer
from playpen_trainer.samples import TurnSample


def synthetic_step(step: int, vocab: int, groups: int, group_size: int, prompt: int, completion: int) -> list:
    rng = random.Random(step)
    samples = []
    for g in range(groups):
        for k in range(group_size):
            ids = [rng.randrange(10, vocab) for _ in range(rng.randrange(prompt // 2, prompt))]
            out = [rng.randrange(10, vocab) for _ in range(rng.randrange(completion // 2, completion))]
            samples.append(TurnSample(
                episode_id=f"{step}-{g}-{k}", group_id=f"{step}-{g}", game="bench", role="player", turn_index=0,
                prompt_ids=ids, completion_ids=out, behaviour_logprobs=[-2.0] * len(out), policy_version=0,
                well_formed=True, advantage=rng.choice([-1.0, 1.0])))
    return samples


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("model", type=Path)
    parser.add_argument("--parallel", default="ddp")
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--groups", type=int, default=4)
    parser.add_argument("--group-size", type=int, default=4)
    parser.add_argument("--prompt-tokens", type=int, default=512)
    parser.add_argument("--completion-tokens", type=int, default=48)
    args = parser.parse_args()

    world, device = world_from_env("auto", 600)
    model = PolicyModel.load(args.model, device=device)
    model.autocast = autocast_dtype("auto", device)  # bf16 on a GPU, as the trainer runs there
    world.broadcast_tensors(iter(model.module.state_dict(keep_vars=True).values()))
    model.parallelize(Parallel(world, args.parallel, device))
    optimizer = make_optimizer(model, lr=1e-6)
    vocab = model.causal_lm.config.get_text_config().vocab_size
    seconds, tokens = [], 0
    for step in range(args.steps + 1):  # step 0 warms up (allocations, first collectives)
        samples = synthetic_step(step, vocab, args.groups, args.group_size, args.prompt_tokens, args.completion_tokens)
        shard = shard_groups(samples, world.size)[world.rank]
        started = time.perf_counter()
        stats = grpo_step(model, optimizer, shard, GrpoConfig(micro_batch_tokens=4096), ref_model=None,
                          current_version=0, max_grad_norm=1.0, total_tokens=sum(s.tokens for s in samples))
        elapsed = world.sum([time.perf_counter() - started])[0] / world.size
        if step:
            seconds.append(elapsed)
            tokens = stats.tokens
    if world.is_main:
        print(json.dumps({"world_size": world.size, "parallel": args.parallel if world.size > 1 else "none",
                          "threads_per_rank": torch.get_num_threads(), "step_s": round(statistics.median(seconds), 3),
                          "tokens_per_step": tokens, "device": str(device),
                          "precision": str(model.autocast or torch.float32).removeprefix("torch.")}))
    world.close()


if __name__ == "__main__":
    main()
