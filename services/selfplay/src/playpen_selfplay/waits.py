"""How the actor waits: out a busy or restarting peer (with patience), for room in the trainer (async), for a
trained step and its reload (sync) — every wait ends at once when the actor is stopped."""

from __future__ import annotations

import asyncio
import time

import grpc

from playpen.policy.v1 import policy_pb2, policy_pb2_grpc
from playpen.trainer.v1 import trainer_pb2, trainer_pb2_grpc
from playpen_common.errors import NotReady
from playpen_common.replicas import Replicas
from playpen_selfplay.metrics import SelfPlayMetrics
from playpen_selfplay.progress import progress
from playpen_selfplay.rounds import SelfPlayError
from playpen_selfplay.settings import SelfPlaySettings

TRANSIENT = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.RESOURCE_EXHAUSTED)


class Stopped(Exception):
    """A stop was requested while waiting."""


class Waits:
    def __init__(self, settings: SelfPlaySettings, stop: asyncio.Event, metrics: SelfPlayMetrics,
                 trainer: trainer_pb2_grpc.TrainerServiceStub, policy: Replicas[policy_pb2_grpc.PolicyServiceStub]):
        self.settings, self._stop, self.metrics = settings, stop, metrics
        self._trainer, self._policy = trainer, policy

    async def trainer_status(self) -> trainer_pb2.GetStatusResponse:
        """The trainer's status, waiting out a busy or restarting trainer (up to `patience_s`)."""
        return await self.patiently(lambda: self._trainer.GetStatus(trainer_pb2.GetStatusRequest(), timeout=30),
                                    "trainer status")

    async def patiently(self, call, what: str):
        deadline = time.monotonic() + self.settings.patience_s
        delay = 1.0
        while True:
            try:
                return await call()
            except (grpc.aio.AioRpcError, NotReady) as error:
                # NotReady: a DNS name of the replicas that resolves to nothing yet (no pod ready).
                code = error.code() if isinstance(error, grpc.aio.AioRpcError) else NotReady.code
                if code not in TRANSIENT or time.monotonic() + delay > deadline:
                    raise
                self.metrics.retries.labels(what=what).inc()
                progress("retrying", what=what, code=code.name, in_s=delay)
            if not await self.sleep(delay):
                raise Stopped
            delay = min(delay * 2, 30.0)

    def done(self, rounds: int, status: trainer_pb2.GetStatusResponse, started: float) -> str:
        """Why the run is over ("" while it is not): a step, time or round budget spent."""
        settings = self.settings
        if settings.steps and status.step >= settings.steps:
            return f"trainer reached step {status.step}"
        if settings.seconds and time.monotonic() - started >= settings.seconds:
            return f"time budget of {settings.seconds:.0f} s spent"
        if settings.rounds and rounds >= settings.rounds:
            return f"{rounds} rounds played"
        return ""

    async def sleep(self, seconds: float) -> bool:
        """Sleep unless stopped; False when stopped."""
        try:
            await asyncio.wait_for(self._stop.wait(), seconds)
        except TimeoutError:
            return True
        return False

    async def for_room(self, rounds: int, started: float) -> str | None:
        """async: wait while too many episodes are untrained. None: go on; else why the run ends."""
        while True:
            status = await self.trainer_status()
            if status.episodes_buffered < self.settings.max_pending:
                return None
            reason = self.done(rounds, status, started)
            if reason:
                return reason
            if not await self.sleep(0.5):
                return "stop requested"

    async def for_policy(self, version: int) -> bool:
        """sync: every rollout replica serves `version` (or newer) before a round starts; False when stopped."""
        deadline = time.monotonic() + self.settings.sync_timeout_s
        while time.monotonic() < deadline:
            served = await self.patiently(lambda: self._policy.each(
                lambda stub: stub.GetStatus(policy_pb2.GetStatusRequest(), timeout=30)), "policy status")
            if min(status.policy_version for status in served.values()) >= version:
                return True
            if not await self.sleep(0.2):
                return False
        raise SelfPlayError(f"sync: the policy did not serve version {version} within "
                            f"{self.settings.sync_timeout_s:.0f} s")

    async def for_update(self, before: trainer_pb2.GetStatusResponse) -> bool:
        """sync: the round is trained on, a newer version is committed, and the policy serves it."""
        deadline = time.monotonic() + self.settings.sync_timeout_s
        previous = None
        while time.monotonic() < deadline:
            status = await self.trainer_status()
            if status.episodes_buffered == 0 and status.latest_version > before.latest_version:
                return await self.for_policy(status.latest_version)
            # A trainer that drops groups without signal (--flat-groups drop) may have set the round aside, or part
            # of it, and wait for more groups with signal: when it drops and stays still, play on.
            idle = (status.step, status.episodes_dropped, status.episodes_buffered)
            if status.latest_version == before.latest_version and status.episodes_dropped > before.episodes_dropped \
                    and idle == previous:
                return True
            previous = idle
            if not await self.sleep(0.2):
                return False
        raise SelfPlayError(f"sync: the trainer did not train the round and the policy did not serve a new version "
                            f"within {self.settings.sync_timeout_s:.0f} s (is the round smaller than one step's "
                            f"groups?)")
