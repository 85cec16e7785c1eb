"""The TrainerService: durable, idempotent, flow-controlled ingestion; checkpoint announcements; status."""

from __future__ import annotations

import asyncio

import structlog
from google.protobuf.timestamp_pb2 import Timestamp

from playpen.trainer.v1 import trainer_pb2, trainer_pb2_grpc
from playpen_common.bounds import Limits, quoted
from playpen_trainer import validation
from playpen_trainer.checkpoints import CheckpointPublisher
from playpen_trainer.loop import Trainer
from playpen_trainer.metrics import TrainerMetrics
from playpen_trainer.store import EpisodeStore

log = structlog.get_logger("playpen.trainer")


class TrainerServicer(trainer_pb2_grpc.TrainerServiceServicer):
    def __init__(self, trainer: Trainer, store: EpisodeStore, publisher: CheckpointPublisher,
                 metrics: TrainerMetrics, *, max_buffered: int, episode_limits: Limits | None = None):
        self._trainer, self._store, self._publisher = trainer, store, publisher
        self._episode_limits = episode_limits
        self._metrics, self._max_buffered = metrics, max_buffered
        self.arrived = asyncio.Event()  # new episodes: the loop may have enough for a step
        self.consumed = asyncio.Event()  # a step took episodes: ingestion may go on

    async def _room(self) -> None:
        """Flow control: while too many episodes wait untrained, stop reading the stream. gRPC then stops the
        sender (HTTP/2 windows fill up); memory does not grow and nothing is refused."""
        while True:
            pending = (await asyncio.to_thread(self._store.counts)).pending
            self._metrics.buffered.set(pending)
            if pending < self._max_buffered:
                return
            self.consumed.clear()
            await self.consumed.wait()

    async def SubmitEpisodes(self, request_iterator, context):
        learner = self._trainer.settings.learner
        async for request in request_iterator:
            await self._room()
            episode = request.episode
            try:
                validation.check(episode, self._episode_limits)
            except validation.MalformedEpisode as error:
                self._metrics.episodes.labels(event="rejected").inc()
                # A refused id may be anything: the log and the ack carry a prefix of it at most.
                log.info("episode rejected", episode_id=quoted(episode.episode_id), reason=str(error))
                yield trainer_pb2.SubmitEpisodesResponse(episode_id=episode.episode_id[:validation.MAX_ID_LENGTH],
                                                         status=trainer_pb2.ACK_STATUS_REJECTED,
                                                         error=f"INVALID_ARGUMENT: {error}")
                continue
            reason = validation.unusable(episode, learner)
            stored = await asyncio.to_thread(self._store.put, episode, validation.min_version(episode, learner),
                                             reason)
            if stored:
                self._metrics.episodes.labels(event="stored").inc()
                if reason:
                    self._metrics.episodes.labels(event=f"dropped: {reason}").inc()
                self.arrived.set()
            else:
                self._metrics.episodes.labels(event="duplicate").inc()
            yield trainer_pb2.SubmitEpisodesResponse(
                episode_id=episode.episode_id,
                status=trainer_pb2.ACK_STATUS_STORED if stored else trainer_pb2.ACK_STATUS_DUPLICATE)

    async def WatchCheckpoints(self, request, context):
        async for ref in self._publisher.watch(request.after_version):
            yield trainer_pb2.WatchCheckpointsResponse(checkpoint=ref)

    async def GetStatus(self, request, context):
        counts = await asyncio.to_thread(self._store.counts)
        status = trainer_pb2.GetStatusResponse(
            step=self._trainer.step, latest_version=self._publisher.latest.version if self._publisher.latest else 0,
            episodes_stored=counts.stored, episodes_consumed=counts.consumed, episodes_dropped=counts.dropped,
            episodes_buffered=counts.pending, algorithm=self._trainer.settings.algorithm)
        if self._trainer.last_step_at:
            stamp = Timestamp()
            stamp.FromNanoseconds(int(self._trainer.last_step_at * 1e9))
            status.last_step_at.CopyFrom(stamp)
        return status
