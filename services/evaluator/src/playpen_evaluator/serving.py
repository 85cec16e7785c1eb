"""The serving checkpoint and its watchers (WatchPromotions).

Each watcher has its own queue, so it sees every change in order (a promotion, then a rollback), however
slowly it reads; changes are rare, so the queues stay short.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from playpen.common.v1 import checkpoint_pb2


class Serving:
    def __init__(self, current: checkpoint_pb2.CheckpointRef | None):
        self.current = current
        self._watchers: set[asyncio.Queue[checkpoint_pb2.CheckpointRef]] = set()

    @property
    def version(self) -> int:
        return self.current.version if self.current is not None else 0

    def publish(self, checkpoint: checkpoint_pb2.CheckpointRef) -> None:
        self.current = checkpoint
        for queue in self._watchers:
            queue.put_nowait(checkpoint)

    async def watch(self, current_version: int) -> AsyncIterator[checkpoint_pb2.CheckpointRef]:
        """The serving checkpoint unless the watcher serves it already, then every change."""
        queue: asyncio.Queue[checkpoint_pb2.CheckpointRef] = asyncio.Queue()
        self._watchers.add(queue)
        try:
            if self.current is not None and self.current.version != current_version:
                yield self.current
            while True:
                yield await queue.get()
        finally:
            self._watchers.discard(queue)

    @property
    def watchers(self) -> int:
        return len(self._watchers)
