"""Privateshared scores, computed exactly as clembench's scorer does (its sklearn metrics re-implemented).

Only completed probing rounds are scored, each as a turn: its request counts, its probe Accuracy and,
from round 1 on, `Slot Filled?` for the request answered just before it. The episode pools the probes of
all completed rounds:

- Accuracy, Kappa (Cohen's), Truncated Kappa = max(0, Kappa), Slot-Filling-Accuracy — all NaN if aborted.
- Middle-Accuracy: the Accuracy of round int((slots + 1) / 2) - 1 (round 2 of 0..5 with five slots);
  NaN if aborted, and absent altogether when that round was not completed.
- Main Score: 100 × the harmonic mean of Slot-Filling-Accuracy and Truncated Kappa (0 if both are 0).
- Success: not aborted, every probe right and every slot filled; Lose: not aborted and not a success.
- Request counts cover the Answerer only (the Questioner is programmatic), invalid probe attempts included.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

NAN = float("nan")


@dataclass
class RequestCounts:
    requests: int = 0
    parsed: int = 0
    violated: int = 0


@dataclass
class EpisodeRecord:
    """What the game master keeps for scoring (clembench's logged keys)."""

    n_slots: int
    rounds: list[list[tuple[int, int]]] = field(default_factory=list)  # completed rounds: (gt, value) pairs
    filled: list[bool] = field(default_factory=list)
    counts: list[RequestCounts] = field(default_factory=list)  # per probing round, completed or not
    aborted: bool = False


def accuracy(gold: Sequence[int], pred: Sequence[int]) -> float:
    """sklearn's accuracy_score: the share of equal pairs."""
    return sum(g == p for g, p in zip(gold, pred, strict=True)) / len(gold)


def cohen_kappa(gold: Sequence[int], pred: Sequence[int]) -> float:
    """sklearn's cohen_kappa_score (unweighted); NaN where it is undefined (a single label overall)."""
    labels = sorted(set(gold) | set(pred))
    index = {label: i for i, label in enumerate(labels)}
    n = len(labels)
    confusion = [[0.0] * n for _ in range(n)]
    for g, p in zip(gold, pred, strict=True):
        confusion[index[g]][index[p]] += 1
    pred_totals = [sum(confusion[i][j] for i in range(n)) for j in range(n)]  # sklearn's sum0
    gold_totals = [sum(row) for row in confusion]  # sklearn's sum1
    total = sum(pred_totals)
    if total == 0:
        return NAN
    observed = disagreement = 0.0
    for i in range(n):  # row-major over the off-diagonal cells, as numpy sums w_mat * matrix
        for j in range(n):
            if i != j:
                observed += confusion[i][j]
                disagreement += pred_totals[i] * gold_totals[j] / total
    if disagreement == 0:
        return NAN
    return float(1 - observed / disagreement)


def bench_score(slot_accuracy: float, truncated_kappa: float) -> float:
    if math.isnan(slot_accuracy) or math.isnan(truncated_kappa):
        return NAN
    if slot_accuracy + truncated_kappa == 0:
        return 0
    return 100 * (2 * slot_accuracy * truncated_kappa / (slot_accuracy + truncated_kappa))


def middle_round(n_slots: int) -> int:
    return int((n_slots + 1) / 2) - 1


def round_scores(record: EpisodeRecord) -> list[dict[str, float | int]]:
    scores = []
    for turn, probes in enumerate(record.rounds):
        counts = record.counts[turn]
        gold, pred = zip(*probes, strict=True)
        entry: dict[str, float | int] = {
            "Request Count": counts.requests,
            "Parsed Request Count": counts.parsed,
            "Violated Request Count": counts.violated,
            "Accuracy": accuracy(gold, pred),
        }
        if turn != 0:
            entry["Slot Filled?"] = int(record.filled[turn - 1])
        scores.append(entry)
    return scores


def episode_scores(record: EpisodeRecord) -> dict[str, float | int]:
    aborted = record.aborted
    scores: dict[str, float | int] = {}
    gold: list[int] = []
    pred: list[int] = []
    for turn, probes in enumerate(record.rounds):
        gold += [g for g, _ in probes]
        pred += [p for _, p in probes]
        if turn == middle_round(record.n_slots):
            scores["Middle-Accuracy"] = NAN if aborted else accuracy(*zip(*probes, strict=True))
    acc = NAN if aborted else accuracy(gold, pred)
    kappa = NAN if aborted else cohen_kappa(gold, pred)
    truncated = NAN if aborted else max(0, kappa)  # builtin max: a NaN kappa truncates to 0, as in clembench
    filled = record.filled
    slot_accuracy = NAN if aborted else sum(filled) / len(filled)
    success = 0 if aborted else int(acc == 1.0 and slot_accuracy == 1.0)
    requests = sum(c.requests for c in record.counts)
    parsed = sum(c.parsed for c in record.counts)
    scores.update({
        "Accuracy": acc,
        "Kappa": kappa,
        "Truncated Kappa": truncated,
        "Slot-Filling-Accuracy": slot_accuracy,
        "Main Score": bench_score(slot_accuracy, truncated),
        "Aborted": int(aborted),
        "Lose": 0 if aborted else int(not success),
        "Success": success,
        "Request Count": requests,
        "Parsed Request Count": parsed,
        "Violated Request Count": sum(c.violated for c in record.counts),
        "Request Success Ratio": parsed / requests if requests else 0.0,
    })
    return scores
