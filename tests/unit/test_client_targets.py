"""Policy targets that name several replicas, and health-checked round_robin over them."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from playpen_common.client import aio_channel, replica_addresses, resolve_target


def test_a_single_address_or_a_scheme_is_left_to_grpc() -> None:
    assert resolve_target("localhost:50052") == "localhost:50052"
    assert resolve_target("dns:///policy-rollout:50052") == "dns:///policy-rollout:50052"
    assert resolve_target("ipv4:10.0.0.1:1,10.0.0.2:2") == "ipv4:10.0.0.1:1,10.0.0.2:2"


def test_a_list_becomes_one_target_with_an_address_per_entry() -> None:
    assert resolve_target("127.0.0.1:5001, localhost:5002") == "ipv4:127.0.0.1:5001,127.0.0.1:5002"
    assert resolve_target("[::1]:5001,::1:5002") == "ipv6:[::1]:5001,[::1]:5002"
    assert replica_addresses("127.0.0.1:5001,127.0.0.2:5002") == ["127.0.0.1:5001", "127.0.0.2:5002"]
    assert replica_addresses("dns:///127.0.0.1:5001") == ["127.0.0.1:5001"]


@pytest.mark.parametrize("target, problem", [
    ("", "empty"), ("a:1,b", "'b' is not host:port"), ("a:1,b:0", "'b:0' is not host:port"),
    ("a:1,b:x", "not host:port"), ("127.0.0.1:1,no-such-host.invalid:2", "cannot resolve"),
])
def test_a_malformed_list_is_refused_with_the_reason(target: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        resolve_target(target)


async def _replica(name: str, serving: bool):
    async def answer(request: bytes, context) -> bytes:
        return name.encode()

    server = grpc.aio.server()
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(
        "test.Svc", {"Who": grpc.unary_unary_rpc_method_handler(answer)}),))
    status = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(status, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    await status.set("", health_pb2.HealthCheckResponse.SERVING if serving else
                     health_pb2.HealthCheckResponse.NOT_SERVING)
    return server, status, f"127.0.0.1:{port}"


async def _who_answers(target: str, health_checked: bool, calls: int = 8) -> list[str]:
    async with aio_channel(target, health_checked=health_checked) as channel:
        who = channel.unary_unary("/test.Svc/Who")
        return [(await who(b"", timeout=5)).decode() for _ in range(calls)]


def test_health_checked_round_robin_skips_a_replica_until_it_serves_and_after_it_drains() -> None:
    async def scenario() -> None:
        ready, _, ready_address = await _replica("ready", serving=True)
        late, late_status, late_address = await _replica("late", serving=False)
        target = f"{ready_address},{late_address}"
        try:
            # Without health checking, round_robin does call the replica that says NOT_SERVING ...
            assert set(await _who_answers(target, health_checked=False)) == {"ready", "late"}
            # ... with it, not until it serves; then both share the calls; after a drain, the late one gets none.
            assert set(await _who_answers(target, health_checked=True)) == {"ready"}
            await late_status.set("", health_pb2.HealthCheckResponse.SERVING)
            assert set(await _who_answers(target, health_checked=True)) == {"ready", "late"}
            async with aio_channel(target, health_checked=True) as channel:
                who = channel.unary_unary("/test.Svc/Who")
                assert {(await who(b"", timeout=5)).decode() for _ in range(6)} == {"ready", "late"}
                await late_status.enter_graceful_shutdown()
                # The client learns it from its Watch stream, a moment later; from then on only "ready" answers.
                deadline = asyncio.get_running_loop().time() + 5
                while {(await who(b"", timeout=5)).decode() for _ in range(6)} != {"ready"}:
                    assert asyncio.get_running_loop().time() < deadline, "the drained replica still gets calls"
        finally:
            await asyncio.gather(ready.stop(0), late.stop(0))

    asyncio.run(scenario())
