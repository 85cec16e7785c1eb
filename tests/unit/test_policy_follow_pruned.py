"""A following replica that reads a checkpoint the trainer prunes meanwhile skips it and follows on (found by the
reliability soak: the FileNotFoundError ended the follower task, and the replica silently stopped following)."""

from __future__ import annotations

import asyncio

from playpen.common.v1 import checkpoint_pb2
from playpen_policy.follow import Follower


def test_a_checkpoint_whose_files_vanish_is_skipped_and_the_next_one_loads(tmp_path) -> None:
    """Pass: loading version 2 raises FileNotFoundError; the follower stays on version 1, then loads version 3."""
    loaded: list[int] = []

    async def load(ref: checkpoint_pb2.CheckpointRef) -> None:
        if ref.version == 2:
            raise FileNotFoundError(f"{tmp_path}/v00000002/config.json")
        loaded.append(ref.version)

    async def scenario() -> int:
        follower = Follower(load, directory=tmp_path)
        for version in (1, 2, 3):
            await follower._apply(checkpoint_pb2.CheckpointRef(version=version))
            if version == 2:
                assert follower.loaded == 1
        return follower.loaded

    assert asyncio.run(scenario()) == 3
    assert loaded == [1, 3]
