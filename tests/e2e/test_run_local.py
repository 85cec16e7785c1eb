"""`make run` as a new user meets it: services up, games played through gRPC, table printed, all stopped."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from playpen_gamemaster.games import TRAINING_GAMES

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.integration
def test_run_local_plays_every_training_game_and_stops_its_services(tmp_path: Path) -> None:
    out = tmp_path / "run"
    finished = subprocess.run([sys.executable, str(REPO / "scripts" / "run_local.py"), "--out", str(out),
                               "--instances", "2", "--policy", "scripted"], cwd=REPO, capture_output=True,
                              text=True, timeout=600)
    assert finished.returncode == 0, finished.stdout + finished.stderr
    episodes = [json.loads(line) for line in (out / "episodes.jsonl").read_text().splitlines()]
    assert sorted({e["game"] for e in episodes}) == sorted(TRAINING_GAMES)
    assert len(episodes) == 2 * len(TRAINING_GAMES)
    assert all(e["status"] == "EPISODE_STATUS_COMPLETED" for e in episodes)
    assert "all (macro)" in finished.stdout
    for game in TRAINING_GAMES:
        assert any(line.startswith(game + " ") for line in finished.stdout.splitlines()), game
    for log in ("policy.log", "gamemaster.log"):
        assert '"stopped"' in (out / log).read_text(), f"{log}: service was not stopped gracefully"
