"""The actor's loop: play a round, save the round number, wait as the schedule says, until a budget is spent."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import grpc

from playpen.gamemaster.v1 import gamemaster_pb2_grpc
from playpen.policy.v1 import policy_pb2_grpc
from playpen.trainer.v1 import trainer_pb2_grpc
from playpen_common.client import aio_channel
from playpen_common.replicas import Replicas
from playpen_selfplay.metrics import SelfPlayMetrics
from playpen_selfplay.progress import progress
from playpen_selfplay.requests import curriculum_weights, round_request
from playpen_selfplay.rounds import RoundReport, play_round
from playpen_selfplay.settings import SelfPlaySettings
from playpen_selfplay.state import ActorState, load_state, save_state
from playpen_selfplay.waits import TRANSIENT, Stopped, Waits

MAX_MESSAGE_BYTES = 64 << 20


@dataclass
class Summary:
    rounds: int = 0
    episodes: int = 0
    acks: Counter = field(default_factory=Counter)
    seconds: float = 0.0
    trainer_step: int = 0
    trainer_version: int = 0
    stopped_by: str = ""


class SelfPlay:
    def __init__(self, settings: SelfPlaySettings, *, metrics: SelfPlayMetrics | None = None,
                 on_round: Callable[[RoundReport], None] | None = None):
        self.settings = settings
        self.metrics = metrics or SelfPlayMetrics()
        self._on_round = on_round
        self._stop = asyncio.Event()

    def stop(self) -> None:
        self._stop.set()

    async def run(self) -> Summary:
        settings = self.settings
        channels = [aio_channel(target, max_message_bytes=MAX_MESSAGE_BYTES, tls=settings.client_tls)
                    for target in (settings.gamemaster, settings.trainer)]
        self._gamemaster = gamemaster_pb2_grpc.GameMasterServiceStub(channels[0])
        self._trainer = trainer_pb2_grpc.TrainerServiceStub(channels[1])
        # The game master spreads the turns over the rollout replicas; sync mode waits until each has reloaded.
        policies = Replicas(settings.policy, policy_pb2_grpc.PolicyServiceStub, max_message_bytes=MAX_MESSAGE_BYTES,
                            tls=settings.client_tls)
        self._waits = Waits(settings, self._stop, self.metrics, self._trainer, policies)
        summary = Summary()
        started = time.monotonic()
        try:
            await self._loop(summary, started, load_state(settings.state))
        except Stopped:
            pass
        finally:
            for channel in channels:
                await channel.close()
            await policies.close()
        if self._stop.is_set() and not summary.stopped_by:
            summary.stopped_by = "stop requested"
        summary.seconds = time.monotonic() - started
        return summary

    async def _loop(self, summary: Summary, started: float, state: ActorState) -> None:
        settings = self.settings
        failures = 0
        round_index = state.next_round
        while not self._stop.is_set():
            self.metrics.next_round.set(round_index)
            status = await self._waits.trainer_status()
            summary.trainer_step, summary.trainer_version = status.step, status.latest_version
            reason = self._waits.done(summary.rounds, status, started)
            if reason:
                summary.stopped_by = reason
                break
            if settings.mode == "async":
                reason = await self._waits.for_room(summary.rounds, started)
                if reason is not None:
                    summary.stopped_by = reason
                    break
            if settings.mode == "sync" and not await self._waits.for_policy(status.latest_version):
                break
            request = round_request(settings, round_index, state.signal)
            if settings.curriculum == "signal":
                weights = curriculum_weights(settings, state.signal)
                progress("round games", round=round_index, games=list(request.games),
                         weights={game: round(weight, 3) for game, weight in weights.items()})
            try:
                report = await play_round(round_index, request, self._gamemaster,
                                          self._trainer, self._stop, timeout_s=settings.round_timeout_s)
            except grpc.aio.AioRpcError as error:
                # The round is played again with the same episode ids: what the trainer acknowledged
                # already comes back DUPLICATE and is stored once.
                if error.code() not in TRANSIENT:
                    raise
                failures += 1
                if failures * 30 > settings.patience_s:
                    raise
                self.metrics.retries.labels(what="round").inc()
                progress("round failed, playing it again", round=round_index, code=error.code().name,
                         details=error.details())
                if not await self._waits.sleep(min(30.0, 2.0 * failures)):
                    break
                continue
            failures = 0
            if report is None:  # stopped in the middle of the round
                break
            round_index += 1
            state.next_round = round_index
            state.record(report.groups)
            save_state(settings.state, state)
            if settings.mode == "sync" and not await self._waits.for_update(status):
                break
            status = await self._waits.trainer_status()
            report.trainer_step, report.trainer_version = status.step, status.latest_version
            self._count(summary, report)

    def _count(self, summary: Summary, report: RoundReport) -> None:
        summary.rounds += 1
        summary.episodes += report.episodes
        summary.acks.update(report.acks)
        metrics = self.metrics
        metrics.rounds.inc()
        metrics.round_seconds.observe(report.seconds)
        metrics.trainer_step.set(report.trainer_step)
        for status, count in report.statuses.items():
            metrics.episodes.labels(status=status).inc(count)
        for ack, count in report.acks.items():
            metrics.acks.labels(ack=ack).inc(count)
        metrics.progressed()
        if self._on_round is not None:
            self._on_round(report)
