"""The game master's policy channel pool: an allow-list checked on the names as written, a bound on channels that
evicts the least recently used idle one and refuses when all are in use, and idle channels closed."""

from __future__ import annotations

import asyncio

import pytest

from playpen_common.errors import InvalidArgument, ResourceExhausted
from playpen_gamemaster.players import ChannelPool, PolicyAllowList, target_names


def test_target_names_are_read_without_resolving() -> None:
    assert target_names("Policy.NS.svc:50052") == ["policy.ns.svc:50052"]
    assert target_names("a:1, b:2") == ["a:1", "b:2"]
    assert target_names("dns:///rollout-headless:50052") == ["rollout-headless:50052"]
    assert target_names("dns://10.0.0.10:53/rollout:50052") == ["rollout:50052"]
    assert target_names("ipv4:10.0.0.1:5,10.0.0.2:5") == ["10.0.0.1:5", "10.0.0.2:5"]
    assert target_names("unix:/run/policy.sock") == ["unix:/run/policy.sock"]


def test_the_allow_list() -> None:
    allowed = PolicyAllowList(["playpen-policy*.playpen.svc:50052", "localhost:*"])
    allowed.check("playpen-policy-rollout.playpen.svc:50052")
    allowed.check("dns:///playpen-policy.playpen.svc:50052")
    allowed.check("localhost:1,localhost:2")
    for refused in ("playpen-policy.other.svc:50052", "playpen-policy.playpen.svc:22", "10.0.0.1:50052",
                    "localhost:1,evil.example:1", "ipv4:127.0.0.1:50052", "unix:/run/x.sock"):
        with pytest.raises(InvalidArgument, match="not allowed"):
            allowed.check(refused)
    with pytest.raises(InvalidArgument, match="not host:port"):
        allowed.check("localhost")
    with pytest.raises(InvalidArgument, match="1 to 64 addresses"):
        allowed.check(",".join(["localhost:1"] * 65))
    PolicyAllowList(["*"]).check("anything.example:443")


def test_the_pool_is_bounded_evicts_idle_channels_and_refuses_when_all_are_busy() -> None:
    async def scenario() -> None:
        pool = ChannelPool(1 << 20, allowed=PolicyAllowList(["localhost:*"]), max_channels=2, idle_s=60)
        first = pool.lease()
        first.stub("localhost:1")
        first.stub("localhost:2")
        second = pool.lease()
        with pytest.raises(ResourceExhausted):
            second.stub("localhost:3")  # both channels are in use by the first call
        first.release()
        second.stub("localhost:3")  # the least recently used idle channel made room
        assert pool.open_channels == 2
        second.stub("localhost:2")  # still open: shared, not a new channel
        assert pool.open_channels == 2
        second.release()
        await pool.close()
        assert pool.open_channels == 0

    asyncio.run(scenario())


def test_idle_channels_are_closed_when_the_next_call_comes() -> None:
    async def scenario() -> None:
        pool = ChannelPool(1 << 20, allowed=PolicyAllowList(["localhost:*"]), max_channels=8, idle_s=0.05)
        lease = pool.lease()
        for port in range(1, 6):
            lease.stub(f"localhost:{port}")
        lease.release()
        await asyncio.sleep(0.1)
        pool.lease().release()
        assert pool.open_channels == 0
        await pool.close()

    asyncio.run(scenario())
