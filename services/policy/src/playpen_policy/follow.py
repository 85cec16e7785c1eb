"""Follow mode: a replica loads every committed checkpoint, from the trainer's WatchCheckpoints stream or,
without a trainer, from a checkpoint directory — or only the promoted ones, from the evaluator's
WatchPromotions stream (eval-gated serving; a rollback there loads the earlier version here). A replica that
starts late catches up (loads the newest committed, or the promoted, version) before it reports ready.

A checkpoint that cannot be loaded (corrupt, incompatible, pruned while it was read) is logged and skipped; the
replica keeps serving what it has and waits for the next one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import grpc
import structlog

from playpen.common.v1 import checkpoint_pb2
from playpen.evaluator.v1 import evaluator_pb2, evaluator_pb2_grpc
from playpen.trainer.v1 import trainer_pb2, trainer_pb2_grpc
from playpen_common.checkpoints import MANIFEST, read_manifest
from playpen_common.client import aio_channel
from playpen_common.errors import PlaypenError
from playpen_common.tls import ClientTls

log = structlog.get_logger("playpen.policy.follow")

# A watch stream has a deadline like every call: one whose connection died silently ends by then and is reopened
# after the version loaded (the source sends its newest first), so a deadline costs nothing but a reconnect.
WATCH_DEADLINE_S = 900.0

Loader = Callable[[checkpoint_pb2.CheckpointRef], Awaitable[None]]
Announced = Callable[[int], None]


class Follower:
    def __init__(self, load: Loader, *, trainer: str = "", evaluator: str = "", directory: Path | None = None,
                 poll_s: float = 1.0, announced: Announced | None = None, tls: ClientTls | None = None):
        if bool(trainer) + bool(evaluator) + (directory is not None) != 1:
            raise ValueError("follow exactly one of a trainer, an evaluator or a directory")
        self._load, self._directory, self._poll_s, self._tls = load, directory, poll_s, tls
        self._target, self._evaluator = trainer or evaluator, bool(evaluator)
        self.loaded = 0
        # The newest version the source has announced: a replica whose `loaded` stays below it is stuck.
        self._announced = announced or (lambda version: None)
        self._failed: set[int] = set()
        self._stream: grpc.aio.UnaryStreamCall | None = None
        self._channel: grpc.aio.Channel | None = None

    async def _apply(self, ref: checkpoint_pb2.CheckpointRef) -> None:
        self._announced(ref.version)
        if ref.version == self.loaded or ref.version in self._failed:
            return
        try:
            await self._load(ref)
        except PlaypenError as error:
            self._failed.add(ref.version)
            log.error("followed checkpoint refused", version=ref.version, reason=error.message)
            return
        except OSError as error:
            # A replica that falls behind may read a checkpoint the trainer is pruning (keep_last): its files
            # vanish mid-read. Skip it — a newer one is on the way; letting the error out would end following.
            self._failed.add(ref.version)
            log.warning("followed checkpoint unreadable; skipped", version=ref.version, error=str(error)[:200])
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

    # --------------------------------------------------------------------------------- trainer or evaluator

    def _connect(self) -> grpc.aio.Channel:
        if self._channel is None:
            self._channel = aio_channel(self._target, tls=self._tls)
        return self._channel

    async def _open_stream(self) -> None:
        if self._evaluator:
            stub = evaluator_pb2_grpc.EvaluatorServiceStub(self._connect())
            self._stream = stub.WatchPromotions(evaluator_pb2.WatchPromotionsRequest(current_version=self.loaded),
                                                timeout=WATCH_DEADLINE_S)
        else:
            stub = trainer_pb2_grpc.TrainerServiceStub(self._connect())
            self._stream = stub.WatchCheckpoints(trainer_pb2.WatchCheckpointsRequest(after_version=self.loaded),
                                                 timeout=WATCH_DEADLINE_S)

    async def _next_from_stream(self) -> checkpoint_pb2.CheckpointRef:
        while True:
            try:
                if self._stream is None:
                    await self._open_stream()
                assert self._stream is not None
                response = await self._stream.read()
                if response is grpc.aio.EOF:
                    raise ConnectionError("the checkpoint stream ended")
                return response.checkpoint
            except (grpc.aio.AioRpcError, ConnectionError) as error:
                log.warning("checkpoint stream interrupted; reconnecting", source=self._target, error=str(error))
                self._stream = None
                await asyncio.sleep(self._poll_s)

    # --------------------------------------------------------------------------------- both

    async def catch_up(self) -> None:
        """Load the newest committed checkpoint, if there is one (the trainer always sends one first)."""
        if self._directory is not None:
            newest = self._newest_on_disk()
            if newest is not None:
                await self._apply(newest)
            return
        source = await self._source_version()
        self._announced(source)
        if self._evaluator:
            # A promoted version other than ours (a rollback can make it lower) comes first on the stream.
            if source not in (0, self.loaded):
                await self._apply(await self._next_from_stream())
        elif source > self.loaded:
            await self._apply(await self._next_from_stream())

    async def _source_version(self) -> int:
        """The trainer's newest committed version, or the evaluator's serving version (0: none yet), waiting
        for the source to be reachable."""
        while True:
            try:
                if self._evaluator:
                    # Only serving_version matters; asking for our own version's results keeps the reply small.
                    results = await evaluator_pb2_grpc.EvaluatorServiceStub(self._connect()).ListResults(
                        evaluator_pb2.ListResultsRequest(versions=[self.loaded]), timeout=10)
                    return results.serving_version
                status = await trainer_pb2_grpc.TrainerServiceStub(self._connect()).GetStatus(
                    trainer_pb2.GetStatusRequest(), timeout=10)
                return status.latest_version
            except grpc.aio.AioRpcError as error:
                log.warning("checkpoint source not reachable yet", source=self._target, error=error.code().name)
                await asyncio.sleep(self._poll_s)

    async def run(self) -> None:
        while True:
            if self._directory is not None:
                await asyncio.sleep(self._poll_s)
                newest = self._newest_on_disk()
                if newest is not None and newest.version > self.loaded:
                    await self._apply(newest)
            else:
                await self._apply(await self._next_from_stream())

    async def close(self) -> None:
        if self._channel is not None:
            await self._channel.close()
