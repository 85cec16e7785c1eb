"""Responders that produce a role's replies for the runner: remote policy servers over gRPC."""

from __future__ import annotations

import time

import grpc

from playpen.common.v1 import chat_pb2
from playpen.policy.v1 import policy_pb2, policy_pb2_grpc
from playpen_common.client import aio_channel
from playpen_games.engine.runner import ContextExceeded, Reply, ReplyError, Request


class ChannelPool:
    """One channel per policy target, shared by every episode that talks to it."""

    def __init__(self, max_message_bytes: int):
        self._max_message_bytes = max_message_bytes
        self._stubs: dict[str, policy_pb2_grpc.PolicyServiceStub] = {}
        self._channels: list[grpc.aio.Channel] = []

    def stub(self, target: str) -> policy_pb2_grpc.PolicyServiceStub:
        if target not in self._stubs:
            channel = aio_channel(target, max_message_bytes=self._max_message_bytes)
            self._channels.append(channel)
            self._stubs[target] = policy_pb2_grpc.PolicyServiceStub(channel)
        return self._stubs[target]

    async def close(self) -> None:
        for channel in self._channels:
            await channel.close()
        self._channels.clear()
        self._stubs.clear()


class PolicyResponder:
    """Asks a PolicyService for each turn. Any failure is an infrastructure failure of the episode."""

    def __init__(self, stub: policy_pb2_grpc.PolicyServiceStub, name: str,
                 sampling: chat_pb2.SamplingParams, timeout_s: float):
        self._stub, self.name, self._sampling, self._timeout_s = stub, name, sampling, timeout_s

    async def respond(self, request: Request) -> Reply:
        call = policy_pb2.GenerateRequest(
            messages=[chat_pb2.ChatMessage(role=m["role"], content=m["content"]) for m in request.messages],
            sampling=self._sampling,
            request_id=f"{request.episode_id}/{request.turn_index}",
        )
        started = time.perf_counter()
        try:
            response = await self._stub.Generate(call, timeout=self._timeout_s)
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
