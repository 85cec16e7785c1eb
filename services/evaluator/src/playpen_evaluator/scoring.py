"""From a checkpoint's evaluation episodes to its EvaluationResult: clemscore per game, per group and overall.

Per game, clembench's % Played / Quality / clemscore (playpen_games.clemscore). A group ("seen": the
training games, "unseen": held-out games) and the overall score are clembench's aggregate over their games:
the mean of the games' % Played and of their Quality, then played/100 × quality — every game weighs the
same, however many episodes it has.

Only COMPLETED episodes carry game scores. An episode that failed for infrastructure reasons (or an engine bug)
says nothing about the checkpoint; it is never counted as an aborted game. The evaluation replays it or fails
(see evaluation.py); `score` refuses to see one. One exception: an episode ended because its conversation no
longer fit the model's context window (status CONTEXT_EXCEEDED) is the model's failure to finish the game
within its context — replaying cannot change it — and counts as aborted.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from playpen.common.v1 import episode_pb2
from playpen.evaluator.v1 import evaluator_pb2
from playpen_games import clemscore

SEEN, UNSEEN = "seen", "unseen"


@dataclass(frozen=True)
class Scored:
    """An evaluation's aggregates. `promote_metric` is the seen group's clemscore (NaN without seen games)."""

    result: evaluator_pb2.EvaluationResult
    episodes: list[evaluator_pb2.EpisodeResult]
    promote_metric: float


def context_exceeded(episode: episode_pb2.Episode) -> bool:
    return episode.status == episode_pb2.EPISODE_STATUS_CONTEXT_EXCEEDED


def counts(episode: episode_pb2.Episode) -> bool:
    """Whether the episode says something about the checkpoint (it is scored, not replayed)."""
    return episode.status == episode_pb2.EPISODE_STATUS_COMPLETED or context_exceeded(episode)


def episode_row(episode: episode_pb2.Episode, group: str) -> evaluator_pb2.EpisodeResult:
    if context_exceeded(episode):
        return evaluator_pb2.EpisodeResult(
            episode_id=episode.episode_id, game=episode.game, group=group, instance_id=episode.instance_id,
            aborted=True, success=False, main_score=math.nan, turns=len(episode.turns))
    if episode.status != episode_pb2.EPISODE_STATUS_COMPLETED:
        raise ValueError(f"episode {episode.episode_id} did not complete ({episode.error or 'no error given'}); "
                         "it has no game scores")
    scores = episode.scores
    return evaluator_pb2.EpisodeResult(
        episode_id=episode.episode_id, game=episode.game, group=group, instance_id=episode.instance_id,
        aborted=scores.aborted, success=scores.success,
        main_score=math.nan if scores.aborted else scores.main_score, turns=len(episode.turns))


def clemscore_message(score: clemscore.Clemscore) -> evaluator_pb2.Clemscore:
    return evaluator_pb2.Clemscore(played=score.played, quality=score.quality, clemscore=score.clemscore,
                                   episodes=score.episodes)


def score(episodes: Iterable[episode_pb2.Episode], groups: Mapping[str, str]) -> Scored:
    """Aggregate completed episodes; `groups` maps every evaluated game to its group (seen or unseen)."""
    rows = [episode_row(episode, groups[episode.game]) for episode in episodes]
    per_game = clemscore.by_game(clemscore.ScoredEpisode(r.game, r.aborted, r.main_score) for r in rows)
    result = evaluator_pb2.EvaluationResult()
    for game, game_score in per_game.items():
        result.games.add(game=game, group=groups[game], score=clemscore_message(game_score))
    group_scores: dict[str, clemscore.Clemscore] = {}
    for group in (SEEN, UNSEEN):
        members = {game: s for game, s in per_game.items() if groups[game] == group}
        if members:
            group_scores[group] = clemscore.aggregate(members)
            result.groups.add(group=group, score=clemscore_message(group_scores[group]))
    if per_game:
        result.overall.CopyFrom(clemscore_message(clemscore.aggregate(per_game)))
    seen = group_scores.get(SEEN)
    return Scored(result, rows, seen.clemscore if seen is not None else math.nan)
