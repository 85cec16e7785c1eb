"""Domain errors become their status codes; anything else becomes INTERNAL without internals."""

import asyncio

import grpc
import pytest

from playpen_common.errors import FailedPrecondition, InvalidArgument, NotReady
from playpen_common.interceptors import ErrorInterceptor


async def _call(error: Exception | None, streaming: bool):
    observed = []

    async def unary(request: bytes, context) -> bytes:
        if error:
            raise error
        return b"ok"

    async def stream(request: bytes, context):
        yield b"first"
        if error:
            raise error

    methods = {"Unary": grpc.unary_unary_rpc_method_handler(unary),
               "Stream": grpc.unary_stream_rpc_method_handler(stream)}
    server = grpc.aio.server(interceptors=[ErrorInterceptor(lambda m, code, s: observed.append(code))])
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("test.Svc", methods),))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            if streaming:
                call = channel.unary_stream("/test.Svc/Stream")(b"", timeout=10)
                items = [item async for item in call]
                return items, observed
            return await channel.unary_unary("/test.Svc/Unary")(b"", timeout=10), observed
    finally:
        await server.stop(0)


@pytest.mark.parametrize("streaming", [False, True])
@pytest.mark.parametrize(("error", "code"), [
    (InvalidArgument("bad game"), grpc.StatusCode.INVALID_ARGUMENT),
    (NotReady("loading"), grpc.StatusCode.UNAVAILABLE),
    (FailedPrecondition("corrupt"), grpc.StatusCode.FAILED_PRECONDITION),
])
def test_domain_errors_map_to_their_codes(error, code, streaming) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        asyncio.run(_call(error, streaming))
    assert raised.value.code() == code and raised.value.details() == error.message


def test_unexpected_errors_are_internal_and_hide_details() -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        asyncio.run(_call(KeyError("secret path /etc/x"), False))
    assert raised.value.code() == grpc.StatusCode.INTERNAL
    assert "secret" not in raised.value.details() and "KeyError" in raised.value.details()


def test_successful_calls_are_observed_as_ok() -> None:
    result, observed = asyncio.run(_call(None, False))
    assert result == b"ok" and observed == [grpc.StatusCode.OK]
