"""The GRPO loss on hand-made numbers: importance ratio, clipping on both sides, zero advantage, k3 KL."""

from __future__ import annotations

import math

import pytest
import torch

from playpen_trainer.grpo import GrpoConfig, token_loss

CONFIG = GrpoConfig(clip_low=0.2, clip_high=0.28, kl_coef=0.5)


def _one(ratio: float, advantage: float, reference_delta: float | None = None):
    """Loss, gradient d loss / d new-logprob, and the clipped flag for one token with the given ratio."""
    behaviour = torch.tensor([-2.0])
    new = (behaviour + math.log(ratio)).requires_grad_(True)
    reference = None if reference_delta is None else new.detach() + reference_delta
    terms = token_loss(new, behaviour, torch.tensor([advantage]), CONFIG, reference)
    terms.loss.sum().backward()
    return float(terms.loss), float(new.grad), bool(terms.clipped), terms


@pytest.mark.parametrize(("ratio", "advantage", "loss", "grad", "clipped"), [
    # inside the band: the plain importance-weighted term, −r·A, whose gradient is −r·A
    (1.1, 2.0, -2.2, -2.2, False),
    (0.9, -1.0, 0.9, 0.9, False),
    # positive advantage, ratio above 1 + clip_high: capped at 1.28·A and no gradient (no further push up)
    (1.5, 1.0, -1.28, 0.0, True),
    # negative advantage, ratio below 1 − clip_low: capped at 0.8·A and no gradient (no further push down)
    (0.5, -1.0, 0.8, 0.0, True),
    # the pessimistic side is never clipped: a bad token that became likelier still gets its full gradient
    (1.5, -1.0, 1.5, 1.5, False),
    (0.5, 1.0, -0.5, -0.5, False),
])
def test_clipped_surrogate(ratio, advantage, loss, grad, clipped) -> None:
    got_loss, got_grad, got_clipped, terms = _one(ratio, advantage)
    assert got_loss == pytest.approx(loss, rel=1e-5)
    assert got_grad == pytest.approx(grad, rel=1e-5, abs=1e-7)
    assert got_clipped is clipped
    assert float(terms.ratio) == pytest.approx(ratio, rel=1e-5)


@pytest.mark.parametrize("ratio", [0.3, 1.0, 2.0])
def test_zero_advantage_has_no_loss_and_no_gradient(ratio) -> None:
    loss, grad, clipped, _ = _one(ratio, 0.0)
    assert (loss, grad, clipped) == (0.0, 0.0, False)


def test_k3_kl_to_the_reference() -> None:
    # Same logprob as the reference: no KL, no KL gradient.
    loss, grad, _, terms = _one(1.0, 0.0, reference_delta=0.0)
    assert (loss, grad, float(terms.kl)) == (0.0, 0.0, 0.0)
    # ref − new = d: kl = e^d − d − 1 ≥ 0, weighted by kl_coef; d kl / d new = 1 − e^d.
    for delta in (0.5, -0.7):
        loss, grad, _, terms = _one(1.0, 0.0, reference_delta=delta)
        kl = math.exp(delta) - delta - 1
        assert float(terms.kl) == pytest.approx(kl, rel=1e-5)
        assert loss == pytest.approx(CONFIG.kl_coef * kl, rel=1e-5)
        assert grad == pytest.approx(CONFIG.kl_coef * (1 - math.exp(delta)), rel=1e-5)
    # The KL adds to the policy term.
    loss, _, _, _ = _one(1.1, 2.0, reference_delta=0.5)
    assert loss == pytest.approx(-2.2 + CONFIG.kl_coef * (math.exp(0.5) - 1.5), rel=1e-5)
