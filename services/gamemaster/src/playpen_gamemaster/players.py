"""Responders that produce a role's replies for the runner: remote policy servers over gRPC.

A policy target may name several replicas (a list, or a headless Service's DNS name): the channel balances
turns over the replicas whose health says SERVING — so none that is still catching up with its checkpoint
source, and none that drains — and a turn whose replica died or drained under it (UNAVAILABLE or CANCELLED: no
reply was produced, so asking again is safe) is asked again, on another replica, within a bounded number of attempts and
seconds. Every other failure ends the episode as an infrastructure failure, as before.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import grpc

from playpen.common.v1 import chat_pb2
from playpen.policy.v1 import policy_pb2, policy_pb2_grpc
from playpen_common.client import aio_channel
from playpen_common.errors import InvalidArgument
from playpen_gamemaster.metrics import GameMasterMetrics
from playpen_games.engine.runner import ContextExceeded, Reply, ReplyError, Request

# Generate has no side effects, so asking again is safe whenever no reply came: UNAVAILABLE (the replica died, is
# unreachable or refuses as it drains) and CANCELLED, which the game master never causes itself (a cancelled episode
# ends its task with CancelledError instead) — it is a stopping server dropping a call it had not started.
RETRYABLE = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED})


@dataclass(frozen=True)
class RetryPolicy:
    """How often, and for how long, one turn is asked again after a RETRYABLE status."""

    attempts: int = 4
    budget_s: float = 60.0
    first_backoff_s: float = 0.05
    max_backoff_s: float = 1.0

    def backoff_s(self, retry: int) -> float:
        return min(self.first_backoff_s * 2 ** retry, self.max_backoff_s)


class ChannelPool:
    """One channel per policy target, shared by every episode that talks to it."""

    def __init__(self, max_message_bytes: int):
        self._max_message_bytes = max_message_bytes
        self._stubs: dict[str, policy_pb2_grpc.PolicyServiceStub] = {}
        self._channels: list[grpc.aio.Channel] = []

    def stub(self, target: str) -> policy_pb2_grpc.PolicyServiceStub:
        if target not in self._stubs:
            # The channel itself does not retry: PolicyResponder does, so that each retry is counted and the
            # turn's latency tells. Health checking keeps calls off replicas that are behind or draining.
            try:
                channel = aio_channel(target, max_message_bytes=self._max_message_bytes, retries=1,
                                      health_checked=True)
            except ValueError as error:
                raise InvalidArgument(f"policy target {target!r}: {error}") from None
            self._channels.append(channel)
            self._stubs[target] = policy_pb2_grpc.PolicyServiceStub(channel)
        return self._stubs[target]

    async def close(self) -> None:
        for channel in self._channels:
            await channel.close()
        self._channels.clear()
        self._stubs.clear()


class PolicyResponder:
    """Asks a PolicyService for each turn, again on RETRYABLE statuses within `retry`; any other failure, or retries
    spent, is an infrastructure failure of the episode. Each attempt has its own deadline of `timeout_s`."""

    def __init__(self, stub: policy_pb2_grpc.PolicyServiceStub, name: str,
                 sampling: chat_pb2.SamplingParams, timeout_s: float, *,
                 retry: RetryPolicy = RetryPolicy(), metrics: GameMasterMetrics | None = None,
                 version: int | None = None):
        self._stub, self.name, self._sampling, self._timeout_s = stub, name, sampling, timeout_s
        self._retry, self._metrics, self._version = retry, metrics, version

    async def _generate(self, call: policy_pb2.GenerateRequest, role: str) -> policy_pb2.GenerateResponse:
        started = time.monotonic()
        for attempt in range(self._retry.attempts):
            try:
                response = await self._stub.Generate(call, timeout=self._timeout_s)
            except grpc.aio.AioRpcError as error:
                retry_at = time.monotonic() - started + self._retry.backoff_s(attempt)
                last = attempt + 1 >= self._retry.attempts or retry_at > self._retry.budget_s
                if error.code() not in RETRYABLE or last:
                    raise
                if self._metrics is not None:
                    self._metrics.policy_retries.labels(role=role).inc()
                await asyncio.sleep(self._retry.backoff_s(attempt))
                continue
            if attempt and self._metrics is not None:
                self._metrics.retried_turn_latency.observe(time.monotonic() - started)
            return response
        raise AssertionError("unreachable: the last attempt returns or raises")

    async def respond(self, request: Request) -> Reply:
        call = policy_pb2.GenerateRequest(
            messages=[chat_pb2.ChatMessage(role=m["role"], content=m["content"]) for m in request.messages],
            sampling=self._sampling,
            request_id=f"{request.episode_id}/{request.turn_index}",
        )
        if self._version is not None:
            call.policy_version = self._version
        started = time.perf_counter()
        try:
            response = await self._generate(call, request.role)
        except grpc.aio.AioRpcError as error:
            if error.code() == grpc.StatusCode.OUT_OF_RANGE:
                # The conversation outgrew the model's context window: the player cannot go on.
                raise ContextExceeded(f"policy {self.name} for {request.role}: {error.details()}") from None
            reason = (f"did not answer within the deadline of {self._timeout_s:.1f} s"
                      if error.code() == grpc.StatusCode.DEADLINE_EXCEEDED else error.details())
            raise ReplyError(f"policy {self.name} failed for {request.role}: {error.code().name}: {reason}") from None
        if response is None:
            # grpc.aio hands back None when the response bytes do not decode (e.g. text not valid UTF-8).
            raise ReplyError(f"policy {self.name} sent an undecodable reply for {request.role} "
                             f"(INTERNAL: malformed message or text that is not UTF-8)")
        generation = chat_pb2.Generation(
            prompt_token_ids=response.prompt_token_ids,
            completion_token_ids=response.completion_token_ids,
            completion_logprobs=response.completion_logprobs,
            finish_reason=response.finish_reason,
            policy_version=response.policy_version,
            policy=self.name,
            latency_s=time.perf_counter() - started,
        )
        return Reply(response.text, generation=generation)
