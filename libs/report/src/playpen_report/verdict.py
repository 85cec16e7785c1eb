"""The verdict's numbers: latest − baseline per group and metric, with 95% percentile bootstrap intervals (and
one version's own values with theirs, for the recipe comparison).

Within every game the instances are resampled with replacement, paired (an instance carries its baseline and
its latest episode) when both versions played the same instances, and the group statistic is recomputed from
the resampled games, so every game keeps its weight. A change is called up or down only when the interval
excludes 0. Training statistics are one mean per step: the last fifth of the steps is compared with the first
fifth by resampling steps. The resampled statistics are not rounded.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence

import numpy as np

from playpen_report.records import (
    CONFIDENCE,
    DOWN,
    EVAL_METRICS,
    GROUPS,
    MIN_WINDOW_STEPS,
    NO_CHANGE,
    NO_GAMES,
    NOT_ENOUGH_DATA,
    OVERALL,
    TRAINING,
    TRAINING_WINDOW,
    UP,
    EvalEpisode,
    TrainStep,
    VerdictEntry,
)
from playpen_report.tables import group_games

# Per resampling unit (one instance of one game) the sums every statistic is computed from.
_EPISODES, _PLAYED, _SCORE_SUM, _SCORED = range(4)


def _unit_sums(episodes: Sequence[EvalEpisode]) -> dict[str, np.ndarray]:
    units: dict[str, np.ndarray] = defaultdict(lambda: np.zeros(4))
    for e in episodes:
        row = units[e.instance_id]
        row[_EPISODES] += 1
        if not e.aborted:
            row[_PLAYED] += 1
            # Quality skips a missing Main Score, as clemscore's tables do; the episode score counts it as 0.
            if not math.isnan(e.main_score):
                row[_SCORE_SUM] += e.main_score
                row[_SCORED] += 1
    return dict(units)


def _game_statistics(totals: np.ndarray) -> dict[str, np.ndarray]:
    """totals: (resamples, 5) sums over a game's resampled units → per-resample game statistics."""
    n = totals[:, _EPISODES]
    scored = totals[:, _SCORED]
    with np.errstate(invalid="ignore", divide="ignore"):
        quality = np.where(scored > 0, totals[:, _SCORE_SUM] / scored, np.nan)
    return {"played": 100 * totals[:, _PLAYED] / n, "quality": quality, "episode_score": totals[:, _SCORE_SUM] / n}


