"""The standard grpc.health.v1 service, with Watch streams that end when the server drains.

Health-checking clients (channels whose service config has healthCheckConfig: the game master's and self-play's
policy channels) hold one Watch stream per backend for as long as they are connected. grpc's servicer never ends
one, so `server.stop(grace)` waited out the whole grace period for them on every SIGTERM, however quickly the
real calls finished. Here a stream ends, with OK, right after it has told its client NOT_SERVING during the
drain; the client stops routing to this server and, if it watches again, hears NOT_SERVING at once.
"""

from __future__ import annotations

import asyncio
from typing import Any

from grpc_health.v1 import health, health_pb2


class _Writes:
    """The part of a ServicerContext that grpc's Watch uses, reporting each status it writes."""

    def __init__(self, context: Any, written: Any):
        self._context, self._written = context, written

    async def write(self, response: health_pb2.HealthCheckResponse) -> None:
        await self._context.write(response)
        self._written(response.status)


class DrainingHealthServicer(health.aio.HealthServicer):
    def __init__(self) -> None:
        super().__init__()
        self._draining = False

    async def enter_graceful_shutdown(self) -> None:
        self._draining = True
        await super().enter_graceful_shutdown()

    async def Watch(self, request: health_pb2.HealthCheckRequest, context: Any) -> None:
        told = asyncio.Event()

        def written(status: int) -> None:
            if self._draining and status == health_pb2.HealthCheckResponse.NOT_SERVING:
                told.set()

        watching = asyncio.ensure_future(super().Watch(request, _Writes(context, written)))
        ending = asyncio.ensure_future(told.wait())
        try:
            await asyncio.wait({watching, ending}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (watching, ending):
                task.cancel()
            await asyncio.gather(watching, ending, return_exceptions=True)
