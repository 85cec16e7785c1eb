"""The recipe comparison: runs of `make run --recipe sft|grpo|dpo` side by side, each row one run's final version.

Every run writes `recipe.json` into its report: its final version's seen clemscore, unseen clemscore, unseen %
played and statscore, each with its 95% interval (games: the version's instances resampled within every game,
as the verdict does; statscore: the Wilson interval), and the same for its untrained baseline. The report of a
run then puts every recipe whose recipe.json it is given beside its own. The runs must have evaluated the same
instances (same seed, split and games) for the rows to be comparable; a run whose baseline played other instances
is listed with a note, not silently mixed in.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from playpen_report.records import EvalEpisode, EvalPoint, SkillPoint
from playpen_report.verdict import version_levels

RECIPE_FILE = "recipe.json"
# (group, metric) shown per recipe, in the table's order.
COLUMNS = (("seen", "clemscore", "seen clemscore"), ("unseen", "clemscore", "unseen clemscore"),
           ("unseen", "played", "unseen % played"))


@dataclass(frozen=True)
class Level:
    """A value with its 95% interval; NaN where the version did not play the group."""

    value: float
    ci_low: float
    ci_high: float


@dataclass(frozen=True)
class VersionSummary:
    version: int
    label: str
    levels: dict[str, Level]  # "seen clemscore", "unseen clemscore", "unseen % played", "statscore"


@dataclass(frozen=True)
class RecipeResult:
    recipe: str
    run: str  # the run folder's name
    evaluation: dict[str, Any]  # what makes runs comparable: the group/game/instance ids its baseline played
    baseline: VersionSummary
    final: VersionSummary


def summarise(evals: Sequence[EvalEpisode], points: Sequence[EvalPoint], version: int, *, seed: int = 0,
              resamples: int = 2000) -> VersionSummary:
    nan = Level(math.nan, math.nan, math.nan)
    levels = version_levels(evals, version, seed=seed, resamples=resamples)
    shown = {name: Level(*levels[(group, metric)]) if (group, metric) in levels else nan
             for group, metric, name in COLUMNS}
    skills: SkillPoint | None = next((p.skills for p in points if p.version == version), None)
    shown["statscore"] = Level(skills.statscore, skills.ci_low, skills.ci_high) if skills else nan
    label = next((p.label for p in points if p.version == version),
                 next((e.label for e in evals if e.version == version), "unlabelled"))
    return VersionSummary(version, label, shown)


def write_recipe(path: Path, result: RecipeResult) -> None:
    def plain(value: Any) -> Any:
        if isinstance(value, float):
            return value if math.isfinite(value) else None
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [plain(v) for v in value]
        return value

    path.write_text(json.dumps(plain(asdict(result)), indent=2, allow_nan=False) + "\n")


def read_recipe(path: Path) -> RecipeResult:
    data = json.loads(Path(path).read_text())

    def summary(part: dict[str, Any]) -> VersionSummary:
        levels = {name: Level(*(math.nan if level[k] is None else float(level[k])
                                for k in ("value", "ci_low", "ci_high")))
                  for name, level in part["levels"].items()}
        return VersionSummary(int(part["version"]), str(part["label"]), levels)

    return RecipeResult(str(data["recipe"]), str(data["run"]), dict(data["evaluation"]), summary(data["baseline"]),
                        summary(data["final"]))


def _cell(level: Level | None) -> str:
    if level is None or math.isnan(level.value):
        return "–"
    return f"{level.value:.2f} [{level.ci_low:.2f}, {level.ci_high:.2f}]"


def recipes_section(own: RecipeResult, others: Sequence[RecipeResult]) -> list[str]:
    """report.md's section; empty unless another recipe's run is known (one recipe compares with nothing)."""
    runs = {own.recipe: own}
    for other in sorted(others, key=lambda r: (r.recipe, r.run)):
        runs.setdefault(other.recipe, other)  # this run's own result wins for its recipe
    if len(runs) < 2:
        return []
    names = [name for _, _, name in COLUMNS] + ["statscore"]
    lines = ["## Recipes side by side", "",
             "Each recipe's run, its final version on the same held-out instances at temperature 0 (the untrained "
             "model first, from this run). Value [95% CI]: games resampled by instance within every game, "
             "statscore's Wilson interval. Intervals that overlap do not show a difference.", "",
             "| recipe | run | version | " + " | ".join(names) + " |", "| --- |" + " --- |" * (len(names) + 2)]
    rows = [("untrained", own.run, own.baseline)] + [(r.recipe, r.run, r.final) for r in runs.values()]
    for recipe, run, summary in rows:
        cells = [recipe, run, f"v{summary.version} ({summary.label})", *(_cell(summary.levels.get(n)) for n in names)]
        lines.append("| " + " | ".join(cells) + " |")
    differing = [r for r in runs.values() if r.evaluation != own.evaluation]
    if differing:
        lines += ["", "Not comparable row by row: " + ", ".join(f"{r.recipe} ({r.run})" for r in differing)
                  + " evaluated other instances or games than this run (split, seed or game lists differ)."]
    return lines
