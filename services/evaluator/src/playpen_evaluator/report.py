"""The run report: what changed between the baseline and the latest checkpoint, and how sure we are.

A pure library: the orchestrator hands in plain data (held-out evaluation episodes, the evaluated points,
per-step training statistics, rendered transcripts, the run's configuration) and `write_report` writes
report.md, verdict.json, results.json, config.json, three PNG learning curves and the transcripts.

Tables use clembench's definitions through playpen_games.clemscore: per game % played, quality and
clemscore; a group's % played and quality are the means over its games and its clemscore is their product,
as clembench computes the benchmark score.

The verdict compares latest with baseline per group (seen, unseen, overall = all games) on % played, mean
episode score (Main Score with an aborted episode counted as 0) and clemscore. Each gets a 95% percentile
bootstrap interval of latest − baseline: within every game the instances are resampled with replacement,
paired (an instance carries its baseline and its latest episode) when both versions played the same
instances, and the group statistic is recomputed from the resampled games, so every game keeps its weight.
A change is called up or down only when the interval excludes 0. The resampled statistics are not rounded;
clembench's two-decimal rounding is for the tables only.
"""

from __future__ import annotations

import json
import math
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from playpen_games.clemscore import Clemscore, ScoredEpisode, aggregate, by_game

GROUPS = ("seen", "unseen")
OVERALL = "overall"
TRAINING = "training"
EVAL_METRICS = ("played", "episode_score", "clemscore")
TRAINING_METRICS = ("reward", "game_score")
UP, DOWN, NO_CHANGE = "up", "down", "no significant change"
NO_GAMES, NOT_ENOUGH_DATA = "no games configured", "not enough data"
CONFIDENCE = 0.95
TRAINING_WINDOW = 0.2  # share of the steps in each of the first and last windows
MIN_WINDOW_STEPS = 2  # a window of one step has no spread to resample

METRIC_NAMES = {"played": "% played", "episode_score": "mean episode score", "clemscore": "clemscore",
                "reward": "training reward", "game_score": "training game score"}


@dataclass(frozen=True)
class EvalEpisode:
    version: int
    label: str
    game: str
    group: str
    episode_id: str
    instance_id: str
    aborted: bool
    success: bool
    main_score: float


@dataclass(frozen=True)
class EvalPoint:
    version: int
    step: int
    label: str
    promoted: bool


@dataclass(frozen=True)
class TrainStep:
    step: int
    version: int
    time_s: float
    reward_mean: float
    game_score_mean: float
    aborted_share: float
    well_formed_share: float
    per_game: dict[str, float]
    loss: float
    kl: float


@dataclass(frozen=True)
class Transcript:
    version: int
    label: str
    game: str
    episode_id: str
    text: str


@dataclass(frozen=True)
class VerdictEntry:
    group: str
    metric: str
    baseline: float
    latest: float
    diff: float
    ci_low: float
    ci_high: float
    n_episodes: int | None  # episodes per version in the comparison; None for training entries
    direction: str
    n_steps: int | None = None  # steps in each training window


@dataclass(frozen=True)
class Verdict:
    baseline_version: int
    latest_version: int
    best_version: int | None
    entries: tuple[VerdictEntry, ...]
    sentences: tuple[str, ...]

    def entry(self, group: str, metric: str) -> VerdictEntry:
        for entry in self.entries:
            if entry.group == group and entry.metric == metric:
                return entry
        raise KeyError((group, metric))


# ---------------------------------------------------------------------------------------------- tables


def _table(episodes: Sequence[EvalEpisode]) -> dict[str, Any]:
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


def _group_games(evals: Sequence[EvalEpisode]) -> dict[str, list[str]]:
    return {group: sorted({e.game for e in evals if e.group == group}) for group in GROUPS}


# ------------------------------------------------------------------------------------------- bootstrap

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
    games = _group_games(evals)
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


# -------------------------------------------------------------------------------------------- sentences


