"""Checkpoints the policy can load: a full save has exactly the base checkpoint's tensors, a LoRA save is
PEFT's adapter format, and `load_state_from` restores either one exactly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors import safe_open

from playpen_trainer.grpo import GrpoConfig, grpo_step, sequence_logprobs
from playpen_trainer.model import LoraSettings, PolicyModel, make_optimizer
from tests.trainer.sampling import sample_turns


def _tensors(directory: Path) -> dict[str, tuple[tuple[int, ...], str]]:
    found = {}
    for path in sorted(directory.glob("*.safetensors")):
        with safe_open(str(path), "pt") as handle:
            for name in handle.keys():
                info = handle.get_slice(name)
                found[name] = (tuple(info.get_shape()), info.get_dtype())
    return found


def _trained(tiny_base: Path, prompt_ids, lora: LoraSettings | None) -> tuple[PolicyModel, list]:
    """A model one GRPO step away from the base, and the samples it took that step on."""
    model = PolicyModel.load(tiny_base, lora=lora)
    generator = torch.Generator().manual_seed(3)
    samples = [s for p in prompt_ids for s in sample_turns(model.module, p, 4, 5, generator=generator)]
    for k, sample in enumerate(samples):
        sample.advantage = 1.0 if k % 2 else -1.0
    grpo_step(model, make_optimizer(model, lr=5e-2), samples, GrpoConfig(), ref_model=None, current_version=0,
              max_grad_norm=10.0)
    return model, samples


def _assert_same_logprobs(first: PolicyModel, second: PolicyModel, samples) -> None:
    with torch.no_grad():
        for a, b in zip(sequence_logprobs(first.module, samples), sequence_logprobs(second.module, samples),
                        strict=True):
            torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_full_checkpoint_has_the_base_tensors_and_round_trips(tiny_base, prompt_ids, tmp_path) -> None:
    model, samples = _trained(tiny_base, prompt_ids, lora=None)
    model.save(tmp_path)
    saved, base = _tensors(tmp_path), _tensors(tiny_base)
    assert saved == base  # same names (tied embeddings: no lm_head), shapes and dtype (F32)
    assert "lm_head.weight" not in saved and (tmp_path / "config.json").is_file()

    fresh = PolicyModel.load(tiny_base)
    with torch.no_grad():
        moved = [(a - b).abs().max() for a, b in zip(sequence_logprobs(fresh.module, samples),
                                                     sequence_logprobs(model.module, samples), strict=True)]
    assert max(moved) > 1e-3  # the step changed the weights, so the round trip below means something
    fresh.load_state_from(tmp_path)
    _assert_same_logprobs(fresh, model, samples)
    # The embedding and the head stay one tensor after loading.
    assert fresh.module.get_output_embeddings().weight is fresh.module.get_input_embeddings().weight


def test_lora_checkpoint_is_a_peft_adapter_and_round_trips(tiny_base, prompt_ids, tmp_path) -> None:
    lora = LoraSettings(rank=4, alpha=8, targets=("q_proj", "v_proj"))
    model, samples = _trained(tiny_base, prompt_ids, lora=lora)
    model.save(tmp_path)
    config = json.loads((tmp_path / "adapter_config.json").read_text())
    assert config["peft_type"] == "LORA" and config["r"] == 4 and config["lora_alpha"] == 8
    assert sorted(config["target_modules"]) == ["q_proj", "v_proj"]
    saved = _tensors(tmp_path)
    assert list(tmp_path.glob("*.safetensors")) == [tmp_path / "adapter_model.safetensors"]
    base = _tensors(tiny_base)
    layers = {name.removesuffix(".weight") for name in base if name.endswith(("q_proj.weight", "v_proj.weight"))}
    expected = {}
    for layer in layers:  # vLLM's naming: base_model.model.<module>.lora_{A,B}.weight, no adapter name
        out_features, in_features = base[f"{layer}.weight"][0]
        expected[f"base_model.model.{layer}.lora_A.weight"] = ((4, in_features), "F32")
        expected[f"base_model.model.{layer}.lora_B.weight"] = ((out_features, 4), "F32")
    assert saved == expected

    fresh = PolicyModel.load(tiny_base, lora=lora)
    fresh.load_state_from(tmp_path)
    _assert_same_logprobs(fresh, model, samples)
    # Only the adapter trains: with it switched off the trained model is the base model, bit for bit.
    assert all("lora_" in name for name, p in model.module.named_parameters() if p.requires_grad)
    base = PolicyModel.load(tiny_base)
    with torch.no_grad(), model.module.disable_adapter():
        for a, b in zip(sequence_logprobs(model.module, samples), sequence_logprobs(base.module, samples),
                        strict=True):
            torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_loading_the_wrong_kind_of_checkpoint_is_refused(tiny_base, tmp_path) -> None:
    full, adapter = tmp_path / "full", tmp_path / "adapter"
    PolicyModel.load(tiny_base).save(full)
    PolicyModel.load(tiny_base, lora=LoraSettings(rank=4, alpha=8)).save(adapter)
    with pytest.raises(ValueError, match="LoRA adapter"):
        PolicyModel.load(tiny_base).load_state_from(adapter)
    with pytest.raises(ValueError, match="full weights"):
        PolicyModel.load(tiny_base, lora=LoraSettings(rank=4, alpha=8)).load_state_from(full)
    with pytest.raises(ValueError, match="rank"):
        PolicyModel.load(tiny_base, lora=LoraSettings(rank=8, alpha=8)).load_state_from(adapter)
