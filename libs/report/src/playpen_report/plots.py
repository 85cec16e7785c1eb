"""The learning curves: training reward per step, format and completion, held-out clemscore per version."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from playpen_report.records import EvalPoint, TrainStep


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


def write_plots(out: Path, points: Sequence[EvalPoint], steps: Sequence[TrainStep],
                 tables: dict[int, dict[str, Any]], baseline_version: int) -> None:
    ordered = sorted(steps, key=lambda s: s.step)
    _plot_reward(out / "reward.png", ordered)
    _plot_played(out / "played.png", ordered, points, tables)
    _plot_clemscore(out / "clemscore.png", points, tables, baseline_version)
