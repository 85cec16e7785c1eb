"""`playpen-play --require-scored` (what `helm test` runs) against a real game master: 0 when every episode is
scored, 1 when an episode fails for lack of a policy."""

from __future__ import annotations

import json
from pathlib import Path

from playpen_common import launcher as servers
from playpen_gamemaster.cli import main


def test_scored_episodes_pass_and_an_unreachable_policy_fails(gamemaster: servers.Service, tmp_path: Path,
                                                              capsys) -> None:
    common = ["--gamemaster", gamemaster.target, "--games", "taboo", "--instances", "1", "--require-scored"]
    assert main([*common, "--policy", "expert", "--out", str(tmp_path / "ok")]) == 0
    assert [json.loads(line)["status"] for line in (tmp_path / "ok" / "episodes.jsonl").open()] == \
        ["EPISODE_STATUS_COMPLETED"]
    assert main([*common, "--policy", "127.0.0.1:1", "--out", str(tmp_path / "down")]) == 1
    assert "1 of 1 episodes not scored" in capsys.readouterr().err
