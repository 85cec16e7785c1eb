from pathlib import Path

import pytest
from pydantic import ValidationError

from playpen_gamemaster.settings import GameMasterSettings
from playpen_policy.settings import PolicySettings


def test_each_service_reads_its_own_prefix(monkeypatch) -> None:
    monkeypatch.setenv("PLAYPEN_GAMEMASTER_PORT", "6001")
    monkeypatch.setenv("PLAYPEN_POLICY_PORT", "6002")
    monkeypatch.setenv("PLAYPEN_GAMEMASTER_CLEMBENCH_DIR", "/data/clembench")
    assert GameMasterSettings().port == 6001 and PolicySettings().port == 6002
    assert GameMasterSettings().clembench_dir == Path("/data/clembench")


def test_flags_override_and_bad_values_are_refused(monkeypatch) -> None:
    monkeypatch.setenv("PLAYPEN_GAMEMASTER_PORT", "6001")
    settings = GameMasterSettings(_cli_parse_args=["--port", "0", "--policy-timeout-s", "2.5"])
    assert settings.port == 0 and settings.policy_timeout_s == 2.5
    with pytest.raises(ValidationError):
        GameMasterSettings(_cli_parse_args=["--port", "70000"])


def test_a_policy_follows_one_source_at_most() -> None:
    assert PolicySettings(_cli_parse_args=["--follow-evaluator", "evaluator:50054"]).follow_evaluator
    with pytest.raises(ValidationError, match="not several"):
        PolicySettings(_cli_parse_args=["--follow-evaluator", "e:1", "--follow-trainer", "t:1"])
