"""Where GRPO found signal: groups.jsonl read back (a line cut short by a crash skipped), counted per game with the
reason a flat group had none, and the report's section and results.json entry (synthetic groups)."""

from __future__ import annotations

import json
import math
from pathlib import Path

from playpen_report import EvalEpisode, EvalPoint, write_report
from playpen_report.signal import read_groups, signal_section, summarise_signal


def group(game: str, rewards: list[float], aborted: list[bool], *, step: int | None, set_aside: bool = False) -> dict:
    signal = len(set(rewards)) > 1
    return {"step": step, "game": game, "instance_id": f"{game}/1", "signal": signal, "set_aside": set_aside,
            "game_rewards": rewards, "shaping": [0.0] * len(rewards), "aborted": aborted,
            "advantages": [0.0] * len(rewards), "versions": [1] * len(rewards), "time": 1.0}


def write_groups(path: Path) -> None:
    lines = [group("taboo", [1.0, 0.0, 0.0, 0.0], [False] * 4, step=1),
             group("taboo", [-0.5] * 4, [True] * 4, step=None, set_aside=True),
             group("wordle", [-0.5] * 4, [True] * 4, step=None, set_aside=True),
             group("wordle", [0.0] * 4, [False] * 4, step=None, set_aside=True),
             group("wordle", [0.0, -0.5, 0.0, -0.5], [False, True, False, True], step=2)]
    path.write_text("\n".join(json.dumps(line) for line in lines) + '\n{"step": 3, "game": "ta')  # cut short


def test_groups_are_counted_per_game_with_why_the_flat_ones_had_no_signal(tmp_path: Path) -> None:
    write_groups(tmp_path / "groups.jsonl")
    groups = read_groups(tmp_path / "groups.jsonl")
    assert len(groups) == 5  # the line cut short by a crash is skipped
    taboo, wordle = summarise_signal(groups)
    assert (taboo.game, taboo.groups, taboo.with_signal, taboo.flat_all_aborted, taboo.flat_same_score,
            taboo.set_aside, taboo.trained) == ("taboo", 2, 1, 1, 0, 1, 1)
    assert (wordle.groups, wordle.with_signal, wordle.flat_all_aborted, wordle.flat_same_score, wordle.trained) == (
        3, 1, 1, 1, 1)
    assert math.isclose(taboo.mean_game_reward, (1.0 - 2.0) / 8) and taboo.aborted_share == 0.5
    assert math.isclose(wordle.signal_share, 1 / 3)
    section = "\n".join(signal_section([taboo, wordle]))
    assert "Of 5 groups the trainer judged, 2 (40%) had rewards that differ" in section
    assert "2 were flat because every episode aborted and 1 because every episode got the same score" in section
    assert "| wordle | 3 | 1 (33%) | 1 | 1 | 2 | 1 | -0.25 | 50.00 |" in section


def test_no_groups_no_section(tmp_path: Path) -> None:
    assert read_groups(tmp_path / "missing.jsonl") == []
    assert signal_section(summarise_signal([])) == []


def test_the_report_carries_the_section_and_results_json_the_numbers(tmp_path: Path) -> None:
    write_groups(tmp_path / "groups.jsonl")
    evals = [EvalEpisode(v, f"v{v}", "taboo", "seen", f"e{v}-{i}", f"i{i}", False, i < v, 100.0 * (i < v))
             for v in (0, 1) for i in range(4)]
    points = [EvalPoint(0, 0, "baseline", False), EvalPoint(1, 2, "grpo", True)]
    write_report(tmp_path / "report", evals=evals, points=points, steps=[], transcripts=[], config={},
                 baseline_version=0, resamples=100, groups=read_groups(tmp_path / "groups.jsonl"))
    report = (tmp_path / "report" / "report.md").read_text()
    assert "## Where GRPO found signal" in report and "| taboo | 2 | 1 (50%) |" in report
    results = json.loads((tmp_path / "report" / "results.json").read_text())
    assert [row["game"] for row in results["training_signal"]] == ["taboo", "wordle"]
    assert results["training_signal"][0]["signal_share"] == 0.5
    # Without groups (an SFT run, a trainer from before groups.jsonl) the report has no such section.
    write_report(tmp_path / "plain", evals=evals, points=points, steps=[], transcripts=[], config={},
                 baseline_version=0, resamples=100)
    assert "Where GRPO found signal" not in (tmp_path / "plain" / "report.md").read_text()
