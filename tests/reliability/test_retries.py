"""Retries only on UNAVAILABLE: declared in the channel's service config, and what a server sees.

A retried RESOURCE_EXHAUSTED or INTERNAL multiplies load on a server already failing; only UNAVAILABLE (the
request never reached a handler) is safe to send again without an idempotency key.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent import futures

import grpc
import pytest

from playpen_common.client import channel_options, sync_channel

METHOD = "/playpen.test.v1.Flaky/Call"


def _service_config(options: list[tuple]) -> dict:
    return json.loads(dict(options)["grpc.service_config"])


def test_the_service_config_retries_only_unavailable() -> None:
    """Pass: every method config of the default channel options retries exactly [UNAVAILABLE], and retries=1
    turns retrying off altogether."""
    config = _service_config(channel_options())
    policies = [method["retryPolicy"] for method in config["methodConfig"]]
    assert policies and all(policy["retryableStatusCodes"] == ["UNAVAILABLE"] for policy in policies)
    assert "methodConfig" not in _service_config(channel_options(retries=1))
    assert dict(channel_options(retries=1))["grpc.enable_retries"] == 0


class Flaky:
    """A server whose one method fails with a chosen status and counts how often it was called."""

    def __init__(self, code: grpc.StatusCode):
        self.code, self.calls = code, 0

    def __call__(self, request: bytes, context: grpc.ServicerContext) -> bytes:
        self.calls += 1
        context.abort(self.code, f"failing with {self.code.name}")


@pytest.fixture
def flaky() -> Iterator[tuple[Flaky, str]]:
    handler = Flaky(grpc.StatusCode.OK)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler("playpen.test.v1.Flaky", {
        "Call": grpc.unary_unary_rpc_method_handler(handler)})])
    port = server.add_insecure_port("localhost:0")
    server.start()
    yield handler, f"localhost:{port}"
    server.stop(None)


@pytest.mark.parametrize(("code", "attempts"), [
    (grpc.StatusCode.RESOURCE_EXHAUSTED, 1), (grpc.StatusCode.INTERNAL, 1), (grpc.StatusCode.UNKNOWN, 1),
    (grpc.StatusCode.DEADLINE_EXCEEDED, 1), (grpc.StatusCode.FAILED_PRECONDITION, 1),
    (grpc.StatusCode.INVALID_ARGUMENT, 1), (grpc.StatusCode.UNAVAILABLE, 4)])
def test_a_failing_server_is_called_again_only_for_unavailable(flaky, code, attempts) -> None:
    """Pass: through a channel of playpen_common.client, a server answering `code` is called once — except for
    UNAVAILABLE, called the configured 4 times — and the caller gets `code`."""
    handler, target = flaky
    handler.code = code
    with sync_channel(target) as channel:
        with pytest.raises(grpc.RpcError) as raised:
            channel.unary_unary(METHOD)(b"", timeout=30)
    assert raised.value.code() == code
    assert handler.calls == attempts