def _describe(entry: VerdictEntry) -> str:
    name = METRIC_NAMES[entry.metric]
    if entry.direction in (NO_GAMES, NOT_ENOUGH_DATA):
        return f"{name}: {entry.direction}."
    span = f"difference {entry.diff:+.2f}, 95% CI [{entry.ci_low:+.2f}, {entry.ci_high:+.2f}]"
    if entry.direction == NO_CHANGE:
        return f"{name} did not change significantly ({entry.baseline:.2f} → {entry.latest:.2f}; {span})."
    verb = "went up" if entry.direction == UP else "went down"
    return f"{name} {verb} from {entry.baseline:.2f} to {entry.latest:.2f} ({span})."


def _sentences(entries: list[VerdictEntry], games: dict[str, list[str]], names: dict[str, str],
               resamples: int, seed: int) -> list[str]:
    lines = [f"Baseline is {names['baseline']}, latest is {names['latest']}, best is {names['best']}."]
    for group in (*GROUPS, OVERALL):
        group_entries = [e for e in entries if e.group == group]
        if group_entries[0].direction == NO_GAMES:
            lines.append(f"{group.capitalize()} games: no games configured.")
            continue
        listed = ", ".join(games[group]) if group != OVERALL else "all games"
        size = group_entries[0].n_episodes
        lines.append(f"{group.capitalize()} ({listed}; {size} episodes per version): "
                     + " ".join(_capitalised(_describe(e)) for e in group_entries))
    training = [e for e in entries if e.group == TRAINING]
    if training[0].n_steps:
        lines.append(f"Last {training[0].n_steps} against first {training[0].n_steps} training steps (mean of "
                     "the step means): " + " ".join(_capitalised(_describe(e)) for e in training))
    else:
        lines.append(f"Training: not enough steps to compare a first and a last window "
                     f"(at least {2 * MIN_WINDOW_STEPS} needed).")
    lines.append(
        f"How to read this: intervals are {CONFIDENCE:.0%} percentile bootstrap intervals of latest − baseline "
        f"({resamples} resamples, seed {seed}). Held-out episodes are resampled within each game, paired by "
        "(game, instance) when both versions played the same instances, so every game keeps its weight, and "
        "each statistic, clemscore included, is recomputed on every resample. Mean episode score is the Main "
        "Score with aborted episodes counted as 0. Overall means over all games. Training statistics come as "
        f"one mean per step, so the first and last {TRAINING_WINDOW:.0%} of the steps are compared by "
        "resampling steps, not episodes. A change counts as up or down only when its interval excludes 0. "
        "Verdict values are not rounded, so they may differ from the tables' clembench-rounded values in the "
        "second decimal.")
    return lines


def _capitalised(text: str) -> str:
    return text[:1].upper() + text[1:]


# ---------------------------------------------------------------------------------------------- writing


