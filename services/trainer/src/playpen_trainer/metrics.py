"""The trainer's Prometheus metrics (all prefixed playpen_trainer_)."""

from __future__ import annotations

import statistics

from playpen_common.metrics import ServiceMetrics
from playpen_trainer.loop import StepReport


class TrainerMetrics(ServiceMetrics):
    def __init__(self) -> None:
        super().__init__("trainer")
        self.step = self.gauge("step", "Optimiser steps taken")
        self.version = self.gauge("policy_version", "Version of the newest committed checkpoint")
        self.loss = self.gauge("loss", "Loss of the last step")
        self.reward_mean = self.gauge("reward_mean", "Mean game reward of the last step's episodes", ["game"])
        self.reward_std = self.gauge("reward_std", "Std of the game reward of the last step's episodes", ["game"])
        self.shaping_mean = self.gauge("shaping_reward_mean", "Mean turn-level shaping reward (not in clemscore)")
        self.aborted = self.gauge("aborted_ratio", "Share of the last step's episodes that were aborted", ["game"])
        self.kl = self.gauge("kl", "KL to the reference model, last step")
        self.grad_norm = self.gauge("grad_norm", "Gradient norm before clipping, last step")
        self.clip_fraction = self.gauge("clip_fraction", "Share of tokens whose ratio was clipped, last step")
        self.tokens_per_s = self.gauge("tokens_per_second", "Learner tokens per second of the last step")
        self.mismatch = self.gauge(
            "logprob_mismatch", "Mean |trainer − behaviour| logprob on tokens of the current version; should be ~0")
        self.staleness = self.histogram("staleness_versions", "Versions between an episode and the trainer",
                                        buckets=(0, 1, 2, 3, 4, 6, 8, 16))
        self.episodes = self.counter("episodes_total", "Episodes by what happened to them", ["event"])
        self.groups = self.counter("groups_total", "Groups settled, by game and whether their rewards differed "
                                   "(signal) or were all equal (flat: no gradient)", ["game", "signal"])
        self.buffered = self.gauge("episodes_buffered", "Stored episodes not trained on yet")
        self.step_duration = self.histogram("step_duration_seconds", "Wall time of one optimiser step",
                                            buckets=(0.5, 1, 2.5, 5, 10, 20, 40, 80, 160, 320, 640))
        self.last_step = self.gauge("last_step_timestamp_seconds",
                                    "Unix time of the last optimiser step (until the first one: the process's start)")

    def record(self, report: StepReport) -> None:
        self.step.set(report.step)
        for game, rewards in report.rewards.items():
            self.reward_mean.labels(game=game).set(statistics.fmean(rewards))
            self.reward_std.labels(game=game).set(statistics.pstdev(rewards))
        for game, aborted in report.aborted.items():
            self.aborted.labels(game=game).set(sum(aborted) / len(aborted))
        if report.shaping:
            self.shaping_mean.set(statistics.fmean(report.shaping))
        for age in report.staleness:
            self.staleness.observe(age)
        self.episodes.labels(event="consumed").inc(report.episodes)
        for game, (signal, flat) in report.groups.items():
            self.groups.labels(game=game, signal="yes").inc(signal)
            self.groups.labels(game=game, signal="no").inc(flat)
        for reason, count in report.dropped.items():
            self.episodes.labels(event=f"dropped: {reason}").inc(count)
        stats = report.stats
        if stats is not None:
            self.loss.set(stats.loss)
            self.kl.set(stats.kl)
            self.grad_norm.set(stats.grad_norm)
            self.clip_fraction.set(stats.clip_fraction)
            self.tokens_per_s.set(stats.tokens_per_s)
            self.mismatch.set(stats.logprob_mismatch)
        if report.episodes:
            self.step_duration.observe(report.seconds)
        self.last_step.set_to_current_time()
        self.progressed()
