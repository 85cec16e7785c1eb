"""The recipe comparison of the run report: a version's own values with 95% intervals, recipe.json written and read
back, and the side-by-side section only when another recipe's run is known (synthetic records)."""

from __future__ import annotations

import json
import math
from pathlib import Path

from playpen_report import EvalEpisode, EvalPoint, SkillPoint, write_report
from playpen_report.recipes import Level, read_recipe, recipes_section, summarise
from playpen_report.verdict import version_levels
from playpen_skills import wilson


def episodes(version: int, game: str, group: str, played: int, won: int, instances: int = 20,
             label: str = "") -> list[EvalEpisode]:
    """`instances` episodes: the first `played` not aborted, the first `won` of those scored 100, the rest 0."""
    rows = []
    for i in range(instances):
        aborted = i >= played
        score = math.nan if aborted else 100.0 * (i < won)
        rows.append(EvalEpisode(version, label or f"v{version}", game, group, f"{game}-{version}-{i}", f"i{i}",
                                aborted, i < won, score))
    return rows


def skills(followed: int, prompts: int = 40) -> SkillPoint:
    low, high = wilson(followed, prompts)
    return SkillPoint("statscore-v1", prompts, followed, 100 * followed / prompts, 100 * low, 100 * high)


def run_records(final_label: str, seen_won: int, unseen_played: int, followed: int):
    evals = (episodes(0, "taboo", "seen", 10, 0) + episodes(0, "wordle", "seen", 0, 0)
             + episodes(0, "guesswhat", "unseen", 4, 0)
             + episodes(1, "taboo", "seen", 20, seen_won, label=final_label)
             + episodes(1, "wordle", "seen", 10, seen_won // 2, label=final_label)
             + episodes(1, "guesswhat", "unseen", unseen_played, 2, label=final_label))
    points = [EvalPoint(0, 0, "baseline", False, skills(30)), EvalPoint(1, 8, final_label, True, skills(followed))]
    return evals, points


def test_a_versions_own_values_are_clembench_means_with_intervals_around_them() -> None:
    evals, _ = run_records("grpo", seen_won=10, unseen_played=15, followed=28)
    levels = version_levels(evals, 1, resamples=500)
    # taboo: played 100, quality 50; wordle: played 50, quality 50 → seen played 75, quality 50, clemscore 37.5.
    value, low, high = levels[("seen", "clemscore")]
    assert value == 37.5 and low < value < high
    value, low, high = levels[("unseen", "played")]
    assert value == 75.0 and low < 75.0 < high and high <= 100.0
    assert levels[("seen", "played")][0] == 75.0
    assert version_levels(evals, 1, resamples=500) == levels  # seeded: the same numbers every time
    assert version_levels(evals, 7, resamples=10) == {}  # a version never evaluated has no values


def test_recipe_json_round_trips_and_carries_statscore_and_the_baseline(tmp_path: Path) -> None:
    evals, points = run_records("grpo", seen_won=10, unseen_played=15, followed=28)
    verdict = write_report(tmp_path / "grpo" / "report", evals=evals, points=points, steps=[], transcripts=[],
                           config={}, baseline_version=0, resamples=300, recipe="grpo", run_name="grpo")
    assert verdict.latest_version == 1
    result = read_recipe(tmp_path / "grpo" / "report" / "recipe.json")
    assert (result.recipe, result.run, result.final.version, result.final.label) == ("grpo", "grpo", 1, "grpo")
    assert result.final.levels["seen clemscore"].value == 37.5
    assert result.final.levels["statscore"] == Level(70.0, *(100 * x for x in wilson(28, 40)))
    assert result.baseline.version == 0 and result.baseline.levels["seen clemscore"].value == 0.0
    assert len(result.evaluation["instances"]) == 60  # every group/game/instance the baseline played
    # Alone, the report has no comparison section: nothing to compare with.
    assert "## Recipes side by side" not in (tmp_path / "grpo" / "report" / "report.md").read_text()


def test_several_recipes_are_put_side_by_side_with_their_intervals(tmp_path: Path) -> None:
    for recipe, won, played, followed in (("sft", 4, 10, 30), ("dpo", 6, 12, 29)):
        evals, points = run_records(recipe, won, played, followed)
        write_report(tmp_path / recipe / "report", evals=evals, points=points, steps=[], transcripts=[], config={},
                     baseline_version=0, resamples=300, recipe=recipe, run_name=recipe)
    others = [read_recipe(tmp_path / name / "report" / "recipe.json") for name in ("sft", "dpo")]
    evals, points = run_records("grpo", seen_won=10, unseen_played=15, followed=28)
    write_report(tmp_path / "default" / "report", evals=evals, points=points, steps=[], transcripts=[], config={},
                 baseline_version=0, resamples=300, recipe="grpo", run_name="default", other_recipes=others)
    markdown = (tmp_path / "default" / "report" / "report.md").read_text()
    section = markdown[markdown.index("## Recipes side by side"):]
    rows = [line for line in section.splitlines() if line.startswith("| ") and "---" not in line]
    assert rows[0] == ("| recipe | run | version | seen clemscore | unseen clemscore | unseen % played | statscore |")
    assert [row.split(" | ")[0] for row in rows[1:]] == ["| untrained", "| grpo", "| dpo", "| sft"]
    grpo = next(row for row in rows if row.startswith("| grpo"))
    low, high = (100 * x for x in wilson(28, 40))
    assert grpo.startswith("| grpo | default | v1 (grpo) | 37.50 [")
    assert grpo.endswith(f"| 70.00 [{low:.2f}, {high:.2f}] |")
    sft = next(row for row in rows if row.startswith("| sft"))
    assert "| 50.00 [" in sft  # unseen % played: 10 of 20
    assert "Not comparable" not in section


def test_this_runs_own_result_wins_and_other_instances_are_flagged() -> None:
    evals, points = run_records("grpo", seen_won=10, unseen_played=15, followed=28)
    own = summarise(evals, points, 1, resamples=50)
    baseline = summarise(evals, points, 0, resamples=50)
    from playpen_report.recipes import RecipeResult

    mine = RecipeResult("grpo", "default", {"instances": ["a"]}, baseline, own)
    stale = RecipeResult("grpo", "old", {"instances": ["a"]}, baseline, baseline)
    elsewhere = RecipeResult("sft", "sft", {"instances": ["b"]}, baseline, baseline)
    assert recipes_section(mine, [stale]) == []  # the same recipe only: nothing to compare
    lines = recipes_section(mine, [stale, elsewhere])
    assert sum(line.startswith("| grpo |") for line in lines) == 1
    assert any(line.startswith("| grpo | default |") for line in lines)
    assert lines[-1].startswith("Not comparable row by row: sft (sft)")
    assert json.dumps([line for line in lines if "nan" in line.lower()]) == "[]"


def test_the_latest_is_the_newest_version_even_when_the_warm_start_counts_more_steps(tmp_path: Path) -> None:
    # The warm start (v1) carries its SFT step count (24), above GRPO's steps (3) after it.
    evals = (episodes(0, "taboo", "seen", 0, 0) + episodes(1, "taboo", "seen", 10, 0, label="warm-start")
             + episodes(4, "taboo", "seen", 20, 5, label="grpo"))
    points = [EvalPoint(0, 0, "baseline", True), EvalPoint(4, 3, "grpo", True), EvalPoint(1, 24, "warm-start", True)]
    verdict = write_report(tmp_path, evals=evals, points=points, steps=[], transcripts=[], config={},
                           baseline_version=0, resamples=100, stage_version=1, stage_name="GRPO")
    assert verdict.latest_version == 4
    assert json.loads((tmp_path / "verdict.json").read_text())["since_stage"]["from_version"] == 1