def write_report(directory: str | Path, *, evals: Sequence[EvalEpisode], points: Sequence[EvalPoint],
                 steps: Sequence[TrainStep], transcripts: Sequence[Transcript], config: dict[str, Any],
                 baseline_version: int, seed: int = 0, resamples: int = 2000,
                 stage_version: int | None = None, stage_name: str = "the last stage") -> Verdict:
    """Write the report; returns the verdict (baseline → latest).

    `stage_version`: where the last training stage started (e.g. the warm start GRPO began from). When given,
    the verdict also says what changed from it to the latest version — what that stage alone did."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    points = sorted(points, key=lambda p: p.step)
    by_version: dict[int, list[EvalEpisode]] = defaultdict(list)
    for episode in evals:
        by_version[episode.version].append(episode)
    tables = {version: _table(episodes) for version, episodes in sorted(by_version.items())}
    latest = points[-1].version if points else max(by_version, default=baseline_version)
    best = _best_version(points, tables)
    games = _group_games(evals)

    entries = compare_versions(evals, baseline_version=baseline_version, latest_version=latest, seed=seed,
                               resamples=resamples)
    entries += compare_training(steps, seed=seed, resamples=resamples)

    labels = _labels(points, evals)
    names = {"baseline": _version_name(baseline_version, labels, points),
             "latest": _version_name(latest, labels, points),
             "best": "not determined (no seen games evaluated)" if best is None else
             f"{_version_name(best, labels, points)} by seen clemscore {tables[best]['seen']['mean'].clemscore:.2f}"}
    sentences = _sentences(entries, games, names, resamples, seed)
    stage_entries: list[VerdictEntry] = []
    if stage_version is not None and stage_version not in (baseline_version, latest) and stage_version in tables:
        stage_entries = compare_versions(evals, baseline_version=stage_version, latest_version=latest, seed=seed,
                                         resamples=resamples)
        stage = _version_name(stage_version, labels, points)
        stage_lines = [f"{_capitalised(stage_name)} alone ({stage} → latest):"]
        for group in (*GROUPS, OVERALL):
            group_entries = [e for e in stage_entries if e.group == group]
            if group_entries and group_entries[0].direction != NO_GAMES:
                stage_lines.append(f"{group}: " + " ".join(_capitalised(_describe(e)) for e in group_entries))
        sentences.insert(-1, " ".join(stage_lines))
    verdict = Verdict(baseline_version, latest, best, tuple(entries), tuple(sentences))

    _write_plots(out, points, steps, tables, baseline_version)
    transcript_files = _write_transcripts(out / "transcripts", transcripts)
    (out / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True, default=str) + "\n")
    verdict_data = _verdict_data(verdict, resamples, seed)
    if stage_entries:
        stage_verdict = Verdict(stage_version, latest, best, tuple(stage_entries), ())
        verdict_data["since_stage"] = {"stage": stage_name, "from_version": stage_version,
                                       **_verdict_data(stage_verdict, resamples, seed)}
    _write_json(out / "verdict.json", verdict_data)
    _write_json(out / "results.json", {
        "baseline_version": baseline_version, "latest_version": latest, "best_version": best,
        "games": games, "versions": _versions_data(points, tables, labels), "verdict": verdict_data,
        "training_steps": [asdict(s) for s in sorted(steps, key=lambda s: s.step)]})
    (out / "report.md").write_text(_markdown(verdict, tables, games, points, steps, transcript_files))
    return verdict


def _best_version(points: Sequence[EvalPoint], tables: dict[int, dict[str, Any]]) -> int | None:
    candidates = [(tables[p.version]["seen"]["mean"].clemscore, p.version) for p in points
                  if p.version in tables and tables[p.version]["seen"]["mean"] is not None]
    if not candidates:
        return None
    top = max(score for score, _ in candidates)
    return next(version for score, version in candidates if score == top)  # the earliest of a tie


def _labels(points: Sequence[EvalPoint], evals: Sequence[EvalEpisode]) -> dict[int, str]:
    labels = {e.version: e.label for e in evals}
    labels.update({p.version: p.label for p in points})
    return labels


def _version_name(version: int, labels: dict[int, str], points: Sequence[EvalPoint]) -> str:
    step = next((p.step for p in points if p.version == version), None)
    where = f", step {step}" if step is not None else ""
    return f"v{version} ({labels.get(version, 'unlabelled')}{where})"


def _plain(value: Any) -> Any:
    """JSON without NaN: a missing number is null."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(_plain(data), indent=2, allow_nan=False) + "\n")


def _verdict_data(verdict: Verdict, resamples: int, seed: int) -> dict[str, Any]:
    groups: dict[str, dict[str, Any]] = defaultdict(dict)
    for entry in verdict.entries:
        groups[entry.group][entry.metric] = {k: v for k, v in asdict(entry).items() if k not in ("group", "metric")}
    return {"baseline_version": verdict.baseline_version, "latest_version": verdict.latest_version,
            "best_version": verdict.best_version, "confidence": CONFIDENCE, "resamples": resamples, "seed": seed,
            "groups": dict(groups), "sentences": list(verdict.sentences)}


