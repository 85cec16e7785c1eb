"""Follow mode: evaluate the trainer's committed checkpoints as they come (validation, the configured games).

One task reads TrainerService.WatchCheckpoints into a one-slot mailbox; another evaluates what the mailbox holds.
A checkpoint that arrives while another waits replaces it: the newest is evaluated and the one it replaced is
skipped (logged and counted) — evaluating every intermediate version would fall further behind the trainer.
The stream is reopened whenever it ends (a trainer restart), after the newest version seen.
"""

from __future__ import annotations

import asyncio
import contextlib

import grpc
import structlog

from playpen.common.v1 import checkpoint_pb2
from playpen.trainer.v1 import trainer_pb2, trainer_pb2_grpc
from playpen_common.errors import NotReady, PlaypenError
from playpen_evaluator.evaluation import Evaluator

WARM_START_LABEL = "warm-start"
# The checkpoint stream has a deadline like every call; it is reopened after the newest version seen.
WATCH_DEADLINE_S = 900.0
log = structlog.get_logger("playpen.evaluator.follow")


class TrainerFollower:
    def __init__(self, evaluator: Evaluator, trainer: trainer_pb2_grpc.TrainerServiceStub):
        self._evaluator, self._trainer = evaluator, trainer
        self._settings = evaluator.settings
        self._pending: checkpoint_pb2.CheckpointRef | None = None
        self._arrived = asyncio.Event()
        self.seen = 0  # newest version received

    def offer(self, checkpoint: checkpoint_pb2.CheckpointRef) -> None:
        """Put a checkpoint in the mailbox; an older one still waiting there is skipped."""
        if checkpoint.version <= self.seen:
            return
        self.seen = checkpoint.version
        if self._pending is not None:
            self._evaluator.metrics.skipped.inc()
            log.info("checkpoint skipped: a newer one arrived before it was evaluated",
                     skipped=self._pending.version, newer=checkpoint.version)
        self._pending = checkpoint
        self._arrived.set()

    async def _read(self) -> None:
        while True:
            try:
                stream = self._trainer.WatchCheckpoints(trainer_pb2.WatchCheckpointsRequest(after_version=self.seen),
                                                        timeout=WATCH_DEADLINE_S)
                async for response in stream:
                    self.offer(response.checkpoint)
                log.warning("the trainer ended the checkpoint stream; reconnecting")
            except grpc.aio.AioRpcError as error:
                log.warning("checkpoint stream interrupted; reconnecting", trainer=self._settings.follow_trainer,
                            error=error.code().name)
            await asyncio.sleep(self._settings.reconnect_s)

    async def _evaluate_next(self) -> None:
        await self._arrived.wait()
        self._arrived.clear()
        checkpoint, self._pending = self._pending, None
        if checkpoint is None:
            return
        try:
            # A checkpoint committed before any optimiser step is the trainer's warm start (--init-from).
            label = WARM_START_LABEL if checkpoint.step == 0 else self._settings.follow_label
            await self._evaluator.evaluate(checkpoint, "validation", [], label)
        except NotReady as error:
            # The game master or the eval policy is away: try this checkpoint again unless a newer one came.
            log.warning("followed checkpoint not evaluated yet; retrying", policy_version=checkpoint.version,
                        reason=error.message)
            if self._pending is None:
                self._pending = checkpoint
                self._arrived.set()
            await asyncio.sleep(self._settings.reconnect_s)
        except PlaypenError as error:
            log.error("followed checkpoint could not be evaluated", policy_version=checkpoint.version,
                      reason=error.message)
        except Exception:  # a bug in one evaluation must not end follow mode
            log.exception("followed checkpoint evaluation failed", policy_version=checkpoint.version)

    async def run(self) -> None:
        await self._evaluator.resolve_games()
        newest = await asyncio.to_thread(self._evaluator.store.newest_version, "validation",
                                         self._evaluator.default_protocol)
        self.seen = max(self.seen, newest)
        reader = asyncio.create_task(self._read())
        try:
            while True:
                await self._evaluate_next()
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
