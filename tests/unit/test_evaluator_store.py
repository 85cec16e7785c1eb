"""The evaluator's result store: the promotion rule, eligibility, rollback history, and what survives a reopen."""

import math
import sqlite3
from pathlib import Path

import pytest

from playpen.common.v1 import checkpoint_pb2, episode_pb2
from playpen.evaluator.v1 import evaluator_pb2
from playpen_evaluator.store import Best, ResultStore, decide

PROTOCOL = "seen=taboo;unseen=;instances=10;seed=0;max_tokens=256"


def ref(version: int) -> checkpoint_pb2.CheckpointRef:
    return checkpoint_pb2.CheckpointRef(version=version, uri=f"/ckpt/v{version}", step=version * 10,
                                        kind=checkpoint_pb2.CHECKPOINT_KIND_FULL)


def record(store: ResultStore, version: int, metric: float, *, split: str = "validation", eligible: bool = True,
           protocol: str = PROTOCOL, margin: float = 1.0) -> evaluator_pb2.EvaluationResult:
    result = evaluator_pb2.EvaluationResult(version=version, split=split, label=f"v{version}", step=version * 10)
    result.overall.clemscore = metric
    rows = [evaluator_pb2.EpisodeResult(episode_id=f"v{version}:{i}", game="taboo", group="seen",
                                        instance_id=f"e/{i}", aborted=i == 0, main_score=math.nan if i == 0 else 50,
                                        turns=2) for i in range(3)]
    transcripts = {row.episode_id: episode_pb2.Episode(episode_id=row.episode_id, game="taboo") for row in rows}
    return store.record(result, ref(version), protocol=protocol, episodes=rows, transcripts=transcripts,
                        promote_metric=metric, eligible=eligible, ineligible_reason="not eligible here",
                        margin=margin)


@pytest.fixture
def store(tmp_path: Path):
    opened = ResultStore(tmp_path / "evaluator.db")
    yield opened
    opened.close()


def test_the_rule_compares_with_the_best_promoted_minus_the_margin() -> None:
    assert decide(10.0, None, 1.0)[0]
    assert decide(9.0, Best(3, 10.0), 1.0) == (
        True, "seen validation clemscore 9.00 ≥ best promoted 10.00 (version 3) − margin 1.00 = 9.00: promoted")
    promoted, reason = decide(8.99, Best(3, 10.0), 1.0)
    assert not promoted and "8.99 < best promoted 10.00 (version 3)" in reason and "not promoted" in reason
    assert not decide(math.nan, None, 1.0)[0]


def test_first_result_is_promoted_and_the_bar_is_the_best_promoted_one(store: ResultStore) -> None:
    assert store.serving() is None
    first = record(store, 0, 20.0)
    assert first.promoted and "first evaluated checkpoint" in first.promotion_reason
    assert store.serving().version == 0
    assert record(store, 1, 30.0).promoted
    # 29.5 is within the margin of the best (30) although below it
    assert record(store, 2, 29.5).promoted and store.serving().version == 2
    # the bar is the best promoted (30, version 1), not the latest promoted (29.5)
    below = record(store, 3, 28.9)
    assert not below.promoted and "best promoted 30.00 (version 1)" in below.promotion_reason
    assert store.serving().version == 2
    # a result that was not promoted does not raise the bar, however good a later one is compared to it
    assert record(store, 4, 29.0).promoted


def test_ineligible_results_never_promote_nor_count(store: ResultStore) -> None:
    test_split = record(store, 1, 90.0, split="test", eligible=False)
    assert not test_split.promoted and test_split.promotion_reason == "not eligible here"
    other_games = record(store, 1, 95.0, protocol="seen=wordle;...", eligible=False)
    assert not other_games.promoted and store.serving() is None
    assert record(store, 2, 10.0).promoted  # the first eligible one, whatever the others scored


def test_results_and_the_serving_version_survive_a_reopen(tmp_path: Path) -> None:
    path = tmp_path / "evaluator.db"
    store = ResultStore(path)
    record(store, 1, 30.0)
    record(store, 2, 10.0)
    store.rollback(ref(1))  # serving already 1 in the store's history, appended again as a rollback
    store.close()
    reopened = ResultStore(path)
    try:
        assert reopened.serving().version == 1 and reopened.serving().uri == "/ckpt/v1"
        found = reopened.find(2, "validation", PROTOCOL)
        assert found is not None and not found[0].promoted and found[1].step == 20
        assert reopened.find(2, "test", PROTOCOL) is None and reopened.find(2, "validation", "other") is None
        listed = reopened.results([1, 2], "validation", include_episodes=True)
        assert [r.version for r in listed] == [1, 2] and [r.promoted for r in listed] == [True, False]
        assert len(listed[0].episodes) == 3 and math.isnan(listed[0].episodes[0].main_score)
        assert listed[0].episodes[0].aborted and listed[0].episodes[1].main_score == 50
        assert reopened.results([], "", include_episodes=False)[0].episodes == []
        assert [e.episode_id for e in reopened.transcripts(1, "validation")] == ["v1:0", "v1:1", "v1:2"]
        assert reopened.promoted_checkpoint(1).version == 1 and reopened.promoted_checkpoint(2) is None
        assert reopened.evaluated(2) and not reopened.evaluated(7)
        assert reopened.newest_version("validation", PROTOCOL) == 2 and reopened.newest_version("test", PROTOCOL) == -1
    finally:
        reopened.close()


def test_a_result_is_stored_once_per_version_split_and_protocol(store: ResultStore) -> None:
    record(store, 1, 30.0)
    with pytest.raises(sqlite3.IntegrityError, match="UNIQUE"):
        record(store, 1, 31.0)
    assert len(store.results([1], "validation", include_episodes=True)[0].episodes) == 3
