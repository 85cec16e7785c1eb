"""Calls that must reach every replica a target names, not any one: loading weights into each eval policy,
waiting until each rollout replica serves a version.

The addresses are resolved again on every `each` (a headless Service's DNS answer changes as pods come and go);
one channel per address is kept while the address is.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

import grpc

from playpen_common.client import aio_channel, host_of, replica_addresses
from playpen_common.errors import NotReady
from playpen_common.tls import ClientTls

Stub = TypeVar("Stub")
T = TypeVar("T")


class Replicas(Generic[Stub]):
    """`Replicas(target, PolicyServiceStub)`; `await replicas.each(lambda stub: stub.GetStatus(...))`."""

    def __init__(self, target: str, make_stub: Callable[[grpc.aio.Channel], Stub], *,
                 max_message_bytes: int = 64 << 20, tls: ClientTls | None = None):
        self.target = target
        self._tls = tls
        self._make_stub = make_stub
        self._max_message_bytes = max_message_bytes
        self._stubs: dict[str, tuple[grpc.aio.Channel, Stub]] = {}

    def _stub(self, address: str) -> Stub:
        if address not in self._stubs:
            # Each replica is dialled by its IP; its certificate names the Service the target names.
            channel = aio_channel(address, max_message_bytes=self._max_message_bytes, tls=self._tls,
                                  server_name=host_of(self.target))
            self._stubs[address] = channel, self._make_stub(channel)
        return self._stubs[address][1]

    async def each(self, call: Callable[[Stub], Awaitable[T]]) -> dict[str, T]:
        """`call` on every replica at once; address -> result. The first failure is raised; NotReady when the
        target names no replica now (a DNS name that does not resolve)."""
        try:
            addresses = await asyncio.to_thread(replica_addresses, self.target)
        except ValueError as error:
            raise NotReady(f"{self.target}: {error}") from None
        for gone in set(self._stubs) - set(addresses):
            await self._stubs.pop(gone)[0].close()
        results: list[Any] = await asyncio.gather(*(call(self._stub(address)) for address in addresses))
        return dict(zip(addresses, results, strict=True))

    async def close(self) -> None:
        for channel, _ in self._stubs.values():
            await channel.close()
        self._stubs.clear()