def _score_data(score: Clemscore | None) -> dict[str, Any] | None:
    return None if score is None else asdict(score)


def _versions_data(points: Sequence[EvalPoint], tables: dict[int, dict[str, Any]],
                   labels: dict[int, str]) -> list[dict[str, Any]]:
    listed = [(p.version, p.step, p.promoted) for p in points]
    listed += [(v, None, None) for v in tables if v not in {p.version for p in points}]
    rows = []
    for version, step, promoted in listed:
        table = tables.get(version)
        row: dict[str, Any] = {"version": version, "step": step, "label": labels.get(version), "promoted": promoted}
        for group in GROUPS:
            part = table[group] if table else {"games": {}, "mean": None}
            row[group] = {"games": {g: asdict(s) for g, s in part["games"].items()}, "mean": _score_data(part["mean"])}
        row[OVERALL] = _score_data(table[OVERALL] if table else None)
        rows.append(row)
    return rows


def _write_transcripts(folder: Path, transcripts: Sequence[Transcript]) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    written: list[str] = []
    for t in transcripts:
        stem = "-".join(_safe(part) for part in (t.label, f"v{t.version}", t.game, t.episode_id))
        name, copy = f"{stem}.txt", 1
        while name in written:  # two episodes whose ids only differ in unsafe characters
            copy += 1
            name = f"{stem}-{copy}.txt"
        (folder / name).write_text(t.text)
        written.append(name)
    return written


