"""Sync self-play over several rollout replicas: a round starts only once every replica serves the version."""

from __future__ import annotations

import asyncio

from playpen.policy.v1 import policy_pb2
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
