"""The bounded soak (tests/reliability/soak.py): the closed loop on CPU — tiny trainer, scripted policy following
it, game master, self-play — for PLAYPEN_SOAK_SECONDS (default 1200 s, 20 min), with the policy or the trainer
SIGKILLed every 15-40 s and started again on its port.

Pass: no episode lost (every round self-play reported as acknowledged is in the trainer's ledger), none
duplicated, at least one kill of each service when the soak is long enough to draw both, self-play ended by
its time budget (it never gave up), and every service stopped cleanly (exit 0) at the end. The longest stall
is reported, not asserted (it is a kill's restart time on whatever machine runs it).
"""

from __future__ import annotations

import json
import os

import pytest

from tests.conftest import unavailable
from tests.reliability.soak import TRAINER_BIN, run_soak
from tests.reliability.support import TOOLS

pytestmark = [pytest.mark.slow, pytest.mark.integration]


def test_random_kills_of_policy_and_trainer_lose_and_duplicate_nothing(tmp_path) -> None:
    """Pass: see the module docstring."""
    for executable in (TRAINER_BIN / "playpen-trainer", TOOLS / "playpen-selfplay"):
        if not executable.exists():
            unavailable(f"{executable} is not installed; run `make setup`")
    seconds = float(os.environ.get("PLAYPEN_SOAK_SECONDS", "1200"))
    figures = run_soak(tmp_path, seconds=seconds, seed=1)
    print(json.dumps(figures))
    assert figures["lost"] == 0 and figures["duplicated"] == 0, figures
    assert figures["rounds"] > 0 and figures["ledger_episodes"] >= figures["episodes"], figures
    assert figures["stopped_by"].startswith("time budget"), figures
    assert all(code == 0 for code in figures["exit_codes"].values()), figures
    if seconds >= 600:
        assert {kill["service"] for kill in figures["kills"]} == {"policy", "trainer"}, figures
