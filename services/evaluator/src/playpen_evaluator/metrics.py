"""The evaluator's Prometheus metrics (all prefixed playpen_evaluator_).

Scores are gauges of the latest evaluated version only (its number in `evaluated_version`), so label sets stay
as small as the game set: the history of every version lives in the result store, not in Prometheus.
"""

from __future__ import annotations

import math

from playpen.evaluator.v1 import evaluator_pb2
from playpen_common.metrics import ServiceMetrics

_DURATION_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200)


class EvaluatorMetrics(ServiceMetrics):
    def __init__(self) -> None:
        super().__init__("evaluator")
        self.clemscore = self.gauge("clemscore", "clemscore per game of the latest evaluated version",
                                    ["game", "group"])
        self.group_clemscore = self.gauge(
            "group_clemscore", "clemscore per group (seen, unseen, overall) of the latest evaluated version", ["group"])
        self.statscore = self.gauge("statscore", "% of skill-suite prompts whose every constraint the latest "
                                    "evaluated version followed (NaN: not asked)")
        self.skill_kind_followed = self.gauge(
            "skill_constraint_followed", "% of the skill suite's constraints of each kind the latest evaluated "
            "version followed", ["kind"])
        self.evaluated_version = self.gauge("evaluated_version", "Version of the latest evaluation")
        self.serving_version = self.gauge("serving_version", "Version serving replicas follow (0: the base model)")
        self.evaluations = self.counter(
            "evaluations_total", "EvaluateCheckpoint outcomes (promoted, not_promoted, stored, failed)", ["outcome"])
        self.duration = self.histogram("evaluation_duration_seconds", "Time to evaluate one checkpoint",
                                       buckets=_DURATION_BUCKETS)
        self.episodes = self.counter("episodes_total", "Evaluation episodes by status as the game master reported it",
                                     ["status"])
        self.skipped = self.counter("skipped_checkpoints_total",
                                    "Followed checkpoints not evaluated because a newer one arrived first")
        self.rollbacks = self.counter("rollbacks_total", "Rollbacks to an earlier promoted version")

    def record(self, result: evaluator_pb2.EvaluationResult) -> None:
        self.clemscore.clear()
        for game in result.games:
            self.clemscore.labels(game=game.game, group=game.group).set(game.score.clemscore)
        self.group_clemscore.clear()
        for group in result.groups:
            self.group_clemscore.labels(group=group.group).set(group.score.clemscore)
        self.group_clemscore.labels(group="overall").set(result.overall.clemscore)
        self.statscore.set(result.skills.statscore if result.HasField("skills") else math.nan)
        self.skill_kind_followed.clear()
        for kind in result.skills.constraints:
            if kind.checked:
                self.skill_kind_followed.labels(kind=kind.kind).set(100.0 * kind.followed / kind.checked)
        self.evaluated_version.set(result.version)
        self.progressed()