def _safe(part: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", part).strip("._-") or "_"


# --------------------------------------------------------------------------------------------- markdown


def _number(value: float) -> str:
    return "–" if math.isnan(value) else f"{value:.2f}"


def _cells(score: Clemscore | None) -> list[str]:
    if score is None:
        return ["n/a"] * 3
    return [_number(score.played), _number(score.quality), _number(score.clemscore)]


def _games(count: int) -> str:
    return "1 game" if count == 1 else f"{count} games"


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _clemscore_table(tables: dict[int, dict[str, Any]], games: dict[str, list[str]],
                     versions: dict[str, int | None]) -> list[str]:
    shown: dict[int, list[str]] = {}
    for role in ("baseline", "latest", "best"):
        version = versions[role]
        if version is not None:
            shown.setdefault(version, []).append(role)
    header = ["group", "game"]
    for version, roles in shown.items():
        header += [f"{' = '.join(roles)} v{version}: % played", "quality", "clemscore"]
    lines = [_row(header), _row(["---"] * len(header))]
    empty = {"games": {}, "mean": None}
    for group in GROUPS:
        if not games[group]:
            lines.append(_row([group, NO_GAMES] + [""] * (len(header) - 2)))
            continue
        for game in games[group]:
            cells = [group, game]
            for version in shown:
                cells += _cells(tables.get(version, {}).get(group, empty)["games"].get(game))
            lines.append(_row(cells))
        cells = [f"**{group}**", f"**mean of {_games(len(games[group]))}**"]
        for version in shown:
            cells += _cells(tables.get(version, {}).get(group, empty)["mean"])
        lines.append(_row(cells))
    cells = [f"**{OVERALL}**", "**mean of all games**"]
    for version in shown:
        cells += _cells(tables.get(version, {}).get(OVERALL))
    lines.append(_row(cells))
    return lines


def _verdict_table(verdict: Verdict) -> list[str]:
    lines = [_row(["group", "metric", "baseline", "latest", "latest − baseline", "95% CI", "n", "direction"]),
             _row(["---"] * 8)]
    for e in verdict.entries:
        size = f"{e.n_steps} steps/window" if e.group == TRAINING else f"{e.n_episodes} episodes"
        interval = "–" if math.isnan(e.ci_low) else f"[{e.ci_low:+.2f}, {e.ci_high:+.2f}]"
        diff = "–" if math.isnan(e.diff) else f"{e.diff:+.2f}"
        lines.append(_row([e.group, METRIC_NAMES[e.metric], _number(e.baseline), _number(e.latest), diff,
                           interval, size if e.n_steps or e.n_episodes else "–", e.direction]))
    return lines


def _markdown(verdict: Verdict, tables: dict[int, dict[str, Any]], games: dict[str, list[str]],
              points: Sequence[EvalPoint], steps: Sequence[TrainStep], transcript_files: list[str]) -> str:
    versions = {"baseline": verdict.baseline_version, "latest": verdict.latest_version, "best": verdict.best_version}
    lines = ["# Run report", "", "## Verdict", ""]
    lines += [f"- {sentence}" for sentence in verdict.sentences]
    lines += ["", *_verdict_table(verdict), "", "## Clemscore (held-out instances, temperature 0)", "",
              "% played = 100 × share of episodes not aborted; quality = mean Main Score of the episodes not "
              "aborted (– when every episode aborted); clemscore = % played / 100 × quality (0 when every episode "
              "aborted). A group's % played and quality are the means over its games and its clemscore is their "
              "product; values rounded to two decimals as in clembench. n/a: the version did not play that game.",
              "", *_clemscore_table(tables, games, versions), "", "## Evaluated checkpoints", "",
              _row(["version", "step", "label", "promoted", "seen clemscore", "unseen clemscore", "overall clemscore"]),
              _row(["---"] * 7)]
    for p in points:
        table = tables.get(p.version)
        scores = [table[g]["mean"] if table else None for g in GROUPS] + [table[OVERALL] if table else None]
        lines.append(_row([f"v{p.version}", str(p.step), p.label, "yes" if p.promoted else "no",
                           *("n/a" if s is None else _number(s.clemscore) for s in scores)]))
    lines += ["", "## Learning curves", "", f"{len(steps)} training steps.", "", "![reward](reward.png)",
              "![played](played.png)", "![clemscore](clemscore.png)", "", "## Sample transcripts", ""]
    lines += [f"- [{name}](transcripts/{name})" for name in transcript_files] or ["None recorded."]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------- figures


def _figure(rows: int = 1) -> tuple[Any, list[Any]]:
    # The object-oriented API with an explicit Agg canvas: no pyplot global state, safe in any thread.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(9, 3.2 * rows + 0.8), layout="constrained")
    FigureCanvasAgg(figure)
    return figure, list(figure.subplots(rows, 1, sharex=True, squeeze=False)[:, 0])


def _note(axes: Any, text: str) -> None:
    axes.text(0.5, 0.5, text, transform=axes.transAxes, ha="center", va="center", color="dimgray")


def _moving_average(values: np.ndarray) -> np.ndarray:
    """Trailing mean over a tenth of the run (at least 2 steps), skipping NaN."""
    window = max(2, len(values) // 10)
    averaged = np.full(len(values), np.nan)
    for end in range(len(values)):
        chunk = values[max(0, end - window + 1):end + 1]
        if np.any(~np.isnan(chunk)):
            averaged[end] = np.nanmean(chunk)
    return averaged


def _plot_steps(axes: Any, x: np.ndarray, values: np.ndarray, label: str, color: str) -> None:
    axes.plot(x, values, color=color, alpha=0.45, marker="o" if len(x) <= 30 else None, markersize=3, label=label)
    if len(x) >= 3:
        axes.plot(x, _moving_average(values), color=color, linewidth=2, label=f"{label}, moving average")


def _plot_reward(path: Path, steps: Sequence[TrainStep]) -> None:
    figure, (reward_axes, score_axes) = _figure(rows=2)
    x = np.array([s.step for s in steps], dtype=float)
    for axes, name, read, color in ((reward_axes, "reward mean", lambda s: s.reward_mean, "tab:blue"),
                                    (score_axes, "game score mean", lambda s: s.game_score_mean, "tab:green")):
        values = np.array([read(s) for s in steps], dtype=float)
        if np.all(np.isnan(values)):
            _note(axes, f"no {name} recorded")
            axes.set_ylabel(name)
            continue
        _plot_steps(axes, x, values, name, color)
        if len(steps) == 1:
            _note(axes, "one training step so far: no curve yet")
        axes.set_ylabel(name)
        axes.legend(loc="best", fontsize="small")
    reward_axes.set_title("Training reward per step")
    score_axes.set_xlabel("trainer step")
    figure.savefig(path, dpi=100)


def _plot_played(path: Path, steps: Sequence[TrainStep], points: Sequence[EvalPoint],
                 tables: dict[int, dict[str, Any]]) -> None:
    figure, (axes,) = _figure()
    x = np.array([s.step for s in steps], dtype=float)
    drawn = False
    for name, read, color in (("training: % well-formed", lambda s: 100 * s.well_formed_share, "tab:purple"),
                              ("training: % not aborted", lambda s: 100 * (1 - s.aborted_share), "tab:orange")):
        values = np.array([read(s) for s in steps], dtype=float)
        if len(values) and not np.all(np.isnan(values)):
            _plot_steps(axes, x, values, name, color)
            drawn = True
    for group, color in (("seen", "tab:blue"), ("unseen", "tab:red")):
        series = [(p.step, tables[p.version][group]["mean"].played) for p in points
                  if p.version in tables and tables[p.version][group]["mean"] is not None]
        if series:
            axes.plot(*zip(*series, strict=True), color=color, marker="s", linestyle="--",
                      label=f"evaluation: % played, {group}")
            drawn = True
    if drawn:
        axes.legend(loc="best", fontsize="small")
    else:
        _note(axes, "no training steps or evaluations recorded")
    axes.set_ylim(-2, 102)
    axes.set_xlabel("trainer step")
    axes.set_ylabel("%")
    axes.set_title("Format and completion: training per step, evaluation per version")
    figure.savefig(path, dpi=100)


def _plot_clemscore(path: Path, points: Sequence[EvalPoint], tables: dict[int, dict[str, Any]],
                    baseline_version: int) -> None:
    figure, (axes,) = _figure()
    drawn = False
    for group, color in (("seen", "tab:blue"), ("unseen", "tab:red")):
        series = [(p, tables[p.version][group]["mean"].clemscore) for p in points
                  if p.version in tables and tables[p.version][group]["mean"] is not None]
        if not series:
            continue
        drawn = True
        axes.plot([p.step for p, _ in series], [v for _, v in series], color=color, marker="o",
                  label=f"{group} clemscore")
        promoted = [(p.step, v) for p, v in series if p.promoted]
        if promoted:
            axes.scatter(*zip(*promoted, strict=True), marker="*", s=180, color=color, edgecolor="black",
                         zorder=3, label=f"{group}: promoted")
        for p, v in series:
            axes.annotate(f"v{p.version}", (p.step, v), textcoords="offset points", xytext=(0, 7), fontsize=7,
                          ha="center")
        base = tables.get(baseline_version, {}).get(group, {}).get("mean")
        if base is not None:
            axes.axhline(base.clemscore, color=color, linestyle="--", linewidth=1,
                         label=f"{group} baseline v{baseline_version}")
    if drawn:
        axes.legend(loc="best", fontsize="small")
        if len(points) == 1:
            _note(axes, "one evaluated version so far: no curve yet")
    else:
        _note(axes, "no evaluated versions recorded")
    axes.set_xlabel("trainer step")
    axes.set_ylabel("clemscore")
    axes.set_title("Held-out clemscore per evaluated version")
    figure.savefig(path, dpi=100)


def _write_plots(out: Path, points: Sequence[EvalPoint], steps: Sequence[TrainStep],
                 tables: dict[int, dict[str, Any]], baseline_version: int) -> None:
    ordered = sorted(steps, key=lambda s: s.step)
    _plot_reward(out / "reward.png", ordered)
    _plot_played(out / "played.png", ordered, points, tables)
    _plot_clemscore(out / "clemscore.png", points, tables, baseline_version)
