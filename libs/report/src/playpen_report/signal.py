"""Where GRPO found signal: the trainer's groups.jsonl (one line per group it judged) summarised per game.

GRPO learns only from a group whose episodes' rewards differ: a group that is all aborted, or all the same
score, has zero advantages and no gradient. Which games give groups with signal, and why the others do not,
says where a run can learn at all — the first thing to look at when the scores do not move.
"""

from __future__ import annotations

import json
import statistics
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

#: Why a flat group had no signal, from its episodes.
ALL_ABORTED, ALL_SAME_SCORE = "all aborted", "all the same score"


@dataclass(frozen=True)
class JudgedGroup:
    game: str
    signal: bool
    set_aside: bool
    trained_at: int | None
    game_rewards: tuple[float, ...]
    aborted: tuple[bool, ...]


@dataclass(frozen=True)
class GameSignal:
    game: str
    groups: int
    with_signal: int
    flat_all_aborted: int
    flat_same_score: int
    set_aside: int
    trained: int
    mean_game_reward: float | None
    aborted_share: float | None

    @property
    def signal_share(self) -> float:
        return self.with_signal / self.groups if self.groups else 0.0


def read_groups(path: Path) -> list[JudgedGroup]:
    """The groups of groups.jsonl. A group judged again after a crash counts once per judgement; a line cut short
    by a crash, or not a group record, is skipped. A missing file means no groups."""
    groups = []
    if not path.is_file():
        return groups
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            record = json.loads(line)
            groups.append(JudgedGroup(
                game=str(record["game"]), signal=bool(record["signal"]), set_aside=bool(record["set_aside"]),
                trained_at=record.get("step"), game_rewards=tuple(float(r) for r in record["game_rewards"]),
                aborted=tuple(bool(a) for a in record["aborted"])))
        except (ValueError, KeyError, TypeError):
            continue
    return groups


def summarise_signal(groups: Iterable[JudgedGroup]) -> list[GameSignal]:
    by_game: dict[str, list[JudgedGroup]] = defaultdict(list)
    for group in groups:
        by_game[group.game].append(group)
    summary = []
    for game, judged in sorted(by_game.items()):
        flat = [g for g in judged if not g.signal]
        rewards = [r for g in judged for r in g.game_rewards]
        aborted = [a for g in judged for a in g.aborted]
        summary.append(GameSignal(
            game=game, groups=len(judged), with_signal=len(judged) - len(flat),
            flat_all_aborted=sum(1 for g in flat if g.aborted and all(g.aborted)),
            flat_same_score=sum(1 for g in flat if not (g.aborted and all(g.aborted))),
            set_aside=sum(1 for g in judged if g.set_aside), trained=sum(1 for g in judged if g.trained_at is not None),
            mean_game_reward=statistics.fmean(rewards) if rewards else None,
            aborted_share=statistics.fmean(map(float, aborted)) if aborted else None))
    return summary


def signal_data(summary: Sequence[GameSignal]) -> list[dict[str, Any]]:
    return [{**asdict(row), "signal_share": row.signal_share} for row in summary]


def signal_section(summary: Sequence[GameSignal]) -> list[str]:
    """report.md's section; empty when the trainer judged no groups (no GRPO, or a trainer before groups.jsonl)."""
    if not summary:
        return []

    def cell(value: float | None, scale: float = 1.0) -> str:
        return "–" if value is None else f"{value * scale:.2f}"

    total = sum(row.groups for row in summary)
    signal = sum(row.with_signal for row in summary)
    aborted = sum(row.flat_all_aborted for row in summary)
    same = sum(row.flat_same_score for row in summary)
    lines = ["## Where GRPO found signal", "",
             f"Of {total} groups the trainer judged, {signal} ({100 * signal / total:.0f}%) had rewards that differ — "
             f"the only ones with a gradient; {aborted} were flat because every episode aborted and {same} because "
             f"every episode got the same score. Game reward: an episode's Main Score scaled to [0, 1], or the "
             f"aborted reward (the trainer's groups.jsonl has every group's rewards and advantages).", "",
             "| game | groups | with signal | flat: all aborted | flat: all the same score | set aside | trained "
             "| mean game reward | % aborted |",
             "|" + "---|" * 9]
    for row in summary:
        lines.append(f"| {row.game} | {row.groups} | {row.with_signal} ({100 * row.signal_share:.0f}%) "
                     f"| {row.flat_all_aborted} | {row.flat_same_score} | {row.set_aside} | {row.trained} "
                     f"| {cell(row.mean_game_reward)} | {cell(row.aborted_share, 100)} |")
    return lines
