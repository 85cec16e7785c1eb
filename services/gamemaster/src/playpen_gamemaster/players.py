"""Responders that produce a role's replies for the runner: remote policy servers over gRPC.

A policy target may name several replicas (a list, or a headless Service's DNS name): the channel balances
turns over the replicas whose health says SERVING — so none that is still catching up with its checkpoint
source, and none that drains — and a turn whose replica died or drained under it (UNAVAILABLE or CANCELLED: no
reply was produced, so asking again is safe) is asked again, on another replica, within a bounded number of attempts and
seconds. Every other failure ends the episode as an infrastructure failure, as before.
"""

from __future__ import annotations

import asyncio
import fnmatch
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import grpc
import structlog

from playpen.common.v1 import chat_pb2
from playpen.policy.v1 import policy_pb2, policy_pb2_grpc
from playpen_common.client import SCHEMES, aio_channel
from playpen_common.errors import InvalidArgument, ResourceExhausted
from playpen_common.tls import ClientTls
from playpen_gamemaster.bounds import quoted
from playpen_gamemaster.metrics import GameMasterMetrics
from playpen_games.engine.runner import ContextExceeded, Reply, ReplyError, Request

log = structlog.get_logger("playpen.gamemaster.players")

# Generate has no side effects, so asking again is safe whenever no reply came: UNAVAILABLE (the replica died, is
# unreachable or refuses as it drains) and CANCELLED, which the game master never causes itself (a cancelled episode
# ends its task with CancelledError instead) — it is a stopping server dropping a call it had not started.
RETRYABLE = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED})
#: addresses one policy target may list
MAX_REPLICAS_PER_TARGET = 64


@dataclass(frozen=True)
class RetryPolicy:
    """How often, and for how long, one turn is asked again after a RETRYABLE status."""

    attempts: int = 4
    budget_s: float = 60.0
    first_backoff_s: float = 0.05
    max_backoff_s: float = 1.0

    def backoff_s(self, retry: int) -> float:
        return min(self.first_backoff_s * 2 ** retry, self.max_backoff_s)


def target_names(target: str) -> list[str]:
    """The `host:port` names a policy target is written with, lower-cased, without resolving anything: a list
    `h:p,h:p`, `dns:[//authority]/name:port`, `ipv4:`/`ipv6:` address lists; any other scheme as written."""
    target = target.strip().lower()
    if target.startswith("dns:"):
        name = target.removeprefix("dns:").lstrip("/")
        return [name.split("/", 1)[1] if "/" in name else name]
    for scheme in ("ipv4:", "ipv6:"):
        if target.startswith(scheme):
            return [entry.strip() for entry in target[len(scheme):].split(",") if entry.strip()]
    if ":" in target.split(",")[0] and target.split(":", 1)[0] in {s.rstrip(":") for s in SCHEMES}:
        return [target]
    return [entry.strip() for entry in target.split(",") if entry.strip()]


class PolicyAllowList:
    """Which policy targets the game master may dial: every name a target is written with must match one of the
    glob patterns (`*` any characters, case-insensitive), checked before anything is resolved or connected.
    A refusal says which setting refused, never what the network would have answered."""

    def __init__(self, patterns: Sequence[str]):
        self._patterns = [pattern.strip().lower() for pattern in patterns if pattern.strip()]

    def check(self, target: str) -> None:
        names = target_names(target)
        if not names or len(names) > MAX_REPLICAS_PER_TARGET:
            raise InvalidArgument(f"policy target {quoted(target)} must name 1 to {MAX_REPLICAS_PER_TARGET} "
                                  f"addresses")
        for name in names:
            host, colon, port = name.rpartition(":")
            if not name.startswith(SCHEMES) and (not colon or not host or not port.isdigit()):
                raise InvalidArgument(f"policy target {quoted(name)} is not host:port")
            if not any(fnmatch.fnmatchcase(name, pattern) for pattern in self._patterns):
                raise InvalidArgument(f"policy target {quoted(name)} is not allowed by this game master "
                                      f"(its allowed_policies setting)")


