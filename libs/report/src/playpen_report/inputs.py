"""From what the services keep to what a report reads: the evaluator's results, the trainer's steps.jsonl,
and episodes rendered as readable transcripts."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from playpen.common.v1 import episode_pb2
from playpen.evaluator.v1 import evaluator_pb2
from playpen_report.records import EvalEpisode, EvalPoint, SkillPoint, TrainStep


def from_results(results: Iterable[evaluator_pb2.EvaluationResult]
                 ) -> tuple[list[evaluator_pb2.EvaluationResult], list[EvalEpisode], list[EvalPoint]]:
    """One result per version (a version evaluated again, e.g. under another game set: the newest counts),
    in version order, with its episodes and its point on the curves."""
    chosen = sorted({result.version: result for result in results}.values(), key=lambda r: r.version)
    evals, points = [], []
    for result in chosen:
        skills = None
        if result.HasField("skills"):
            s = result.skills
            skills = SkillPoint(suite=s.suite, prompts=s.prompts, followed=s.followed, statscore=s.statscore,
                                ci_low=s.ci_low, ci_high=s.ci_high,
                                kinds={k.kind: (k.followed, k.checked) for k in s.constraints})
        points.append(EvalPoint(version=result.version, step=result.step, label=result.label,
                                promoted=result.promoted, skills=skills))
        evals += [EvalEpisode(version=result.version, label=result.label, game=e.game, group=e.group,
                              episode_id=e.episode_id, instance_id=e.instance_id, aborted=e.aborted,
                              success=e.success, main_score=e.main_score) for e in result.episodes]
    return chosen, evals, points


def read_steps(path: Path) -> list[TrainStep]:
    """The trainer's per-step statistics (one JSON object per line); a step retrained after a crash: its last
    line counts. A missing file means no steps."""
    latest: dict[int, dict[str, Any]] = {}
    if path.is_file():
        for line in path.read_text().splitlines():
            if line.strip():
                record = json.loads(line)
                latest[record["step"]] = record
    steps = []
    for step in sorted(latest):
        r = latest[step]
        shaping = _number(r.get("shaping_mean")) if r.get("shaping_mean") is not None else 0.0
        steps.append(TrainStep(
            # reward_mean: what GRPO optimised (game reward + format shaping); game_score_mean: the game part.
            step=step, version=r["version"], time_s=r["time"], reward_mean=_number(r.get("reward_mean")) + shaping,
            game_score_mean=_number(r.get("reward_mean")), aborted_share=_number(r.get("aborted_share")),
            well_formed_share=_number(r.get("well_formed_share")),
            per_game={g: _number(v) for g, v in (r.get("reward_per_game") or {}).items()},
            loss=_number(r.get("loss")), kl=_number(r.get("kl"))))
    return steps


def render_transcript(episode: episode_pb2.Episode) -> str:
    """An episode as text: each turn's last prompt message and the reply."""
    lines = [f"{episode.game} {episode.instance_id} — {episode_pb2.EpisodeStatus.Name(episode.status)}, outcome "
             f"{episode_pb2.GameOutcome.Name(episode.outcome)}, main score {episode.scores.main_score}"]
    for turn in episode.turns:
        lines.append(f"\n--- turn {turn.index} · {turn.role} ({episode_pb2.TurnStatus.Name(turn.status)}) ---")
        if turn.messages:
            lines.append(f"[asked] {turn.messages[-1].content}")
        lines.append(f"[reply] {turn.reply}")
    return "\n".join(lines) + "\n"


def _number(value: Any) -> float:
    return math.nan if value is None else float(value)
