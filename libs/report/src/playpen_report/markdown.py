"""report.md: the verdict, the clemscore tables of baseline, latest and best, the evaluated checkpoints."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from playpen_games.clemscore import Clemscore
from playpen_report.records import GROUPS, METRIC_NAMES, NO_GAMES, OVERALL, TRAINING, EvalPoint, TrainStep, Verdict
from playpen_report.statscore import statscore_section


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


def render_markdown(verdict: Verdict, tables: dict[int, dict[str, Any]], games: dict[str, list[str]],
              points: Sequence[EvalPoint], steps: Sequence[TrainStep], transcript_files: list[str],
              recipes: Sequence[str] = (), signal: Sequence[str] = ()) -> str:
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
    lines += ["", *statscore_section(points)]
    if recipes:
        lines += ["", *recipes]
    lines += ["", "## Learning curves", "", f"{len(steps)} training steps.", "", "![reward](reward.png)",
              "![played](played.png)", "![clemscore](clemscore.png)", ""]
    if signal:
        lines += [*signal, ""]
    lines += ["## Sample transcripts", ""]
    lines += [f"- [{name}](transcripts/{name})" for name in transcript_files] or ["None recorded."]
    return "\n".join(lines) + "\n"
