"""Clemscore tables with clembench's definitions (playpen_games.clemscore): per game % played, quality and
clemscore; a group's % played and quality are the means over its games and its clemscore is their product."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from playpen_games.clemscore import Clemscore, ScoredEpisode, aggregate, by_game
from playpen_report.records import GROUPS, OVERALL, EvalEpisode


def version_table(episodes: Sequence[EvalEpisode]) -> dict[str, Any]:
    """One version's clemscore table: per group its games and their mean, and overall."""
    table: dict[str, Any] = {}
    every_game: dict[str, Clemscore] = {}
    for group in GROUPS:
        in_group = [e for e in episodes if e.group == group]
        per_game = by_game(ScoredEpisode(e.game, e.aborted, e.main_score) for e in in_group)
        every_game.update({f"{group}/{game}": score for game, score in per_game.items()})
        table[group] = {"games": per_game, "mean": aggregate(per_game) if per_game else None}
    table[OVERALL] = aggregate(every_game) if every_game else None
    return table


def group_games(evals: Sequence[EvalEpisode]) -> dict[str, list[str]]:
    return {group: sorted({e.game for e in evals if e.group == group}) for group in GROUPS}
