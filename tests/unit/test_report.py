import json
import math
import random
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from playpen_games.clemscore import ScoredEpisode, aggregate, by_game
from playpen_report import (
    EvalEpisode,
    EvalPoint,
    TrainStep,
    Transcript,
    compare_training,
    compare_versions,
    write_report,
)
from playpen_report.records import NO_CHANGE, NO_GAMES, NOT_ENOUGH_DATA, UP

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
POINTS = [EvalPoint(0, 0, "baseline", False), EvalPoint(1, 20, "warm-start", True), EvalPoint(2, 100, "grpo", True)]


def play(version: int, game: str, group: str, instances: int, p_played: float, p_win: float,
         rng: random.Random, label: str = "") -> list[EvalEpisode]:
    """Episodes of one version on instances i0…: played with p_played, then scored 100 with p_win else 0."""
    episodes = []
    for i in range(instances):
        aborted = rng.random() >= p_played
        won = not aborted and rng.random() < p_win
        score = math.nan if aborted else 100.0 * won
        episodes.append(EvalEpisode(version, label or f"v{version}", game, group, f"{game}-{version}-{i}", f"i{i}",
                                    aborted, won, score))
    return episodes


def as_version(episodes: list[EvalEpisode], version: int) -> list[EvalEpisode]:
    return [replace(e, version=version, episode_id=f"{e.episode_id}-copy") for e in episodes]


def steps(rewards: list[float]) -> list[TrainStep]:
    return [TrainStep(step=i, version=i // 5, time_s=2.0 * i, reward_mean=r, game_score_mean=100 * r,
                      aborted_share=0.5, well_formed_share=0.5, per_game={"taboo": r}, loss=0.1, kl=math.nan)
            for i, r in enumerate(rewards)]


def report(directory: Path, evals: list[EvalEpisode], **overrides):
    arguments = {"points": POINTS[:1] + POINTS[-1:], "steps": steps([0.1] * 10), "transcripts": [],
                 "config": {"model": "tiny"}, "baseline_version": 0, "resamples": 1000}
    arguments.update(overrides)
    return write_report(directory, evals=evals, **arguments)


def two_versions(baseline: tuple[float, float], latest: tuple[float, float], instances: int = 100,
                 seed: int = 0) -> list[EvalEpisode]:
    rng = random.Random(seed)
    evals = []
    for game in ("taboo", "wordle"):
        evals += play(0, game, "seen", instances, *baseline, rng)
        evals += play(2, game, "seen", instances, *latest, rng)
    evals += play(0, "imagegame", "unseen", instances, *baseline, rng)
    evals += play(2, "imagegame", "unseen", instances, *latest, rng)
    return evals


def test_clear_improvement_is_up_with_an_interval_above_zero(tmp_path: Path) -> None:
    verdict = report(tmp_path, two_versions(baseline=(0.2, 0.2), latest=(0.9, 0.6)))
    for group in ("seen", "unseen", "overall"):
        for metric in ("played", "episode_score", "clemscore"):
            entry = verdict.entry(group, metric)
            assert entry.direction == UP and 0 < entry.ci_low <= entry.diff <= entry.ci_high, entry
    assert verdict.entry("seen", "played").n_episodes == 200
    verdict_text = (tmp_path / "report.md").read_text().split("## Clemscore")[0]
    assert "% played went up from" in verdict_text and "aborted episodes counted as 0" in verdict_text
    stored = json.loads((tmp_path / "verdict.json").read_text())
    assert stored["groups"]["seen"]["clemscore"]["direction"] == UP
    assert stored["groups"]["seen"]["clemscore"]["ci_low"] == pytest.approx(verdict.entry("seen", "clemscore").ci_low)


def test_identical_versions_show_no_significant_change(tmp_path: Path) -> None:
    baseline = [e for e in two_versions((0.5, 0.5), (0.5, 0.5)) if e.version == 0]
    verdict = report(tmp_path, baseline + as_version(baseline, 2))
    for entry in verdict.entries:
        if entry.group != "training":
            assert entry.direction == NO_CHANGE and entry.diff == 0 and entry.ci_low <= 0 <= entry.ci_high
    assert "did not change significantly" in (tmp_path / "report.md").read_text()


def test_interval_rarely_claims_a_change_where_there_is_none(tmp_path: Path) -> None:
    # Baseline and latest drawn independently from the same distribution: a 95% interval should call a
    # change in about 5% of the runs. 40 runs, allow up to 6 false calls (P(more) < 2% at a 5% rate).
    false_calls = 0
    for seed in range(40):
        entries = compare_versions(two_versions((0.5, 0.5), (0.5, 0.5), seed=seed), baseline_version=0,
                                   latest_version=2, resamples=1000)
        overall = next(e for e in entries if e.group == "overall" and e.metric == "clemscore")
        false_calls += overall.direction != NO_CHANGE
    assert false_calls <= 6


