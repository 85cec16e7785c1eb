"""write_report: every file of a run report, from plain data (see the package docstring)."""

from __future__ import annotations

import json
import math
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from playpen_games.clemscore import Clemscore
from playpen_report.markdown import render_markdown
from playpen_report.plots import write_plots
from playpen_report.recipes import RECIPE_FILE, RecipeResult, recipes_section, summarise, write_recipe
from playpen_report.records import (
    CONFIDENCE,
    GROUPS,
    NO_GAMES,
    OVERALL,
    EvalEpisode,
    EvalPoint,
    TrainStep,
    Transcript,
    Verdict,
    VerdictEntry,
)
from playpen_report.signal import JudgedGroup, signal_data, signal_section, summarise_signal
from playpen_report.statscore import statscore_sentence
from playpen_report.tables import group_games, version_table
from playpen_report.verdict import compare_training, compare_versions
from playpen_report.wording import capitalised, describe, sentences


def write_report(directory: str | Path, *, evals: Sequence[EvalEpisode], points: Sequence[EvalPoint],
                 steps: Sequence[TrainStep], transcripts: Sequence[Transcript], config: dict[str, Any],
                 baseline_version: int, seed: int = 0, resamples: int = 2000,
                 stage_version: int | None = None, stage_name: str = "the last stage", recipe: str | None = None,
                 run_name: str = "", other_recipes: Sequence[RecipeResult] = (),
                 groups: Sequence[JudgedGroup] = ()) -> Verdict:
    """Write the report; returns the verdict (baseline → latest).

    `stage_version`: where the last training stage started (e.g. the warm start GRPO began from). When given,
    the verdict also says what changed from it to the latest version — what that stage alone did.
    `recipe`: the run's recipe; its summary is written to recipe.json, and `other_recipes` (other runs' recipe.json)
    are put beside it in the report (recipes.py). `groups`: the groups GRPO judged (signal.py), summarised per game."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    # Versions are committed in training order; steps are not comparable across stages (an SFT warm start
    # committed as v1 carries its own SFT step count, above the first GRPO steps after it).
    points = sorted(points, key=lambda p: (p.version, p.step))
    by_version: dict[int, list[EvalEpisode]] = defaultdict(list)
    for episode in evals:
        by_version[episode.version].append(episode)
    tables = {version: version_table(episodes) for version, episodes in sorted(by_version.items())}
    latest = points[-1].version if points else max(by_version, default=baseline_version)
    best = _best_version(points, tables)
    games = group_games(evals)

    entries = compare_versions(evals, baseline_version=baseline_version, latest_version=latest, seed=seed,
                               resamples=resamples)
    entries += compare_training(steps, seed=seed, resamples=resamples)

    labels = _labels(points, evals)
    names = {"baseline": _version_name(baseline_version, labels, points),
             "latest": _version_name(latest, labels, points),
             "best": "not determined (no seen games evaluated)" if best is None else
             f"{_version_name(best, labels, points)} by seen clemscore {tables[best]['seen']['mean'].clemscore:.2f}"}
    lines = sentences(entries, games, names, resamples, seed)
    stage_entries: list[VerdictEntry] = []
    if stage_version is not None and stage_version not in (baseline_version, latest) and stage_version in tables:
        stage_entries = compare_versions(evals, baseline_version=stage_version, latest_version=latest, seed=seed,
                                         resamples=resamples)
        stage = _version_name(stage_version, labels, points)
        stage_lines = [f"{capitalised(stage_name)} alone ({stage} → latest):"]
        for group in (*GROUPS, OVERALL):
            group_entries = [e for e in stage_entries if e.group == group]
            if group_entries and group_entries[0].direction != NO_GAMES:
                stage_lines.append(f"{group}: " + " ".join(capitalised(describe(e)) for e in group_entries))
        lines.insert(-1, " ".join(stage_lines))
    skills = statscore_sentence(points, baseline_version, latest)
    if skills is not None:
        lines.insert(-1, skills)
    verdict = Verdict(baseline_version, latest, best, tuple(entries), tuple(lines))

    write_plots(out, points, steps, tables, baseline_version)
    transcript_files = _write_transcripts(out / "transcripts", transcripts)
    (out / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True, default=str) + "\n")
    verdict_data = _verdict_data(verdict, resamples, seed)
    if stage_entries:
        stage_verdict = Verdict(stage_version, latest, best, tuple(stage_entries), ())
        verdict_data["since_stage"] = {"stage": stage_name, "from_version": stage_version,
                                       **_verdict_data(stage_verdict, resamples, seed)}
    _write_json(out / "verdict.json", verdict_data)
    signal = summarise_signal(groups)
    _write_json(out / "results.json", {
        "baseline_version": baseline_version, "latest_version": latest, "best_version": best,
        "games": games, "versions": _versions_data(points, tables, labels), "verdict": verdict_data,
        "training_steps": [asdict(s) for s in sorted(steps, key=lambda s: s.step)],
        "training_signal": signal_data(signal)})
    recipes: list[str] = []
    if recipe is not None:
        evaluated = sorted({f"{e.group}/{e.game}/{e.instance_id}" for e in by_version.get(baseline_version, [])})
        own = RecipeResult(recipe, run_name, {"instances": evaluated},
                           summarise(evals, points, baseline_version, seed=seed, resamples=resamples),
                           summarise(evals, points, latest, seed=seed, resamples=resamples))
        write_recipe(out / RECIPE_FILE, own)
        recipes = recipes_section(own, other_recipes)
    (out / "report.md").write_text(render_markdown(verdict, tables, games, points, steps, transcript_files,
                                                   recipes, signal_section(signal)))
    return verdict


def _best_version(points: Sequence[EvalPoint], tables: dict[int, dict[str, Any]]) -> int | None:
    candidates = [(tables[p.version]["seen"]["mean"].clemscore, p.version) for p in points
                  if p.version in tables and tables[p.version]["seen"]["mean"] is not None]
    if not candidates:
        return None
    top = max(score for score, _ in candidates)
    return next(version for score, version in candidates if score == top)  # the earliest of a tie


def _labels(points: Sequence[EvalPoint], evals: Sequence[EvalEpisode]) -> dict[int, str]:
    labels = {e.version: e.label for e in evals}
    labels.update({p.version: p.label for p in points})
    return labels


def _version_name(version: int, labels: dict[int, str], points: Sequence[EvalPoint]) -> str:
    step = next((p.step for p in points if p.version == version), None)
    where = f", step {step}" if step is not None else ""
    return f"v{version} ({labels.get(version, 'unlabelled')}{where})"


def _plain(value: Any) -> Any:
    """JSON without NaN: a missing number is null."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(_plain(data), indent=2, allow_nan=False) + "\n")


