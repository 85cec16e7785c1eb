"""Follow mode: a replica loads every committed checkpoint, from the trainer's WatchCheckpoints stream or,
without a trainer, from a checkpoint directory. A replica that starts late catches up (loads the newest
committed version) before it reports ready.

A checkpoint that cannot be loaded (corrupt, incompatible) is logged and skipped; the replica keeps serving
what it has and waits for the next one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import grpc
import structlog

from playpen.common.v1 import checkpoint_pb2
from playpen.trainer.v1 import trainer_pb2, trainer_pb2_grpc
from playpen_common.checkpoints import MANIFEST, read_manifest
from playpen_common.client import aio_channel
from playpen_common.errors import PlaypenError

log = structlog.get_logger("playpen.policy.follow")

Loader = Callable[[checkpoint_pb2.CheckpointRef], Awaitable[None]]


class Follower:
    def __init__(self, load: Loader, *, trainer: str = "", directory: Path | None = None, poll_s: float = 1.0):
        if bool(trainer) == (directory is not None):
            raise ValueError("follow exactly one of a trainer or a directory")
        self._load, self._trainer, self._directory, self._poll_s = load, trainer, directory, poll_s
        self.loaded = 0
        self._failed: set[int] = set()
        self._stream: grpc.aio.UnaryStreamCall | None = None
        self._channel: grpc.aio.Channel | None = None

    async def _apply(self, ref: checkpoint_pb2.CheckpointRef) -> None:
        if ref.version == self.loaded or ref.version in self._failed:
            return
        try:
            await self._load(ref)
        except PlaypenError as error:
            self._failed.add(ref.version)
            log.error("followed checkpoint refused", version=ref.version, reason=error.message)
            return
        self.loaded = ref.version
        log.info("followed checkpoint loaded", policy_version=ref.version)

    # --------------------------------------------------------------------------------- directory

    def _newest_on_disk(self) -> checkpoint_pb2.CheckpointRef | None:
        """The committed checkpoint of the highest version; cheap enough to run every poll."""
        assert self._directory is not None
        for directory in sorted(self._directory.glob("v*"), reverse=True):
            if (directory / MANIFEST).is_file():
                try:
                    return read_manifest(directory)
                except PlaypenError:
                    continue
        return None

    # --------------------------------------------------------------------------------- trainer

    async def _open_stream(self) -> None:
        if self._channel is None:
            self._channel = aio_channel(self._trainer)
        stub = trainer_pb2_grpc.TrainerServiceStub(self._channel)
        self._stream = stub.WatchCheckpoints(trainer_pb2.WatchCheckpointsRequest(after_version=self.loaded))

    async def _next_from_trainer(self) -> checkpoint_pb2.CheckpointRef:
        while True:
            try:
                if self._stream is None:
                    await self._open_stream()
                assert self._stream is not None
                response = await self._stream.read()
                if response is grpc.aio.EOF:
                    raise ConnectionError("the trainer ended the checkpoint stream")
                return response.checkpoint
            except (grpc.aio.AioRpcError, ConnectionError) as error:
                log.warning("checkpoint stream interrupted; reconnecting", trainer=self._trainer, error=str(error))
                self._stream = None
                await asyncio.sleep(self._poll_s)

    # --------------------------------------------------------------------------------- both

    async def catch_up(self) -> None:
        """Load the newest committed checkpoint, if there is one (the trainer always sends one first)."""
        if self._directory is not None:
            newest = self._newest_on_disk()
            if newest is not None:
                await self._apply(newest)
        elif await self._trainer_latest_version() > self.loaded:
            await self._apply(await self._next_from_trainer())

    async def _trainer_latest_version(self) -> int:
        """The trainer's newest committed version (0: none yet), waiting for the trainer to be reachable."""
        while True:
            try:
                if self._channel is None:
                    self._channel = aio_channel(self._trainer)
                status = await trainer_pb2_grpc.TrainerServiceStub(self._channel).GetStatus(
                    trainer_pb2.GetStatusRequest(), timeout=10)
                return status.latest_version
            except grpc.aio.AioRpcError as error:
                log.warning("trainer not reachable yet", trainer=self._trainer, error=error.code().name)
                await asyncio.sleep(self._poll_s)

    async def run(self) -> None:
        while True:
            if self._directory is not None:
                await asyncio.sleep(self._poll_s)
                newest = self._newest_on_disk()
                if newest is not None and newest.version > self.loaded:
                    await self._apply(newest)
            else:
                await self._apply(await self._next_from_trainer())

    async def close(self) -> None:
        if self._channel is not None:
            await self._channel.close()
