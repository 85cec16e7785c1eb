"""Rewards for GRPO, from the episode's clembench scores, and the optional turn-level shaping.

The game reward is what clemscore measures: Main Score / 100, a penalty for an aborted episode, optionally
normalised per game (the paper divides by the game's score range where it is not 0–100). Shaping — credit for
each well-formed learner turn — gives a model that aborts every episode a gradient towards the reply format;
it is reported apart from the game reward and never enters clemscore.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from playpen.common.v1 import episode_pb2
from playpen_trainer.samples import TurnSample


@dataclass(frozen=True)
class RewardConfig:
    aborted_reward: float = -0.5
    #: game -> (low, high): Main Score is mapped to [0, 1] by (score - low) / (high - low); default (0, 100)
    score_range: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    #: credit per well-formed learner turn, averaged over the episode's learner turns (0 disables shaping)
    format_credit: float = 0.0


@dataclass(frozen=True)
class EpisodeReward:
    game: float  # from the game's scores only
    shaping: float  # from turn-level shaping only

    @property
    def total(self) -> float:
        return self.game + self.shaping


def episode_reward(episode: episode_pb2.Episode, samples: Sequence[TurnSample], config: RewardConfig) -> EpisodeReward:
    scores = episode.scores
    if scores.aborted or math.isnan(scores.main_score):
        game = config.aborted_reward
    else:
        low, high = config.score_range.get(episode.game, (0.0, 100.0))
        game = (scores.main_score - low) / (high - low) if high > low else 0.0
    shaping = 0.0
    if config.format_credit and samples:
        shaping = config.format_credit * sum(s.well_formed for s in samples) / len(samples)
    return EpisodeReward(game=game, shaping=shaping)


def group_advantages(rewards: Sequence[float], eps: float = 1e-6) -> list[float]:
    """(r − mean) / std within a group; a group whose rewards are all equal carries no signal (all 0)."""
    if len(rewards) < 2:
        return [0.0 for _ in rewards]
    mean = statistics.fmean(rewards)
    std = statistics.pstdev(rewards)
    if std < eps:
        return [0.0 for _ in rewards]
    return [(r - mean) / (std + eps) for r in rewards]
