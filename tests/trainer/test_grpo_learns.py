"""GRPO on a tiny random model raises a simple verifiable reward within a few steps: the gradient points
the right way, end to end — sampled rollouts with behaviour logprobs, group advantages, the update."""

from __future__ import annotations

import statistics

import pytest
import torch

from playpen_trainer.grpo import GrpoConfig, grpo_step
from playpen_trainer.model import LoraSettings, PolicyModel, make_optimizer
from playpen_trainer.rewards import group_advantages
from tests.trainer.sampling import sample_turns

GROUP, LENGTH = 8, 8


def _target_token(model: PolicyModel, prompt_ids: list[list[int]]) -> int:
    """The second most likely first token on average: present in some rollouts, far from dominant."""
    with torch.no_grad():
        probabilities = torch.stack([model.module(input_ids=torch.tensor([p])).logits[0, -1].softmax(-1)
                                     for p in prompt_ids]).mean(0)
    return int(probabilities.argsort(descending=True)[1])


def _mean_reward(model: PolicyModel, prompt_ids, reward) -> float:
    generator = torch.Generator().manual_seed(1234)  # the same draws before and after
    return statistics.fmean(reward(s) for p in prompt_ids
                            for s in sample_turns(model.module, p, 16, LENGTH, generator=generator))


@pytest.mark.parametrize(("lora", "lr", "steps", "gain"), [
    (None, 1e-2, 8, 0.3),
    (LoraSettings(rank=8, alpha=16), 3e-2, 8, 0.1),
])
def test_grpo_raises_a_verifiable_reward(tiny_base, prompt_ids, lora, lr, steps, gain) -> None:
    torch.manual_seed(0)
    model = PolicyModel.load(tiny_base, lora=lora)
    target = _target_token(model, prompt_ids)

    def reward(sample) -> float:
        return sum(token == target for token in sample.completion_ids) / len(sample.completion_ids)

    before = _mean_reward(model, prompt_ids, reward)
    optimizer = make_optimizer(model, lr=lr)
    generator = torch.Generator().manual_seed(0)
    for version in range(steps):
        batch = []
        for index, prompt in enumerate(prompt_ids):
            group = sample_turns(model.module, prompt, GROUP, LENGTH, generator=generator, version=version,
                                 group=f"p{index}")
            for sample, advantage in zip(group, group_advantages([reward(s) for s in group]), strict=True):
                sample.advantage = advantage
            batch.extend(group)
        stats = grpo_step(model, optimizer, batch, GrpoConfig(), ref_model=None, current_version=version,
                          max_grad_norm=1.0)
        assert stats.logprob_mismatch < 1e-5 or stats.samples == 0
    after = _mean_reward(model, prompt_ids, reward)
    assert after > before + gain, (before, after)