def test_bootstrap_interval_of_a_difference_of_proportions_matches_the_normal_approximation(tmp_path: Path) -> None:
    rng = random.Random(7)
    n = 200
    evals = play(0, "taboo", "seen", n, 0.5, 1.0, rng) + play(2, "taboo", "seen", n, 0.7, 1.0, rng)
    verdict = report(tmp_path, evals, resamples=4000)
    entry = verdict.entry("seen", "played")
    # By hand: per instance d = played(latest) − played(baseline); the paired difference of proportions.
    d = np.array([100.0 * (not b.aborted) - 100.0 * (not a.aborted)
                  for a, b in zip(evals[:n], evals[n:], strict=True)])
    assert entry.diff == pytest.approx(d.mean())
    normal_width = 2 * 1.96 * d.std(ddof=1) / math.sqrt(n)
    assert entry.ci_high - entry.ci_low == pytest.approx(normal_width, rel=0.2)
    assert entry.ci_low < d.mean() < entry.ci_high


def test_games_keep_their_weight_whatever_their_size(tmp_path: Path) -> None:
    # taboo has 10× the instances of wordle; the group's episode score is still the mean of the two games.
    rng = random.Random(3)
    evals = (play(0, "taboo", "seen", 200, 1.0, 1.0, rng) + play(0, "wordle", "seen", 20, 1.0, 0.0, rng)
             + play(2, "taboo", "seen", 200, 1.0, 1.0, rng) + play(2, "wordle", "seen", 20, 1.0, 0.0, rng))
    verdict = report(tmp_path, evals)
    assert verdict.entry("seen", "episode_score").latest == pytest.approx(50.0)
    assert verdict.entry("seen", "episode_score").n_episodes == 220


def test_all_aborted_game_has_no_quality_and_clemscore_zero(tmp_path: Path) -> None:
    rng = random.Random(1)
    evals = []
    for version in (0, 2):
        evals += play(version, "taboo", "seen", 30, 0.0, 0.5, rng) + play(version, "wordle", "seen", 30, 1.0, 0.5, rng)
    report(tmp_path, evals)
    row = next(line for line in (tmp_path / "report.md").read_text().splitlines() if line.startswith("| seen | taboo"))
    assert row.split(" | ")[2:5] == ["0.00", "–", "0.00"]
    taboo = json.loads((tmp_path / "results.json").read_text())["versions"][0]["seen"]["games"]["taboo"]
    assert taboo["played"] == 0.0 and taboo["quality"] is None and taboo["clemscore"] == 0.0


def test_tables_are_clembench_scores_of_each_version(tmp_path: Path) -> None:
    evals = two_versions((0.4, 0.3), (0.8, 0.6), instances=40)
    report(tmp_path, evals, points=POINTS)
    versions = {v["version"]: v for v in json.loads((tmp_path / "results.json").read_text())["versions"]}
    for version in (0, 2):
        seen = [ScoredEpisode(e.game, e.aborted, e.main_score) for e in evals
                if e.version == version and e.group == "seen"]
        expected = aggregate(by_game(seen))
        assert versions[version]["seen"]["mean"]["clemscore"] == expected.clemscore
        assert versions[version]["seen"]["mean"]["played"] == expected.played
    assert versions[1]["seen"]["mean"] is None  # v1 was a point but has no episodes


def test_empty_unseen_group_says_no_games_configured(tmp_path: Path) -> None:
    evals = [e for e in two_versions((0.2, 0.2), (0.9, 0.9)) if e.group == "seen"]
    verdict = report(tmp_path, evals)
    assert {verdict.entry("unseen", m).direction for m in ("played", "episode_score", "clemscore")} == {NO_GAMES}
    text = (tmp_path / "report.md").read_text()
    assert "Unseen games: no games configured." in text
    assert "| unseen | no games configured |" in text
    assert json.loads((tmp_path / "verdict.json").read_text())["groups"]["unseen"]["played"]["baseline"] is None
    # Overall then is the seen games alone.
    assert verdict.entry("overall", "clemscore").latest == pytest.approx(verdict.entry("seen", "clemscore").latest)


def test_best_version_is_the_highest_seen_clemscore(tmp_path: Path) -> None:
    rng = random.Random(5)
    evals = []
    for version, p in ((0, 0.1), (1, 0.9), (2, 0.5)):
        evals += play(version, "taboo", "seen", 50, p, 1.0, rng)
    verdict = report(tmp_path, evals, points=POINTS)
    assert verdict.best_version == 1 and verdict.latest_version == 2
    assert "best is v1 (warm-start, step 20)" in (tmp_path / "report.md").read_text()