def _group_statistics(per_game: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Macro averages over games; clemscore from the averages, 0 where no game has a quality."""
    played = np.mean([g["played"] for g in per_game], axis=0)
    qualities = np.array([g["quality"] for g in per_game])
    finite = ~np.isnan(qualities)
    counts = finite.sum(axis=0)
    quality_sum = np.where(finite, qualities, 0.0).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        quality = np.where(counts > 0, quality_sum / counts, np.nan)
    clemscore = np.where(np.isnan(quality), 0.0, played / 100 * quality)
    score = np.mean([g["episode_score"] for g in per_game], axis=0)
    return {"played": played, "episode_score": score, "clemscore": clemscore}


def compare_versions(evals: Sequence[EvalEpisode], *, baseline_version: int, latest_version: int, seed: int = 0,
                     resamples: int = 2000) -> list[VerdictEntry]:
    """The verdict entries of seen, unseen and overall: latest − baseline with bootstrap intervals."""
    if resamples < 1:
        raise ValueError(f"resamples must be at least 1, got {resamples}")
    games = group_games(evals)
    entries: list[VerdictEntry] = []
    for index, group in enumerate((*GROUPS, OVERALL)):
        members = [g for g in GROUPS if group in (g, OVERALL)]
        keys = [f"{g}/{game}" for g in members for game in games[g]]
        baseline = [e for e in evals if e.version == baseline_version and e.group in members]
        latest = [e for e in evals if e.version == latest_version and e.group in members]
        # One generator per comparison: adding a group or a metric never moves another one's interval.
        rng = np.random.default_rng([seed, index])
        entries += _compare_group(group, keys, baseline, latest, rng, resamples)
    return entries


def version_levels(evals: Sequence[EvalEpisode], version: int, *, seed: int = 0,
                   resamples: int = 2000) -> dict[tuple[str, str], tuple[float, float, float]]:
    """One version's own statistics, (group, metric) -> (value, 95% low, 95% high): its instances resampled
    within every game as the comparisons do. Groups without games are left out."""
    if resamples < 1:
        raise ValueError(f"resamples must be at least 1, got {resamples}")
    games = group_games(evals)
    levels: dict[tuple[str, str], tuple[float, float, float]] = {}
    for index, group in enumerate((*GROUPS, OVERALL)):
        members = [g for g in GROUPS if group in (g, OVERALL)]
        episodes = [e for e in evals if e.version == version and e.group in members]
        played = [(g, game) for g in members for game in games[g]
                  if any(e.group == g and e.game == game for e in episodes)]
        if not played:
            continue
        rng = np.random.default_rng([seed, index, version])
        observed, resampled = [], []
        for group_name, game in played:
            units = _unit_sums([e for e in episodes if e.group == group_name and e.game == game])
            rows = np.array([units[k] for k in sorted(units)])
            draw = rng.integers(0, len(rows), size=(resamples, len(rows)))
            observed.append(_game_statistics(rows.sum(axis=0, keepdims=True)))
            resampled.append(_game_statistics(rows[draw].sum(axis=1)))
        point, boot = _group_statistics(observed), _group_statistics(resampled)
        for metric in EVAL_METRICS:
            levels[(group, metric)] = (float(point[metric][0]), *_interval(boot[metric]))
    return levels


def compare_training(steps: Sequence[TrainStep], *, seed: int = 0, resamples: int = 2000) -> list[VerdictEntry]:
    """Training reward and game score: the last fifth of the steps against the first fifth."""
    if resamples < 1:
        raise ValueError(f"resamples must be at least 1, got {resamples}")
    return _compare_training(steps, np.random.default_rng([seed, len(GROUPS) + 1]), resamples)


def _compare_group(group: str, games: list[str], baseline: Sequence[EvalEpisode], latest: Sequence[EvalEpisode],
                   rng: np.random.Generator, resamples: int) -> list[VerdictEntry]:
    def game_of(e: EvalEpisode) -> str:
        return f"{e.group}/{e.game}"

    compared = [g for g in games if any(game_of(e) == g for e in baseline) and any(game_of(e) == g for e in latest)]
    if not games:
        return [_empty_entry(group, metric, NO_GAMES) for metric in EVAL_METRICS]
    if not compared:
        return [_empty_entry(group, metric, NOT_ENOUGH_DATA) for metric in EVAL_METRICS]
    observed = {"baseline": [], "latest": []}
    resampled = {"baseline": [], "latest": []}
    counts = {"baseline": 0, "latest": 0}
    for game in compared:
        units = {name: _unit_sums([e for e in episodes if game_of(e) == game])
                 for name, episodes in (("baseline", baseline), ("latest", latest))}
        paired = units["baseline"].keys() == units["latest"].keys()
        draw = None
        for name, by_instance in units.items():
            # Sorted keys line the two versions' rows up by instance, so one draw pairs them.
            rows = np.array([by_instance[key] for key in sorted(by_instance)])
            if draw is None or not paired:
                draw = rng.integers(0, len(rows), size=(resamples, len(rows)))
            observed[name].append(_game_statistics(rows.sum(axis=0, keepdims=True)))
            resampled[name].append(_game_statistics(rows[draw].sum(axis=1)))
            counts[name] += int(rows[:, _EPISODES].sum())
    point = {name: _group_statistics(stats) for name, stats in observed.items()}
    boot = {name: _group_statistics(stats) for name, stats in resampled.items()}
    entries = []
    for metric in EVAL_METRICS:
        low, high = _interval(boot["latest"][metric] - boot["baseline"][metric])
        base, last = float(point["baseline"][metric][0]), float(point["latest"][metric][0])
        entries.append(VerdictEntry(group, metric, base, last, last - base, low, high,
                                    min(counts.values()), _direction(low, high)))
    return entries


def _compare_training(steps: Sequence[TrainStep], rng: np.random.Generator, resamples: int) -> list[VerdictEntry]:
    entries = []
    ordered = sorted(steps, key=lambda s: s.step)
    for metric, read in (("reward", lambda s: s.reward_mean), ("game_score", lambda s: s.game_score_mean)):
        values = np.array([v for v in map(read, ordered) if not math.isnan(v)])
        window = max(MIN_WINDOW_STEPS, round(TRAINING_WINDOW * len(values)))
        if 2 * window > len(values):
            entries.append(_empty_entry(TRAINING, metric, NOT_ENOUGH_DATA))
            continue
        first, last = values[:window], values[-window:]
        first_boot = first[rng.integers(0, window, size=(resamples, window))].mean(axis=1)
        last_boot = last[rng.integers(0, window, size=(resamples, window))].mean(axis=1)
        low, high = _interval(last_boot - first_boot)
        entries.append(VerdictEntry(TRAINING, metric, float(first.mean()), float(last.mean()),
                                    float(last.mean() - first.mean()), low, high, None, _direction(low, high),
                                    n_steps=window))
    return entries


def _interval(differences: np.ndarray) -> tuple[float, float]:
    tail = (1 - CONFIDENCE) / 2 * 100
    low, high = np.percentile(differences, [tail, 100 - tail])
    return float(low), float(high)


def _direction(low: float, high: float) -> str:
    return UP if low > 0 else DOWN if high < 0 else NO_CHANGE


def _empty_entry(group: str, metric: str, direction: str) -> VerdictEntry:
    nan = math.nan
    return VerdictEntry(group, metric, nan, nan, nan, nan, nan, 0 if group != TRAINING else None, direction)
