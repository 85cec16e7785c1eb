"""The EvaluatorService: request validation and the RPCs over the Evaluator, the store and the serving state."""

from __future__ import annotations

import asyncio

import structlog

from playpen.common.v1 import checkpoint_pb2
from playpen.evaluator.v1 import evaluator_pb2, evaluator_pb2_grpc
from playpen_common.bounds import quoted
from playpen_common.checkpoints import confine
from playpen_common.errors import FailedPrecondition, InvalidArgument
from playpen_evaluator.evaluation import Evaluator
from playpen_evaluator.settings import EVAL_SPLITS

log = structlog.get_logger("playpen.evaluator")

MAX_LABEL_CHARS = 200


def check_checkpoint(request: evaluator_pb2.EvaluateCheckpointRequest) -> checkpoint_pb2.CheckpointRef:
    if not request.HasField("checkpoint"):
        raise InvalidArgument("EvaluateCheckpoint needs a checkpoint reference (version 0 for the base model)")
    checkpoint = request.checkpoint
    if checkpoint.version < 0:
        raise InvalidArgument(f"checkpoint version must not be negative, got {checkpoint.version}")
    if checkpoint.version > 0:
        if not checkpoint.files:
            raise InvalidArgument(f"checkpoint {checkpoint.version}: the reference lists no files")
        if checkpoint.kind == checkpoint_pb2.CHECKPOINT_KIND_UNSPECIFIED:
            raise InvalidArgument(f"checkpoint {checkpoint.version}: kind must be FULL or LORA")
    elif checkpoint.files:
        raise InvalidArgument("version 0 is the base model the eval policy started with; it takes no files")
    return checkpoint


def check_split(split: str, *, default: str = "") -> str:
    split = split or default
    if split and split not in EVAL_SPLITS:
        raise InvalidArgument(f"unknown split {quoted(split)}; evaluations use {' or '.join(EVAL_SPLITS)}")
    return split


class EvaluatorServicer(evaluator_pb2_grpc.EvaluatorServiceServicer):
    def __init__(self, evaluator: Evaluator):
        self._evaluator = evaluator
        self._store, self._serving = evaluator.store, evaluator.serving

    async def EvaluateCheckpoint(self, request, context):
        checkpoint = check_checkpoint(request)
        if checkpoint.version > 0:
            # This pod does not mount the checkpoints: the path is checked as written; the policy that loads it
            # checks it again with its symlinks resolved.
            confine(checkpoint, self._evaluator.settings.roots, on_disk=False)
        split = check_split(request.split, default=self._evaluator.settings.split)
        if len(request.label) > MAX_LABEL_CHARS:
            raise InvalidArgument(f"label has {len(request.label)} characters, more than {MAX_LABEL_CHARS}")
        result = await self._evaluator.evaluate(checkpoint, split, list(request.games), request.label)
        return evaluator_pb2.EvaluateCheckpointResponse(result=result)

    async def ListResults(self, request, context):
        negative = [v for v in request.versions if v < 0]
        if negative:
            raise InvalidArgument(f"versions must not be negative, got {negative[:5]}"
                                  + (f" and {len(negative) - 5} more" if len(negative) > 5 else ""))
        split = check_split(request.split)
        results = await asyncio.to_thread(self._store.results, list(request.versions), split,
                                          include_episodes=request.include_episodes)
        return evaluator_pb2.ListResultsResponse(results=results, serving_version=self._serving.version)

    async def WatchPromotions(self, request, context):
        if request.current_version < 0:
            raise InvalidArgument(f"current_version must not be negative, got {request.current_version}")
        async for checkpoint in self._serving.watch(request.current_version):
            yield evaluator_pb2.WatchPromotionsResponse(checkpoint=checkpoint)

    async def Rollback(self, request, context):
        version = request.version
        if version < 0:
            raise InvalidArgument(f"version must not be negative, got {version}")
        async with self._evaluator.serving_lock:
            checkpoint = await asyncio.to_thread(self._store.promoted_checkpoint, version)
            if checkpoint is None:
                if not await asyncio.to_thread(self._store.evaluated, version):
                    raise InvalidArgument(f"version {version} was never evaluated")
                raise FailedPrecondition(f"version {version} was evaluated but never promoted; only a version "
                                         "that was promoted before can serve again")
            if version == 0 and self._serving.version != 0:
                raise FailedPrecondition("the base model (version 0) has no checkpoint files a running replica "
                                         "could load; restart the replicas without following instead")
            if self._serving.version != version:
                await asyncio.to_thread(self._store.rollback, checkpoint)
                self._serving.publish(checkpoint)
                self._evaluator.metrics.serving_version.set(version)
                self._evaluator.metrics.rollbacks.inc()
                log.info("rolled back", policy_version=version)
        return evaluator_pb2.RollbackResponse(checkpoint=checkpoint)