def _verdict_data(verdict: Verdict, resamples: int, seed: int) -> dict[str, Any]:
    groups: dict[str, dict[str, Any]] = defaultdict(dict)
    for entry in verdict.entries:
        groups[entry.group][entry.metric] = {k: v for k, v in asdict(entry).items() if k not in ("group", "metric")}
    return {"baseline_version": verdict.baseline_version, "latest_version": verdict.latest_version,
            "best_version": verdict.best_version, "confidence": CONFIDENCE, "resamples": resamples, "seed": seed,
            "groups": dict(groups), "sentences": list(verdict.sentences)}


def _score_data(score: Clemscore | None) -> dict[str, Any] | None:
    return None if score is None else asdict(score)


def _versions_data(points: Sequence[EvalPoint], tables: dict[int, dict[str, Any]],
                   labels: dict[int, str]) -> list[dict[str, Any]]:
    listed = [(p.version, p.step, p.promoted, p.skills) for p in points]
    listed += [(v, None, None, None) for v in tables if v not in {p.version for p in points}]
    rows = []
    for version, step, promoted, skills in listed:
        table = tables.get(version)
        row: dict[str, Any] = {"version": version, "step": step, "label": labels.get(version), "promoted": promoted,
                               "statscore": asdict(skills) if skills else None}
        for group in GROUPS:
            part = table[group] if table else {"games": {}, "mean": None}
            row[group] = {"games": {g: asdict(s) for g, s in part["games"].items()}, "mean": _score_data(part["mean"])}
        row[OVERALL] = _score_data(table[OVERALL] if table else None)
        rows.append(row)
    return rows


def _write_transcripts(folder: Path, transcripts: Sequence[Transcript]) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    written: list[str] = []
    for t in transcripts:
        stem = "-".join(_safe(part) for part in (t.label, f"v{t.version}", t.game, t.episode_id))
        name, copy = f"{stem}.txt", 1
        while name in written:  # two episodes whose ids only differ in unsafe characters
            copy += 1
            name = f"{stem}-{copy}.txt"
        (folder / name).write_text(t.text)
        written.append(name)
    return written


def _safe(part: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", part).strip("._-") or "_"
