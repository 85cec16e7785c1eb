"""`playpen-evaluator report` (and `make run`'s report): a run report from the evaluator's stored results,
the trainer's steps.jsonl and the run's configuration, through playpen_report."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

from playpen.common.v1 import checkpoint_pb2, episode_pb2
from playpen.evaluator.v1 import evaluator_pb2
from playpen_evaluator.report import main
from playpen_evaluator.store import ResultStore
from playpen_report.inputs import from_results, read_steps, render_transcript


def stored_run(path: Path) -> None:
    """Baseline v0 never plays taboo; the warm start v1 plays half; GRPO v2 plays all and wins some."""
    store = ResultStore(path)
    try:
        for version, label, played, wins in ((0, "baseline", 0, 0), (1, "warm-start", 4, 0), (2, "grpo", 8, 4)):
            result = evaluator_pb2.EvaluationResult(version=version, split="validation", label=label,
                                                    step=10 * version)
            rows, transcripts = [], {}
            for i in range(8):
                aborted, won = i >= played, i < wins
                row = evaluator_pb2.EpisodeResult(
                    episode_id=f"v{version}:{i}", game="taboo", group="seen", instance_id=f"e/{i}", aborted=aborted,
                    success=won, main_score=math.nan if aborted else (100.0 if won else 0.0), turns=2)
                rows.append(row)
                episode = episode_pb2.Episode(episode_id=row.episode_id, game="taboo", instance_id=row.instance_id,
                                              status=episode_pb2.EPISODE_STATUS_COMPLETED)
                episode.turns.add(index=0, role="Describer", reply="CLUE: a cold season")
                transcripts[row.episode_id] = episode
            store.record(result, checkpoint_pb2.CheckpointRef(version=version), protocol="p", episodes=rows,
                         transcripts=transcripts, promote_metric=float(version), eligible=True, margin=1.0)
    finally:
        store.close()


def test_the_report_command_writes_every_file_from_the_store(tmp_path, capsys) -> None:
    stored_run(tmp_path / "state" / "evaluator.db")
    steps = tmp_path / "steps.jsonl"
    steps.write_text("".join(json.dumps({"step": s, "version": s, "time": float(s), "reward_mean": s / 10,
                                         "shaping_mean": 0.1}) + "\n" for s in range(1, 11)))
    (tmp_path / "config.json").write_text('{"lr": 2e-06}')
    code = main(["--state-dir", str(tmp_path / "state"), "--out", str(tmp_path / "report"), "--steps", str(steps),
                 "--config", str(tmp_path / "config.json")])
    assert code == 0
    printed = capsys.readouterr().out
    assert "% played went up from 0.00 to 100.00" in printed
    verdict = json.loads((tmp_path / "report" / "verdict.json").read_text())
    assert (verdict["baseline_version"], verdict["latest_version"]) == (0, 2)
    assert verdict["since_stage"]["from_version"] == 1  # what GRPO alone changed, from the warm start
    assert verdict["groups"]["training"]["reward"]["direction"] == "up"
    assert json.loads((tmp_path / "report" / "config.json").read_text()) == {"lr": 2e-06}
    assert sorted(p.name for p in (tmp_path / "report" / "transcripts").iterdir()) == [
        "baseline-v0-taboo-v0_0.txt", "grpo-v2-taboo-v2_0.txt"]
    written = {p.name for p in (tmp_path / "report").iterdir()}
    assert {"reward.png", "played.png", "clemscore.png", "report.md"} <= written


def test_a_missing_store_or_bad_flags_are_refused_with_a_message(tmp_path) -> None:
    result = subprocess.run([sys.executable, "-m", "playpen_evaluator", "report", "--state-dir", str(tmp_path),
                             "--out", str(tmp_path / "r")], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "no result store" in result.stderr
    result = subprocess.run([sys.executable, "-m", "playpen_evaluator", "report"], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 2 and "--out" in result.stderr


def test_inputs_keep_the_newest_result_per_version_and_the_last_line_per_step(tmp_path) -> None:
    old = evaluator_pb2.EvaluationResult(version=1, label="first", step=5)
    new = evaluator_pb2.EvaluationResult(version=1, label="again", step=5)
    new.episodes.add(episode_id="a", game="taboo", group="seen", instance_id="e/1", main_score=50)
    chosen, evals, points = from_results([evaluator_pb2.EvaluationResult(version=2, label="later"), old, new])
    assert [r.label for r in chosen] == ["again", "later"] and [p.version for p in points] == [1, 2]
    assert [(e.version, e.label, e.main_score) for e in evals] == [(1, "again", 50.0)]
    path = tmp_path / "steps.jsonl"
    path.write_text('{"step": 1, "version": 1, "time": 1.0, "reward_mean": 0.5}\n'
                    '{"step": 1, "version": 1, "time": 2.0, "reward_mean": 0.7, "shaping_mean": 0.1}\n')
    (step,) = read_steps(path)
    assert step.time_s == 2.0 and step.reward_mean == 0.7 + 0.1 and step.game_score_mean == 0.7
    assert math.isnan(step.loss) and read_steps(tmp_path / "absent.jsonl") == []
    episode = episode_pb2.Episode(game="taboo", instance_id="e/1", status=episode_pb2.EPISODE_STATUS_CONTEXT_EXCEEDED)
    episode.turns.add(index=0, role="Guesser", reply="GUESS: winter").messages.add(role="user", content="CLUE: cold")
    text = render_transcript(episode)
    assert "EPISODE_STATUS_CONTEXT_EXCEEDED" in text
    assert "[asked] CLUE: cold" in text and "[reply] GUESS: winter" in text
