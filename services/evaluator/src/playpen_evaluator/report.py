"""`playpen-evaluator report`: a run report from the evaluator's stored results (playpen_report).

Reads the result store (the evaluator may be running: readers do not block it), optionally the trainer's
steps.jsonl for the training curves and a JSON file of the run's configuration, and writes report.md,
verdict.json, results.json, the curves and one sample transcript per game of the baseline and the newest
version. `make run` writes its report through the same function.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from playpen_common.settings import CommandSettings, parse_command_line


class ReportSettings(CommandSettings):
    model_config = SettingsConfigDict(env_prefix="PLAYPEN_EVALUATOR_REPORT_")

    state_dir: Path = Field(Path("evaluator-data"), description="the evaluator's state folder")
    db_path: Path | None = Field(None, description="its result store (default: <state-dir>/evaluator.db)")
    out: Path = Field(description="folder the report is written to")
    split: str = Field("validation", description="split whose results are reported")
    steps: Path | None = Field(None, description="the trainer's steps.jsonl, for the training curves and verdict")
    config: Path | None = Field(None, description="JSON file of the run's configuration, kept in the report")
    baseline_version: int = Field(0, ge=0, description="version every later one is compared with")
    stage_label: str = Field("warm-start", description="label of the result where the last training stage "
                                                       "started (what it alone changed is reported too)")
    stage_name: str = Field("GRPO", description="name of that stage in the report")
    recipe: str = Field("", description="the run's recipe (sft, grpo, dpo): writes recipe.json and compares it with "
                                        "the --compare runs")
    compare: list[Path] = Field(default_factory=list, description="other runs' report/recipe.json, put side by side "
                                                                  "with this one (repeatable)")
    seed: int = Field(0, description="seed of the bootstrap")
    resamples: int = Field(2000, ge=1, description="bootstrap resamples per interval")


def write_run_report(store_path: Path, out: Path, *, split: str, steps_path: Path | None = None,
                     config: dict[str, Any] | None = None, baseline_version: int = 0,
                     stage_label: str = "warm-start", stage_name: str = "GRPO", seed: int = 0,
                     resamples: int = 2000, recipe: str | None = None, compare: list[Path] | None = None):
    """Write the report of every version evaluated on `split`; returns the verdict."""
    from playpen_evaluator.store import ResultStore
    from playpen_report import Transcript, write_report
    from playpen_report.inputs import from_results, read_steps, render_transcript
    from playpen_report.recipes import read_recipe
    from playpen_report.signal import read_groups

    if not store_path.is_file():
        raise FileNotFoundError(f"no result store at {store_path}")
    store = ResultStore(store_path)
    try:
        results, evals, points = from_results(store.results([], split, include_episodes=True))
        transcripts = []
        if results:
            for result in {r.version: r for r in (results[0], results[-1])}.values():
                games_done: set[str] = set()
                for episode in store.transcripts(result.version, split):
                    if episode.game not in games_done:
                        games_done.add(episode.game)
                        transcripts.append(Transcript(version=result.version, label=result.label,
                                                      game=episode.game, episode_id=episode.episode_id,
                                                      text=render_transcript(episode)))
    finally:
        store.close()
    return write_report(out, evals=evals, points=points, steps=read_steps(steps_path) if steps_path else [],
                        transcripts=transcripts, config=config or {}, baseline_version=baseline_version, seed=seed,
                        resamples=resamples, stage_name=stage_name,
                        stage_version=next((r.version for r in results if r.label == stage_label), None),
                        recipe=recipe, run_name=out.parent.name if recipe else "",
                        other_recipes=[read_recipe(path) for path in compare or []],
                        # The trainer writes groups.jsonl beside steps.jsonl.
                        groups=read_groups(steps_path.parent / "groups.jsonl") if steps_path else [])


def main(argv: list[str]) -> int:
    settings = parse_command_line(ReportSettings, argv, "playpen-evaluator report")
    try:
        config = json.loads(settings.config.read_text()) if settings.config else {}
        verdict = write_run_report(settings.db_path or settings.state_dir / "evaluator.db", settings.out,
                                   split=settings.split, steps_path=settings.steps, config=config,
                                   baseline_version=settings.baseline_version, stage_label=settings.stage_label,
                                   stage_name=settings.stage_name, seed=settings.seed, resamples=settings.resamples,
                                   recipe=settings.recipe or None, compare=settings.compare)
    except (OSError, json.JSONDecodeError, KeyError) as error:
        print(f"playpen-evaluator report: error: {error}", file=sys.stderr)
        return 2
    for sentence in verdict.sentences[:-1]:  # the last one explains how to read them: see report.md
        print(sentence)
    print(f"report: {settings.out / 'report.md'}")
    return 0
