"""The trainer's own logprobs and one GRPO step on a tiny model: batched logprobs equal plain per-sample
forwards, the mismatch alarm reads ~0 on behaviour logprobs of the same weights and not after an update,
zero-advantage samples are skipped yet counted, and the reference of the KL term is what it should be."""

from __future__ import annotations

import math
import random

import pytest
import torch

from playpen_trainer.grpo import GrpoConfig, grpo_step, sequence_logprobs, token_loss
from playpen_trainer.model import LoraSettings, PolicyModel, make_optimizer
from playpen_trainer.samples import TurnSample
from tests.trainer.sampling import sample_turns


def _random_samples(count: int, seed: int, vocab: int = 380) -> list[TurnSample]:
    rng = random.Random(seed)
    samples = []
    for k in range(count):
        completion = [rng.randrange(3, vocab) for _ in range(rng.randrange(1, 12))]
        samples.append(TurnSample(
            episode_id=f"e{k}", group_id="g", game="test", role="player", turn_index=0,
            prompt_ids=[rng.randrange(3, vocab) for _ in range(rng.randrange(1, 40))], completion_ids=completion,
            behaviour_logprobs=[-5.0] * len(completion), policy_version=0, well_formed=True))
    return samples


def _plain_logprobs(module: torch.nn.Module, sample: TurnSample) -> torch.Tensor:
    """The textbook way: one sample, the model's own forward, log_softmax of every position."""
    ids = torch.tensor([sample.prompt_ids + sample.completion_ids])
    logprobs = module(input_ids=ids).logits[0].log_softmax(-1)
    positions = torch.arange(len(sample.prompt_ids) - 1, ids.shape[1] - 1)
    return logprobs[positions, torch.tensor(sample.completion_ids)]


@pytest.mark.parametrize("lora", [None, LoraSettings(rank=4, alpha=8, targets=("q_proj", "v_proj"))])
def test_sequence_logprobs_equal_a_plain_per_sample_forward(tiny_base, lora) -> None:
    model = PolicyModel.load(tiny_base, lora=lora)
    samples = _random_samples(24, seed=1)
    with torch.no_grad():
        # A small budget forces several micro-batches with ragged right padding.
        batched = sequence_logprobs(model.module, samples, micro_batch_tokens=96)
        for sample, got in zip(samples, batched, strict=True):
            assert got.shape == (len(sample.completion_ids),)
            torch.testing.assert_close(got, _plain_logprobs(model.module, sample), rtol=0, atol=2e-5)


def test_mismatch_is_zero_at_the_behaviour_weights_and_not_after_an_update(tiny_base, prompt_ids) -> None:
    torch.manual_seed(0)
    model = PolicyModel.load(tiny_base)
    generator = torch.Generator().manual_seed(0)
    samples = [s for p in prompt_ids for s in sample_turns(model.module, p, 4, 6, generator=generator)]
    for k, sample in enumerate(samples):
        sample.advantage = 1.0 if k % 2 else -1.0
    optimizer = make_optimizer(model, lr=5e-2)
    first = grpo_step(model, optimizer, samples, GrpoConfig(), ref_model=None, current_version=0, max_grad_norm=10.0)
    assert first.logprob_mismatch < 1e-5
    assert first.mean_ratio == pytest.approx(1.0, abs=1e-4) and first.clip_fraction == 0.0
    assert first.tokens == sum(s.tokens for s in samples) and first.samples == len(samples)
    assert first.updated and first.grad_norm > 0 and first.tokens_per_s > 0
    # The same samples again: the weights moved, the behaviour logprobs did not.
    second = grpo_step(model, optimizer, samples, GrpoConfig(), ref_model=None, current_version=0, max_grad_norm=10.0)
    assert second.logprob_mismatch > 1e-2
    assert abs(second.mean_ratio - 1.0) > 1e-3
    # Samples of an older version are trained on (ratio-corrected) but are not what the alarm measures.
    third = grpo_step(model, optimizer, samples, GrpoConfig(), ref_model=None, current_version=1, max_grad_norm=10.0)
    assert math.isnan(third.logprob_mismatch) and third.samples == len(samples)


