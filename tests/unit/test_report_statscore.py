"""Skill retention in the run report: the statscore per version in report.md and results.json, the sentence
comparing latest with baseline (printed by `playpen-evaluator report`), and versions evaluated without it."""

from __future__ import annotations

import json
import math
from pathlib import Path

from playpen.common.v1 import checkpoint_pb2
from playpen.evaluator.v1 import evaluator_pb2
from playpen_evaluator.report import main
from playpen_evaluator.store import ResultStore
from playpen_report import EvalPoint, SkillPoint
from playpen_report.statscore import statscore_section, statscore_sentence
from playpen_skills import wilson


def skill_point(followed: int, prompts: int = 40, suite: str = "statscore-v1") -> SkillPoint:
    low, high = wilson(followed, prompts)
    return SkillPoint(suite, prompts, followed, 100 * followed / prompts, 100 * low, 100 * high)


def stored(path: Path, followed: dict[int, int | None]) -> None:
    """One taboo episode per version, and the skill suite's counts where given (None: asked no skills)."""
    store = ResultStore(path)
    try:
        for version, count in followed.items():
            result = evaluator_pb2.EvaluationResult(version=version, split="validation", label=f"l{version}",
                                                    step=10 * version)
            if count is not None:
                p = skill_point(count)
                result.skills.CopyFrom(evaluator_pb2.SkillScore(
                    suite=p.suite, prompts=p.prompts, followed=p.followed, statscore=p.statscore, ci_low=p.ci_low,
                    ci_high=p.ci_high))
                result.skills.constraints.add(kind="lowercase", followed=count, checked=40)
                result.skills.constraints.add(kind="no_commas", followed=5, checked=10)
            row = evaluator_pb2.EpisodeResult(episode_id=f"v{version}", game="taboo", group="seen", instance_id="e/0",
                                              main_score=50.0, turns=1)
            store.record(result, checkpoint_pb2.CheckpointRef(version=version), protocol="p", episodes=[row],
                         transcripts={}, promote_metric=float(version), eligible=True, margin=1.0)
    finally:
        store.close()


def test_the_report_shows_the_statscore_per_version(tmp_path, capsys) -> None:
    stored(tmp_path / "state" / "evaluator.db", {0: 36, 1: None, 2: 12})
    assert main(["--state-dir", str(tmp_path / "state"), "--out", str(tmp_path / "report")]) == 0
    printed = capsys.readouterr().out
    assert ("Skill retention (statscore, % of statscore-v1's first 40 prompts whose every constraint was followed) "
            "went down (the 95% intervals do not overlap)") in printed
    assert "baseline v0 90.0% [76.9, 96.0] → latest v2 30.0% [18.1, 45.4]" in printed
    markdown = (tmp_path / "report" / "report.md").read_text()
    assert "## Skill retention (statscore)" in markdown
    assert "| v0 | 0 | l0 | statscore-v1 | 40 | 36 | 90.0 | [76.9, 96.0] |" in markdown
    assert "| v1 | 10 | l1 | not measured | – | – | – | – |" in markdown
    assert "| v2 | 20 | l2 | statscore-v1 | 40 | 12 | 30.0 | [18.1, 45.4] |" in markdown
    assert "| kind | v0 | v2 |" in markdown
    assert "| lowercase | 36/40 (90%) | 12/40 (30%) |" in markdown
    assert "| no_commas | 5/10 (50%) | 5/10 (50%) |" in markdown
    versions = json.loads((tmp_path / "report" / "results.json").read_text())["versions"]
    assert [v["statscore"] and v["statscore"]["followed"] for v in versions] == [36, None, 12]
    assert versions[0]["statscore"]["ci_low"] == skill_point(36).ci_low
    assert versions[2]["statscore"]["kinds"] == {"lowercase": [12, 40], "no_commas": [5, 10]}


def test_the_sentence_calls_a_change_only_when_the_intervals_do_not_overlap() -> None:
    points = [EvalPoint(0, 0, "base", False, skill_point(20)), EvalPoint(1, 5, "grpo", True, skill_point(24)),
              EvalPoint(2, 9, "grpo", True, skill_point(38)), EvalPoint(3, 9, "grpo", True, skill_point(3, 5, "v0")),
              EvalPoint(4, 9, "grpo", True)]
    assert "shows no clear change (the 95% intervals overlap)" in statscore_sentence(points, 0, 1)
    assert "went up (the 95% intervals do not overlap)" in statscore_sentence(points, 0, 2)
    assert "different prompt sets, not compared" in statscore_sentence(points, 0, 3)
    assert "v0 50.0% [35.2, 64.8]; no other version" in statscore_sentence(points, 0, 4)
    assert statscore_sentence([EvalPoint(0, 0, "base", False)], 0, 0) is None


def test_a_report_without_any_statscore_says_so(tmp_path, capsys) -> None:
    stored(tmp_path / "state" / "evaluator.db", {0: None, 1: None})
    assert main(["--state-dir", str(tmp_path / "state"), "--out", str(tmp_path / "report")]) == 0
    assert "Skill retention" not in capsys.readouterr().out
    markdown = (tmp_path / "report" / "report.md").read_text()
    assert "Not measured (the evaluator ran without the skill suite)." in markdown
    assert statscore_section([])[-1].startswith("Not measured")
    assert not math.isnan(skill_point(0).ci_high)
