"""From episodes to what the learner is trained on: its own turns, token for token as the policy made them.

A learner turn is a turn produced by the learner policy (its `generation.policy` label). Its training sample is
the prompt token ids and completion token ids exactly as the policy returned them — never re-tokenised, so the
tokens the loss sees are the tokens that were sampled — with the behaviour logprobs and the weight version that
produced them. Game-master text and the partner's turns appear only inside later prompts, which are context
and never targets.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from playpen.common.v1 import episode_pb2


@dataclass
class TurnSample:
    episode_id: str
    group_id: str
    game: str
    role: str
    turn_index: int
    prompt_ids: list[int]
    completion_ids: list[int]
    behaviour_logprobs: list[float]
    policy_version: int
    well_formed: bool
    advantage: float = 0.0

    @property
    def tokens(self) -> int:
        return len(self.completion_ids)


def is_learner_turn(turn: episode_pb2.Turn, learner: str) -> bool:
    generation = turn.generation
    return (not turn.programmatic and turn.HasField("generation") and len(generation.completion_token_ids) > 0
            and (not learner or generation.policy == learner))


def learner_turns(episode: episode_pb2.Episode, learner: str = "") -> list[TurnSample]:
    """The learner's turns of one episode (every model turn when `learner` is empty)."""
    samples = []
    for turn in episode.turns:
        if not is_learner_turn(turn, learner):
            continue
        generation = turn.generation
        samples.append(TurnSample(
            episode_id=episode.episode_id, group_id=episode.group_id, game=episode.game, role=turn.role,
            turn_index=turn.index, prompt_ids=list(generation.prompt_token_ids),
            completion_ids=list(generation.completion_token_ids),
            behaviour_logprobs=list(generation.completion_logprobs), policy_version=generation.policy_version,
            well_formed=turn.status == episode_pb2.TURN_STATUS_OK))
    return samples


def oldest_version(samples: Iterable[TurnSample]) -> int:
    versions = [s.policy_version for s in samples]
    return min(versions) if versions else 0


def behaviour_logprobs_valid(sample: TurnSample) -> bool:
    return (len(sample.behaviour_logprobs) == len(sample.completion_ids)
            and all(math.isfinite(x) and x <= 1e-6 for x in sample.behaviour_logprobs))