def test_zero_advantage_samples_are_skipped_but_count_in_the_normaliser(tiny_base, prompt_ids) -> None:
    model = PolicyModel.load(tiny_base)
    generator = torch.Generator().manual_seed(1)
    informative = sample_turns(model.module, prompt_ids[0], 2, 5, generator=generator)
    flat = sample_turns(model.module, prompt_ids[1], 3, 7, generator=generator, group="flat")
    informative[0].advantage, informative[1].advantage = 1.0, -1.0
    for sample in informative:  # pretend the policy was a little different, so the loss is not ~0
        sample.behaviour_logprobs = [x - 0.1 * sample.advantage for x in sample.behaviour_logprobs]
    with torch.no_grad():
        new = torch.cat(sequence_logprobs(model.module, informative))
    behaviour = torch.tensor([x for s in informative for x in s.behaviour_logprobs])
    advantages = torch.tensor([s.advantage for s in informative for _ in s.completion_ids])
    expected = float(token_loss(new, behaviour, advantages, GrpoConfig()).loss.sum()) / (2 * 5 + 3 * 7)

    optimizer = make_optimizer(model, lr=0.0)
    stats = grpo_step(model, optimizer, informative + flat, GrpoConfig(), ref_model=None, current_version=0,
                      max_grad_norm=1.0)
    assert (stats.samples, stats.skipped, stats.tokens) == (2, 3, 10)
    assert stats.loss == pytest.approx(expected, rel=1e-4)

    # Nothing informative at all: no update, but the mismatch alarm still reads the current version.
    stats = grpo_step(model, optimizer, flat, GrpoConfig(), ref_model=None, current_version=0, max_grad_norm=1.0)
    assert (stats.samples, stats.skipped, stats.grad_norm, stats.updated) == (0, 3, 0.0, False)
    assert stats.logprob_mismatch < 1e-5


def test_kl_to_the_reference_starts_at_zero_and_grows(tiny_base, prompt_ids) -> None:
    for lora in (None, LoraSettings(rank=4, alpha=8)):
        model = PolicyModel.load(tiny_base, lora=lora)
        reference = PolicyModel.reference_for(model, tiny_base)
        generator = torch.Generator().manual_seed(2)
        samples = [s for p in prompt_ids for s in sample_turns(model.module, p, 4, 6, generator=generator)]
        for k, sample in enumerate(samples):
            sample.advantage = 1.0 if k % 2 else -1.0
        optimizer = make_optimizer(model, lr=5e-2)
        config = GrpoConfig(kl_coef=0.1)
        first = grpo_step(model, optimizer, samples, config, ref_model=reference, current_version=0,
                          max_grad_norm=10.0)
        second = grpo_step(model, optimizer, samples, config, ref_model=reference, current_version=0,
                           max_grad_norm=10.0)
        assert first.kl < 1e-6 < second.kl, lora
        # The reference did not move with the policy: it still scores like the base model.
        base = PolicyModel.load(tiny_base)
        with torch.no_grad(), reference.active() as module:
            for got, want in zip(sequence_logprobs(module, samples), sequence_logprobs(base.module, samples),
                                 strict=True):
                torch.testing.assert_close(got, want, rtol=0, atol=1e-5)


def test_a_non_finite_gradient_leaves_the_weights_untouched(tiny_base, prompt_ids) -> None:
    model = PolicyModel.load(tiny_base)
    generator = torch.Generator().manual_seed(4)
    samples = sample_turns(model.module, prompt_ids[0], 2, 4, generator=generator)
    samples[0].advantage, samples[1].advantage = 1.0, -1.0
    samples[1].behaviour_logprobs[0] = -1e4  # ratio e^(~1e4) = inf on a negative advantage: an infinite loss
    before = {name: p.detach().clone() for name, p in model.module.named_parameters()}
    stats = grpo_step(model, make_optimizer(model, lr=1e-2), samples, GrpoConfig(), ref_model=None,
                      current_version=0, max_grad_norm=1.0)
    assert not stats.updated and not math.isfinite(stats.grad_norm)
    for name, p in model.module.named_parameters():
        assert torch.equal(p, before[name]), name
    assert all(p.grad is None for p in model.module.parameters())
