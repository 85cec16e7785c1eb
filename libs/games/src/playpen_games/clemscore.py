"""clembench's headline aggregates over a set of scored episodes.

Per game: % Played = 100 × mean(1 − Aborted); Quality = mean Main Score over the episodes that were not
aborted (NaN when all were). Both are macro-averaged over games — a game whose Quality is NaN does not
enter the Quality average, as in clembench's evaluation, which averages with pandas' NaN skipping — and
clemscore = (average % Played / 100) × average Quality. Like clembench, per-game values are rounded to
two decimals before averaging, and the averages and the clemscore are rounded to two decimals.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Clemscore:
    played: float
    quality: float
    clemscore: float
    episodes: int


@dataclass(frozen=True)
class ScoredEpisode:
    game: str
    aborted: bool
    main_score: float


def _mean(values: list[float]) -> float:
    finite = [v for v in values if not math.isnan(v)]
    return sum(finite) / len(finite) if finite else math.nan


def _round(value: float) -> float:
    return value if math.isnan(value) else round(value, 2)


def game_score(episodes: list[ScoredEpisode]) -> Clemscore:
    if not episodes:
        return Clemscore(math.nan, math.nan, math.nan, 0)
    played = _round(100 * _mean([0.0 if e.aborted else 1.0 for e in episodes]))
    quality = _round(_mean([math.nan if e.aborted else e.main_score for e in episodes]))
    return Clemscore(played, quality, _clemscore(played, quality), len(episodes))


def _clemscore(played: float, quality: float) -> float:
    if math.isnan(played):
        return math.nan
    # A game where every episode aborted has no Quality, but it has nothing to show either.
    return 0.0 if math.isnan(quality) else _round(played / 100 * quality)


def aggregate(per_game: Mapping[str, Clemscore]) -> Clemscore:
    scores = list(per_game.values())
    played = _round(_mean([s.played for s in scores]))
    quality = _round(_mean([s.quality for s in scores]))
    return Clemscore(played, quality, _clemscore(played, quality), sum(s.episodes for s in scores))


def by_game(episodes: Iterable[ScoredEpisode]) -> dict[str, Clemscore]:
    grouped: dict[str, list[ScoredEpisode]] = defaultdict(list)
    for episode in episodes:
        grouped[episode.game].append(episode)
    return {game: game_score(items) for game, items in sorted(grouped.items())}


def scored_episode(game: str, episode_scores: Mapping[str, float]) -> ScoredEpisode:
    """From an episode's clembench scores (needs "Aborted" and "Main Score")."""
    aborted = bool(episode_scores.get("Aborted", 0))
    main = episode_scores.get("Main Score", math.nan)
    return ScoredEpisode(game=game, aborted=aborted, main_score=math.nan if main is None else float(main))
