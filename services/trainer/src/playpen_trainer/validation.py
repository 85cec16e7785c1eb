"""What makes an incoming episode malformed (refused, never stored) or merely useless for training (stored,
then set aside with a reason, so that every acknowledged episode is accounted for)."""

from __future__ import annotations

import math

from playpen.common.v1 import episode_pb2
from playpen_common.bounds import Limits, check_sizes
from playpen_common.errors import InvalidArgument
from playpen_trainer.samples import learner_turns, oldest_version

MAX_ID_LENGTH = 512
#: fields of a transcript as long as the game made them: bounded only by the largest message
TRANSCRIPT_TEXT = ("content", "reply", "error")
TOKEN_LISTS = ("prompt_token_ids", "completion_token_ids", "completion_logprobs")


def episode_limits(max_message_bytes: int) -> Limits:
    """An episode's bounds: ids, names and lists as any request's; transcripts and token ids up to one message."""
    return Limits(long_text=dict.fromkeys(TRANSCRIPT_TEXT, max_message_bytes),
                  long_items=dict.fromkeys(TOKEN_LISTS, max_message_bytes) | {"turns": max_message_bytes,
                                                                              "messages": max_message_bytes})


class MalformedEpisode(ValueError):
    pass


def check(episode: episode_pb2.Episode, limits: Limits | None = None) -> None:
    """Raise MalformedEpisode with the reason when the episode cannot be accepted at all."""
    for name in ("episode_id", "group_id", "game"):
        value = getattr(episode, name)
        if not value:
            raise MalformedEpisode(f"{name} is empty")
        if len(value) > MAX_ID_LENGTH:
            raise MalformedEpisode(f"{name} is longer than {MAX_ID_LENGTH} characters")
    if limits is not None:
        try:
            check_sizes(episode, limits)
        except InvalidArgument as error:
            raise MalformedEpisode(error.message) from None
    if episode.status == episode_pb2.EPISODE_STATUS_UNSPECIFIED:
        raise MalformedEpisode("status is unspecified")
    if episode.status == episode_pb2.EPISODE_STATUS_COMPLETED and not episode.HasField("scores"):
        raise MalformedEpisode("a completed episode carries no scores")
    for turn in episode.turns:
        if not turn.HasField("generation"):
            continue
        generation = turn.generation
        if len(generation.completion_logprobs) != len(generation.completion_token_ids):
            raise MalformedEpisode(f"turn {turn.index}: {len(generation.completion_token_ids)} completion tokens but "
                                   f"{len(generation.completion_logprobs)} logprobs")
        if any(not math.isfinite(x) or x > 1e-4 for x in generation.completion_logprobs):
            raise MalformedEpisode(f"turn {turn.index}: a logprob is not a finite number <= 0")
        if any(t < 0 for t in generation.completion_token_ids) or any(t < 0 for t in generation.prompt_token_ids):
            raise MalformedEpisode(f"turn {turn.index}: negative token id")
        if generation.completion_token_ids and not generation.prompt_token_ids:
            raise MalformedEpisode(f"turn {turn.index}: completion without its prompt token ids")
        if generation.policy_version < 0:
            raise MalformedEpisode(f"turn {turn.index}: negative policy version")


def unusable(episode: episode_pb2.Episode, learner: str) -> str | None:
    """Why a well-formed episode cannot be trained on (it is stored and accounted as dropped), or None."""
    if episode.status == episode_pb2.EPISODE_STATUS_CONTEXT_EXCEEDED:
        return "context exceeded"
    if episode.status != episode_pb2.EPISODE_STATUS_COMPLETED:
        return "not completed"
    if not learner_turns(episode, learner):
        return "no learner turns"
    return None


def min_version(episode: episode_pb2.Episode, learner: str) -> int:
    return oldest_version(learner_turns(episode, learner))
