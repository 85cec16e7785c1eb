"""The verdict in words: one sentence per group, and how to read the intervals."""

from __future__ import annotations

from playpen_report.records import (
    CONFIDENCE,
    GROUPS,
    METRIC_NAMES,
    MIN_WINDOW_STEPS,
    NO_CHANGE,
    NO_GAMES,
    NOT_ENOUGH_DATA,
    OVERALL,
    TRAINING,
    TRAINING_WINDOW,
    UP,
    VerdictEntry,
)


def describe(entry: VerdictEntry) -> str:
    name = METRIC_NAMES[entry.metric]
    if entry.direction in (NO_GAMES, NOT_ENOUGH_DATA):
        return f"{name}: {entry.direction}."
    span = f"difference {entry.diff:+.2f}, 95% CI [{entry.ci_low:+.2f}, {entry.ci_high:+.2f}]"
    if entry.direction == NO_CHANGE:
        return f"{name} did not change significantly ({entry.baseline:.2f} → {entry.latest:.2f}; {span})."
    verb = "went up" if entry.direction == UP else "went down"
    return f"{name} {verb} from {entry.baseline:.2f} to {entry.latest:.2f} ({span})."


def sentences(entries: list[VerdictEntry], games: dict[str, list[str]], names: dict[str, str],
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
                     + " ".join(capitalised(describe(e)) for e in group_entries))
    training = [e for e in entries if e.group == TRAINING]
    if training[0].n_steps:
        lines.append(f"Last {training[0].n_steps} against first {training[0].n_steps} training steps (mean of "
                     "the step means): " + " ".join(capitalised(describe(e)) for e in training))
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


def capitalised(text: str) -> str:
    return text[:1].upper() + text[1:]