def test_training_reward_compares_first_and_last_fifth_of_steps(tmp_path: Path) -> None:
    rng = random.Random(2)
    rising = [0.01 * i + rng.gauss(0, 0.02) for i in range(50)]
    verdict = report(tmp_path, two_versions((0.5, 0.5), (0.5, 0.5)), steps=steps(rising))
    entry = verdict.entry("training", "reward")
    assert entry.n_steps == 10 and entry.direction == UP
    assert entry.baseline == pytest.approx(np.mean(rising[:10]))
    assert entry.latest == pytest.approx(np.mean(rising[-10:]))
    assert compare_training(steps([0.3, 0.5] * 25))[0].direction == NO_CHANGE
    assert compare_training(steps([0.1, 0.9, 0.9]))[0].direction == NOT_ENOUGH_DATA  # windows of 2 need 4 steps


def test_writes_every_file_and_valid_pngs(tmp_path: Path) -> None:
    transcripts = [Transcript(2, "grpo", "taboo", "ep/7", "A: hello\nB: hi\n"),
                   Transcript(0, "warm-start", "wordle", "ep8", "guess: crane\n")]
    report(tmp_path, two_versions((0.2, 0.2), (0.9, 0.6)), transcripts=transcripts, config={"lr": 1e-5, "seed": 3})
    for name in ("report.md", "verdict.json", "results.json", "config.json"):
        assert (tmp_path / name).stat().st_size > 0
    for name in ("reward.png", "played.png", "clemscore.png"):
        data = (tmp_path / name).read_bytes()
        assert data.startswith(PNG_SIGNATURE) and len(data) > 1000
    assert (tmp_path / "transcripts" / "grpo-v2-taboo-ep_7.txt").read_text() == "A: hello\nB: hi\n"
    assert (tmp_path / "transcripts" / "warm-start-v0-wordle-ep8.txt").exists()
    assert json.loads((tmp_path / "config.json").read_text()) == {"lr": 1e-5, "seed": 3}
    results = json.loads((tmp_path / "results.json").read_text())
    assert len(results["training_steps"]) == 10 and results["training_steps"][0]["kl"] is None


@pytest.mark.parametrize("count", [0, 1])
def test_zero_or_one_point_still_writes_plots(tmp_path: Path, count: int) -> None:
    evals = [e for e in two_versions((0.5, 0.5), (0.5, 0.5)) if e.version == 0][:count * 300]
    verdict = report(tmp_path, evals, points=POINTS[:count], steps=steps([0.2] * count))
    for name in ("reward.png", "played.png", "clemscore.png"):
        assert (tmp_path / name).read_bytes().startswith(PNG_SIGNATURE)
    expected = NO_CHANGE if count else NO_GAMES  # one version compared with itself; or nothing at all
    assert verdict.entry("seen", "played").direction == expected
    assert verdict.entry("training", "reward").direction == NOT_ENOUGH_DATA


def test_same_seed_same_report_other_seed_other_intervals(tmp_path: Path) -> None:
    evals = two_versions((0.3, 0.4), (0.5, 0.5))
    first, second = report(tmp_path / "a", evals, seed=11), report(tmp_path / "b", evals, seed=11)
    assert first == second
    for name in ("verdict.json", "results.json", "report.md"):
        assert (tmp_path / "a" / name).read_text() == (tmp_path / "b" / name).read_text()
    other = report(tmp_path / "c", evals, seed=12)
    assert other.entry("seen", "clemscore").ci_low != first.entry("seen", "clemscore").ci_low
    assert other.entry("seen", "clemscore").diff == first.entry("seen", "clemscore").diff


def test_the_last_stage_alone_is_compared_from_where_it_started(tmp_path: Path) -> None:
    """Baseline → warm start is a big jump; warm start → latest is none: the verdict must say both."""
    evals = two_versions((0.1, 0.1), (0.9, 0.6))
    evals += as_version([e for e in evals if e.version == 2], 1)
    verdict = report(tmp_path, evals, points=POINTS, stage_version=1, stage_name="GRPO")
    assert verdict.entry("seen", "clemscore").direction == "up"
    text = (tmp_path / "report.md").read_text()
    assert "GRPO alone (v1 (warm-start, step 20) → latest): seen: % played did not change significantly" in text
    since = json.loads((tmp_path / "verdict.json").read_text())["since_stage"]
    assert since["from_version"] == 1 and since["stage"] == "GRPO"
    assert "no significant change" in json.dumps(since) and '"up"' not in json.dumps(since)
