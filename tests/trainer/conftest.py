"""Fixtures of the trainer's learning-core tests: one tiny random model per session (no download)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.tiny_model import build_tiny_model

PROMPTS = ["CLUE: a cold season", "GUESS: winter", "Answer: first", "the lazy dog"]


@pytest.fixture(scope="session")
def tiny_base(tmp_path_factory) -> Path:
    """The base checkpoint every learning-core test starts from (read-only: tests save elsewhere)."""
    return build_tiny_model(tmp_path_factory.mktemp("grpo-base") / "model")


@pytest.fixture(scope="session")
def prompt_ids(tiny_base) -> list[list[int]]:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(tiny_base))
    return [tokenizer(text)["input_ids"] for text in PROMPTS]
