"""Sync self-play over several rollout replicas: a round starts only once every replica serves the version."""

from __future__ import annotations

import asyncio

from playpen.policy.v1 import policy_pb2
from playpen.trainer.v1 import trainer_pb2
from playpen_selfplay.metrics import SelfPlayMetrics
from playpen_selfplay.settings import SelfPlaySettings
from playpen_selfplay.waits import Waits


class RolloutReplicas:
    """Two replicas; the second loads version 4 one poll after the first."""

    def __init__(self) -> None:
        self.polls = 0

    async def each(self, call):
        self.polls += 1
        versions = {"10.0.0.1:50052": 4, "10.0.0.2:50052": 3 if self.polls < 3 else 4}
        return {address: policy_pb2.GetStatusResponse(policy_version=v) for address, v in versions.items()}


def test_sync_waits_until_every_rollout_replica_serves_the_version() -> None:
    replicas = RolloutReplicas()
    waits = Waits(SelfPlaySettings(_cli_parse_args=[]), asyncio.Event(), SelfPlayMetrics(), trainer=None,
                  policy=replicas)
    assert asyncio.run(waits.for_policy(4))
    assert replicas.polls == 3


class Trainer:
    """GetStatus answers in turn; the last one repeats."""

    def __init__(self, *statuses: trainer_pb2.GetStatusResponse) -> None:
        self.statuses = list(statuses)

    async def GetStatus(self, request, timeout=None):  # the stub's method name
        return self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]


def _status(**fields) -> trainer_pb2.GetStatusResponse:
    return trainer_pb2.GetStatusResponse(**{"step": 3, "latest_version": 3, **fields})


def test_sync_plays_on_when_the_trainer_set_the_round_aside_as_flat() -> None:
    """A trainer that drops flat groups commits no version for such a round: once it has dropped episodes and
    stays still, the actor goes on instead of waiting for a version that will not come."""
    before = _status(episodes_buffered=4)
    trainer = Trainer(before, _status(episodes_dropped=2, episodes_buffered=2))
    waits = Waits(SelfPlaySettings(_cli_parse_args=["--sync-timeout-s", "5"]), asyncio.Event(), SelfPlayMetrics(),
                  trainer=trainer, policy=RolloutReplicas())
    assert asyncio.run(waits.for_update(before)) is True


def test_sync_still_waits_for_the_version_of_a_trained_round() -> None:
    before = _status(episodes_buffered=4)
    trainer = Trainer(before, before, _status(step=4, latest_version=4))
    replicas = RolloutReplicas()
    waits = Waits(SelfPlaySettings(_cli_parse_args=["--sync-timeout-s", "5"]), asyncio.Event(), SelfPlayMetrics(),
                  trainer=trainer, policy=replicas)
    assert asyncio.run(waits.for_update(before)) is True
    assert replicas.polls == 3  # it went on to wait for the replicas to serve version 4
