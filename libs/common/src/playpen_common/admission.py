"""What a request must be before any handler sees it: decodable, and within its size bounds.

grpc deserializes a request before interceptors or handlers run, and a deserializer that raises (bytes that are
not the message, a string field that is not UTF-8) ends the call as UNKNOWN with a traceback in the log. So every
method handler a service registers is rewritten here: its deserializer returns an `Undecodable` marker instead of
raising, and its behaviour refuses that marker, and any request beyond the service's `Limits`, with
InvalidArgument, which the error interceptor turns into INVALID_ARGUMENT with a short message. Streamed requests
are checked one by one as the handler reads them.

`guarded(server, limits)` wraps a server for the generated add_*_to_server functions (and grpc's own health and
reflection services), which register their handlers through it.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from typing import Any

import grpc
from google.protobuf.message import Message

from playpen_common.bounds import Limits, check_sizes
from playpen_common.errors import InvalidArgument


class Undecodable:
    """Stands for a request whose bytes are not a valid message of the method's request type."""

    __slots__ = ("type_name",)

    def __init__(self, type_name: str):
        self.type_name = type_name


def _decoder(deserialize: Callable[[bytes], Any] | None) -> Callable[[bytes], Any] | None:
    if deserialize is None:
        return None
    owner = getattr(deserialize, "__self__", None)
    type_name = getattr(owner, "DESCRIPTOR", None)
    type_name = type_name.full_name if type_name is not None else "request"

    def decode(data: bytes) -> Any:
        try:
            return deserialize(data)
        except Exception:  # noqa: BLE001 - any parse failure is the client's bytes, never ours
            return Undecodable(type_name)

    return decode


def admit(request: Any, limits: Limits | None) -> Any:
    """`request`, or InvalidArgument when it could not be decoded or is beyond `limits`."""
    if isinstance(request, Undecodable):
        raise InvalidArgument(f"the request is not a valid {request.type_name} message (malformed bytes, or a "
                              "string field that is not UTF-8)")
    if limits is not None and isinstance(request, Message):
        check_sizes(request, limits)
    return request


async def _admitted(requests: AsyncIterator[Any], limits: Limits | None) -> AsyncIterator[Any]:
    async for request in requests:
        yield admit(request, limits)


def _unary_request(behaviour: Callable[..., Any], limits: Limits | None) -> Callable[..., Any]:
    if inspect.isasyncgenfunction(behaviour):
        async def stream(request: Any, context: Any) -> AsyncIterator[Any]:
            admit(request, limits)
            async for item in behaviour(request, context):
                yield item

        return stream

    async def call(request: Any, context: Any) -> Any:
        admit(request, limits)
        return await behaviour(request, context)

    return call


def _streamed_request(behaviour: Callable[..., Any], limits: Limits | None) -> Callable[..., Any]:
    if inspect.isasyncgenfunction(behaviour):
        async def stream(requests: AsyncIterator[Any], context: Any) -> AsyncIterator[Any]:
            async for item in behaviour(_admitted(requests, limits), context):
                yield item

        return stream

    async def call(requests: AsyncIterator[Any], context: Any) -> Any:
        return await behaviour(_admitted(requests, limits), context)

    return call


def guard_handler(handler: grpc.RpcMethodHandler | None, limits: Limits | None) -> grpc.RpcMethodHandler | None:
    """The same method, with a deserializer that never raises and a behaviour that admits each request first."""
    if handler is None:
        return None
    options = {"request_deserializer": _decoder(handler.request_deserializer),
               "response_serializer": handler.response_serializer}
    if handler.unary_unary:
        return grpc.unary_unary_rpc_method_handler(_unary_request(handler.unary_unary, limits), **options)
    if handler.unary_stream:
        return grpc.unary_stream_rpc_method_handler(_unary_request(handler.unary_stream, limits), **options)
    if handler.stream_unary:
        return grpc.stream_unary_rpc_method_handler(_streamed_request(handler.stream_unary, limits), **options)
    return grpc.stream_stream_rpc_method_handler(_streamed_request(handler.stream_stream, limits), **options)


class _GuardedGenericHandler(grpc.GenericRpcHandler):
    def __init__(self, inner: grpc.GenericRpcHandler, limits: Limits | None):
        self._inner, self._limits = inner, limits
        self._guarded: dict[str, grpc.RpcMethodHandler] = {}

    def service(self, handler_call_details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler | None:
        method = handler_call_details.method
        if method in self._guarded:
            return self._guarded[method]
        handler = guard_handler(self._inner.service(handler_call_details), self._limits)
        if handler is not None:  # only this service's own methods are kept: a finite set
            self._guarded[method] = handler
        return handler


class _GuardedServer(grpc.aio.Server):
    """A grpc.aio.Server (so that grpc's reflection picks its asyncio servicer) whose registration calls guard every
    method handler; everything else is the wrapped server's."""

    def __init__(self, server: grpc.aio.Server, limits: Limits | None):
        self._server, self._limits = server, limits

    def add_generic_rpc_handlers(self, handlers: Iterable[grpc.GenericRpcHandler]) -> None:
        self._server.add_generic_rpc_handlers(tuple(_GuardedGenericHandler(h, self._limits) for h in handlers))

    def add_registered_method_handlers(self, service: str, handlers: Mapping[str, grpc.RpcMethodHandler]) -> None:
        self._server.add_registered_method_handlers(
            service, {name: guard_handler(handler, self._limits) for name, handler in handlers.items()})

    def add_insecure_port(self, address: str) -> int:
        return self._server.add_insecure_port(address)

    def add_secure_port(self, address: str, server_credentials: grpc.ServerCredentials) -> int:
        return self._server.add_secure_port(address, server_credentials)

    async def start(self) -> None:
        await self._server.start()

    async def stop(self, grace: float | None) -> None:
        await self._server.stop(grace)

    async def wait_for_termination(self, timeout: float | None = None) -> bool:
        return await self._server.wait_for_termination(timeout)


def guarded(server: grpc.aio.Server, limits: Limits | None = None) -> Any:
    """`server` for registering handlers: each one decodes safely and admits requests within `limits` (None: any
    size, decoding is still guarded)."""
    return _GuardedServer(server, limits)
