"""The episode store: idempotent durable ingestion, complete groups, and the consumption ledger."""

from __future__ import annotations

import sqlite3

from playpen.common.v1 import episode_pb2
from playpen_trainer.store import EpisodeStore


def episode(episode_id: str, group: str, game: str = "taboo") -> episode_pb2.Episode:
    return episode_pb2.Episode(episode_id=episode_id, group_id=group, game=game,
                               status=episode_pb2.EPISODE_STATUS_COMPLETED)


def test_resending_an_episode_stores_it_once(tmp_path) -> None:
    store = EpisodeStore(tmp_path / "episodes.db")
    assert store.put(episode("e1", "g"), 0)
    assert not store.put(episode("e1", "g"), 0)
    assert store.counts().stored == 1
    store.close()
    # Durable: a new connection (a restarted trainer) sees it.
    assert sqlite3.connect(tmp_path / "episodes.db").execute("SELECT COUNT(*) FROM episodes").fetchone() == (1,)


def test_groups_are_ready_when_complete_and_the_ledger_rewinds(tmp_path) -> None:
    store = EpisodeStore(tmp_path / "episodes.db")
    for k in range(3):
        store.put(episode(f"a{k}", "ga"), 0)
    store.put(episode("b0", "gb"), 0)
    store.put(episode("b1", "gb"), 0, dropped="not completed")
    assert [len(g) for g in store.ready_groups(group_size=3, limit=10)] == [3]
    assert [len(g) for g in store.ready_groups(group_size=2, limit=10)] == [3, 1]  # the dropped one counts as arrived
    store.record_step(1, ["a0", "a1", "a2"], {"b0": "group too small"})
    assert store.ready_groups(group_size=2, limit=10) == []
    counts = store.counts()
    assert (counts.stored, counts.pending, counts.consumed, counts.dropped) == (5, 0, 3, 2)
    store.record_step(2, [], {})
    assert store.rewind_to(0) == 3  # the step was in no checkpoint: its episodes are pending again
    assert store.consumption() == {"a0": None, "a1": None, "a2": None, "b0": None, "b1": None}
    assert [len(g) for g in store.ready_groups(group_size=3, limit=10)] == [3]
