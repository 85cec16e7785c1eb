"""The one place where exceptions become gRPC status codes.

Handlers raise `PlaypenError` subclasses; anything else is a bug, logged with its traceback and reported
to the caller as INTERNAL without internals. Works for all four RPC shapes of grpc.aio.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
import structlog

from playpen_common.errors import PlaypenError

log = structlog.get_logger("playpen.rpc")

Observer = Callable[[str, grpc.StatusCode, float], None]


async def _fail(context: grpc.aio.ServicerContext, method: str, error: BaseException) -> None:
    if isinstance(error, PlaypenError):
        log.info("rpc refused", method=method, code=error.code.name, reason=error.message)
        await context.abort(error.code, error.message)
    log.exception("rpc failed", method=method, exc_info=error)
    await context.abort(grpc.StatusCode.INTERNAL, f"internal error in {method}: {type(error).__name__}")


class ErrorInterceptor(grpc.aio.ServerInterceptor):
    """Maps PlaypenError to its status code and reports each call to an optional observer (metrics)."""

    def __init__(self, observe: Observer | None = None):
        self._observe = observe or (lambda method, code, seconds: None)

    async def intercept_service(self, continuation: Callable[[Any], Awaitable[Any]],
                                details: grpc.HandlerCallDetails) -> Any:
        handler = await continuation(details)
        if handler is None:
            return None
        method = details.method
        if handler.unary_unary:
            return grpc.unary_unary_rpc_method_handler(
                self._wrap_unary(method, handler.unary_unary),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer)
        if handler.stream_unary:
            return grpc.stream_unary_rpc_method_handler(
                self._wrap_unary(method, handler.stream_unary),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer)
        if handler.unary_stream:
            return grpc.unary_stream_rpc_method_handler(
                self._wrap_stream(method, handler.unary_stream),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer)
        return grpc.stream_stream_rpc_method_handler(
            self._wrap_stream(method, handler.stream_stream),
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer)

    @contextlib.asynccontextmanager
    async def _boundary(self, method: str, context: grpc.aio.ServicerContext) -> AsyncIterator[None]:
        started = time.perf_counter()
        code = grpc.StatusCode.OK
        try:
            yield
        except (asyncio.CancelledError, grpc.aio.AbortError):
            code = context.code() or grpc.StatusCode.CANCELLED
            raise
        except Exception as error:  # noqa: BLE001 - this is the boundary
            code = error.code if isinstance(error, PlaypenError) else grpc.StatusCode.INTERNAL
            await _fail(context, method, error)
        finally:
            self._observe(method, _as_code(code), time.perf_counter() - started)

    def _wrap_unary(self, method: str, behaviour: Callable[..., Awaitable[Any]]):
        async def call(request: Any, context: grpc.aio.ServicerContext) -> Any:
            async with self._boundary(method, context):
                return await behaviour(request, context)

        return call

    def _wrap_stream(self, method: str, behaviour: Callable[..., Any]):
        if not inspect.isasyncgenfunction(behaviour):
            # Streaming handlers that write with context.write() (grpc's own health Watch) are coroutines;
            # grpc forbids mixing that style with yielding, so they are wrapped as coroutines.
            return self._wrap_unary(method, behaviour)

        async def call(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            async with self._boundary(method, context):
                async for item in behaviour(request, context):
                    yield item

        return call


def _as_code(code: Any) -> grpc.StatusCode:
    if isinstance(code, grpc.StatusCode):
        return code
    for status in grpc.StatusCode:
        if status.value[0] == code:
            return status
    return grpc.StatusCode.UNKNOWN
