"""Rollouts for the trainer's tests: sample completions from a model with torch, recording the behaviour
logprobs exactly as a policy would, so GRPO can be run end to end without a policy service."""

from __future__ import annotations

import torch

from playpen_trainer.samples import TurnSample


@torch.no_grad()
def sample_turns(module: torch.nn.Module, prompt_ids: list[int], count: int, length: int, *,
                 generator: torch.Generator, version: int = 0, group: str = "g") -> list[TurnSample]:
    """`count` completions of `length` tokens for one prompt, sampled at temperature 1."""
    was_training = module.training
    module.eval()
    ids = torch.tensor([prompt_ids] * count)
    logprobs: list[torch.Tensor] = []
    for _ in range(length):
        distribution = module(input_ids=ids).logits[:, -1].float().log_softmax(-1)
        token = torch.multinomial(distribution.exp(), 1, generator=generator)
        logprobs.append(distribution.gather(1, token).squeeze(1))
        ids = torch.cat([ids, token], dim=1)
    module.train(was_training)
    completions = ids[:, len(prompt_ids):].tolist()
    behaviour = torch.stack(logprobs, dim=1).tolist()
    return [TurnSample(episode_id=f"{group}-{k}", group_id=group, game="test", role="player", turn_index=0,
                       prompt_ids=list(prompt_ids), completion_ids=completions[k], behaviour_logprobs=behaviour[k],
                       policy_version=version, well_formed=True)
            for k in range(count)]
