"""Every recorded episode in ../shared/parity replays to exactly its official scores."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from playpen_games.registry import GAMES
from playpen_games.replay import replay_fixture

from ..conftest import shared_dir

FIXTURES = sorted((shared_dir() / "parity").glob("*/*.json"))


def _implemented(path: Path) -> bool:
    return path.parent.name in GAMES


@pytest.mark.parametrize("fixture_path", [p for p in FIXTURES if _implemented(p)],
                         ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_fixture_replays_to_official_scores(fixture_path: Path, clembench: Path) -> None:
    fixture = json.loads(fixture_path.read_text())
    outcome = replay_fixture(fixture, clembench, name=fixture_path.name)
    assert not outcome.divergence, outcome.divergence
    assert not outcome.mismatches, outcome.mismatches


def test_parity_corpus_is_present(shared: Path) -> None:
    assert any(_implemented(p) for p in FIXTURES), f"no parity fixtures under {shared / 'parity'}"
