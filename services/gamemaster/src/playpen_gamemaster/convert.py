"""Engine records → the contract's Episode message."""

from __future__ import annotations

import json
import math
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp

from playpen.common.v1 import chat_pb2, episode_pb2
from playpen_games.engine import Outcome, TurnStatus
from playpen_games.engine.runner import EpisodeResult, EpisodeStatus
from playpen_games.instances import GameInstance

_STATUS = {
    EpisodeStatus.COMPLETED: episode_pb2.EPISODE_STATUS_COMPLETED,
    EpisodeStatus.INFRA_FAILURE: episode_pb2.EPISODE_STATUS_INFRA_FAILURE,
    EpisodeStatus.ENGINE_ERROR: episode_pb2.EPISODE_STATUS_ENGINE_ERROR,
    EpisodeStatus.CONTEXT_EXCEEDED: episode_pb2.EPISODE_STATUS_CONTEXT_EXCEEDED,
}
_OUTCOME = {
    Outcome.RUNNING: episode_pb2.GAME_OUTCOME_UNFINISHED,
    Outcome.SUCCESS: episode_pb2.GAME_OUTCOME_SUCCESS,
    Outcome.LOSE: episode_pb2.GAME_OUTCOME_LOSE,
    Outcome.ABORTED: episode_pb2.GAME_OUTCOME_ABORTED,
}
_TURN_STATUS = {
    TurnStatus.OK: episode_pb2.TURN_STATUS_OK,
    TurnStatus.PARSE_ERROR: episode_pb2.TURN_STATUS_PARSE_ERROR,
    TurnStatus.RULE_VIOLATION: episode_pb2.TURN_STATUS_RULE_VIOLATION,
}


def to_json(value: Any) -> str:
    """JSON text for event contents and parsed replies; NaN becomes null, odd objects their repr."""
    def clean(item: Any) -> Any:
        if isinstance(item, float) and math.isnan(item):
            return None
        if isinstance(item, dict):
            return {str(k): clean(v) for k, v in item.items()}
        if isinstance(item, (list, tuple, set, frozenset)):
            return [clean(v) for v in item]
        if item is None or isinstance(item, (str, int, float, bool)):
            return item
        return repr(item)
    return json.dumps(clean(value), ensure_ascii=False)


def _number(value: Any) -> float:
    return math.nan if value is None else float(value)


def episode_message(result: EpisodeResult, instance: GameInstance, *, group_id: str = "", run_id: str = "",
                    policies: dict[str, str] | None = None) -> episode_pb2.Episode:
    game = result.game
    started = Timestamp()
    started.FromNanoseconds(int(result.started_at * 1e9))
    episode = episode_pb2.Episode(
        episode_id=result.episode_id, group_id=group_id, run_id=run_id, game=game.name,
        experiment=instance.experiment_name, instance_id=instance.instance_id, split=instance.split,
        status=_STATUS[result.status], error=result.error, outcome=_OUTCOME[game.outcome],
        started_at=started, duration_s=result.duration_s, instance_source=instance.source,
    )
    policies = policies or {}
    for role, player in game.players.items():
        versions: list[int] = []
        for turn in game.turns:
            version = getattr(turn.generation, "policy_version", None)
            if turn.role == role and version is not None and version not in versions:
                versions.append(version)
        episode.players.add(role=role, player=player.name, programmatic=player.programmatic,
                            policy="game" if player.programmatic else policies.get(role, ""),
                            policy_versions=versions)
    for turn in game.turns:
        message = episode.turns.add(
            index=turn.index, round=turn.round, role=turn.role, player=turn.player, reply=turn.reply,
            programmatic=turn.programmatic, status=_TURN_STATUS[turn.status], error=turn.error,
            parsed_json=to_json(turn.parsed),
            messages=[chat_pb2.ChatMessage(role=m["role"], content=m["content"]) for m in turn.messages],
            events=[episode_pb2.GameEvent(kind=e.kind, content_json=to_json(e.content)) for e in turn.events],
        )
        if isinstance(turn.generation, chat_pb2.Generation):
            message.generation.CopyFrom(turn.generation)
    if result.scores is not None:
        scores = result.scores.episode
        episode.scores.main_score = _number(scores.get("Main Score"))
        episode.scores.aborted = bool(scores.get("Aborted", 0) == 1)
        episode.scores.success = bool(scores.get("Success", 0) == 1)
        episode.scores.lose = bool(scores.get("Lose", 0) == 1)
        for key, value in scores.items():
            if isinstance(value, (int, float)) or value is None:
                episode.scores.episode[key] = _number(value)
        for round_scores in result.scores.rounds:
            episode.scores.rounds.add(scores={k: _number(v) for k, v in round_scores.items()
                                              if isinstance(v, (int, float)) or v is None})
    return episode


def unbuilt_episode(instance: GameInstance, episode_id: str, error: str, *, group_id: str = "",
                    run_id: str = "") -> episode_pb2.Episode:
    """The record of an episode whose instance could not even be set up."""
    return episode_pb2.Episode(
        episode_id=episode_id, group_id=group_id, run_id=run_id, game=instance.game,
        experiment=instance.experiment_name, instance_id=instance.instance_id, split=instance.split,
        status=episode_pb2.EPISODE_STATUS_ENGINE_ERROR, error=error,
        outcome=episode_pb2.GAME_OUTCOME_UNFINISHED, instance_source=instance.source)