@dataclass
class _Entry:
    channel: grpc.aio.Channel
    stub: policy_pb2_grpc.PolicyServiceStub
    users: int = 0
    last_used: float = field(default_factory=time.monotonic)


class ChannelPool:
    """One channel per policy target, shared by every episode that talks to it; at most `max_channels`.

    Calls lease the channels they use (`lease`) and give them back when they end. A channel nobody leases is
    closed once it has been idle for `idle_s`, and the least recently used idle one makes room for a new target;
    when every channel is in use, a call that needs another target is refused (RESOURCE_EXHAUSTED)."""

    def __init__(self, max_message_bytes: int, *, allowed: PolicyAllowList | None = None, max_channels: int = 64,
                 idle_s: float = 300.0, metrics: GameMasterMetrics | None = None, tls: ClientTls | None = None):
        self._max_message_bytes = max_message_bytes
        self._tls = tls
        self._metrics = metrics
        self._allowed = allowed or PolicyAllowList(["*"])
        self._max_channels, self._idle_s = max_channels, idle_s
        self._entries: dict[str, _Entry] = {}
        self._closing: set[asyncio.Task] = set()

    @property
    def open_channels(self) -> int:
        return len(self._entries)

    def lease(self) -> ChannelLease:
        self._close_idle(time.monotonic())
        return ChannelLease(self)

    def _acquire(self, target: str) -> _Entry:
        self._allowed.check(target)
        entry = self._entries.get(target)
        if entry is None:
            if len(self._entries) >= self._max_channels:
                idle = [(e.last_used, key) for key, e in self._entries.items() if e.users == 0]
                if not idle:
                    raise ResourceExhausted(f"{self._max_channels} policy targets are in use; try again later")
                self._drop(min(idle)[1])
            # The channel itself does not retry: PolicyResponder does, so that each retry is counted and the
            # turn's latency tells. Health checking keeps calls off replicas that are behind or draining.
            try:
                channel = aio_channel(target, max_message_bytes=self._max_message_bytes, retries=1,
                                      health_checked=True, idle_timeout_s=self._idle_s, tls=self._tls)
            except ValueError:
                raise InvalidArgument(f"policy target {quoted(target)} is not a usable address") from None
            entry = _Entry(channel, policy_pb2_grpc.PolicyServiceStub(channel))
            self._entries[target] = entry
            self._count()
        entry.users += 1
        return entry

    def _release(self, target: str) -> None:
        entry = self._entries.get(target)
        if entry is not None:
            entry.users -= 1
            entry.last_used = time.monotonic()

    def _close_idle(self, now: float) -> None:
        for key in [k for k, e in self._entries.items() if e.users == 0 and now - e.last_used >= self._idle_s]:
            self._drop(key)

    def _drop(self, target: str) -> None:
        entry = self._entries.pop(target)
        self._count()
        task = asyncio.get_running_loop().create_task(entry.channel.close())
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    def _count(self) -> None:
        if self._metrics is not None:
            self._metrics.policy_channels.set(len(self._entries))

    async def close(self) -> None:
        for key in list(self._entries):
            self._drop(key)
        await asyncio.gather(*self._closing, return_exceptions=True)


class ChannelLease:
    """The channels one PlayEpisodes call uses, held until the call ends (`release`)."""

    def __init__(self, pool: ChannelPool):
        self._pool = pool
        self._held: dict[str, policy_pb2_grpc.PolicyServiceStub] = {}

    def stub(self, target: str) -> policy_pb2_grpc.PolicyServiceStub:
        if target not in self._held:
            self._held[target] = self._pool._acquire(target).stub
        return self._held[target]

    def release(self) -> None:
        for target in self._held:
            self._pool._release(target)
        self._held.clear()


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
            if error.code() == grpc.StatusCode.DEADLINE_EXCEEDED:
                reason = f"did not answer within the deadline of {self._timeout_s:.1f} s"
            elif error.code() in RETRYABLE:
                # The transport's own words name addresses and socket errors: kept in our log, not in the episode.
                log.info("policy unreachable", policy=self.name, detail=(error.details() or "")[:300])
                reason = "no replica could be reached"
            else:
                reason = (error.details() or "")[:300]
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
