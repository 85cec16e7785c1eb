"""The PolicyService over any Backend: input validation, status, metrics. Engines live in backends."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from pathlib import Path

import structlog

from playpen.common.v1 import chat_pb2
from playpen.policy.v1 import policy_pb2, policy_pb2_grpc
from playpen_common.bounds import quoted
from playpen_common.checkpoints import confine
from playpen_common.errors import InvalidArgument, NotReady
from playpen_policy.backend import Backend
from playpen_policy.metrics import PolicyMetrics

log = structlog.get_logger("playpen.policy")
ROLES = frozenset({"system", "user", "assistant"})


def validate_generate(request: policy_pb2.GenerateRequest, max_prompt_chars: int) -> None:
    if not request.messages:
        raise InvalidArgument("messages must not be empty")
    total = 0
    for index, message in enumerate(request.messages):
        if message.role not in ROLES:
            raise InvalidArgument(f"message #{index} has role {quoted(message.role)}; use system, user or assistant")
        total += len(message.content)
    if total > max_prompt_chars:
        raise InvalidArgument(f"prompt has {total} characters, more than the limit of {max_prompt_chars}")
    sampling = request.sampling
    if sampling.HasField("temperature") and not sampling.temperature >= 0:
        raise InvalidArgument("temperature must be >= 0")
    if sampling.HasField("top_p") and not 0 < sampling.top_p <= 1:
        raise InvalidArgument("top_p must be in (0, 1]")
    if sampling.HasField("max_tokens") and sampling.max_tokens <= 0:
        raise InvalidArgument("max_tokens must be positive")
    if sampling.HasField("top_k") and sampling.top_k < -1:
        raise InvalidArgument("top_k must be -1, 0 (both disable it) or positive")
    if request.HasField("policy_version") and request.policy_version < 0:
        raise InvalidArgument("policy_version must be >= 0 (0 is the base model)")


class PolicyServicer(policy_pb2_grpc.PolicyServiceServicer):
    def __init__(self, backend: Backend, metrics: PolicyMetrics, *, max_prompt_chars: int,
                 checkpoint_roots: Sequence[Path] = ()):
        self._backend = backend
        self._roots = list(checkpoint_roots)
        self._metrics = metrics
        self._max_prompt_chars = max_prompt_chars
        self._running = 0
        self._state = policy_pb2.SERVING_STATE_STARTING
        self._load_lock = asyncio.Lock()

    def ready(self) -> None:
        self._state = policy_pb2.SERVING_STATE_READY
        self._metrics.version.set(self._backend.version)
        self._metrics.queued.set_function(lambda: getattr(self._backend, "queued", 0))

    def drain(self) -> None:
        """SIGTERM: calls in flight finish; one that still arrives gets UNAVAILABLE, which callers retry elsewhere."""
        self._state = policy_pb2.SERVING_STATE_DRAINING

    async def Generate(self, request, context):
        if self._state == policy_pb2.SERVING_STATE_STARTING:
            raise NotReady("the model is still loading")
        if self._state == policy_pb2.SERVING_STATE_DRAINING:
            raise NotReady("this replica is draining")
        validate_generate(request, self._max_prompt_chars)
        started = time.perf_counter()
        self._running += 1
        self._metrics.running.set(self._running)
        try:
            pinned = request.policy_version if request.HasField("policy_version") else None
            output = await self._backend.generate(list(request.messages), request.sampling, pinned)
        except Exception:
            self._metrics.requests.labels(outcome="error").inc()
            raise
        finally:
            self._running -= 1
            self._metrics.running.set(self._running)
        total = time.perf_counter() - started
        self._metrics.requests.labels(outcome="ok").inc()
        self._metrics.tokens.inc(len(output.completion_token_ids))
        self._metrics.first_token.observe(output.first_token_s or total)
        self._metrics.progressed()
        return policy_pb2.GenerateResponse(
            text=output.text, prompt_token_ids=output.prompt_token_ids,
            completion_token_ids=output.completion_token_ids, completion_logprobs=output.completion_logprobs,
            finish_reason=output.finish_reason or chat_pb2.FINISH_REASON_STOP,
            policy_version=output.policy_version, model=self._backend.model,
            timings=policy_pb2.Timings(queue_s=output.queue_s, first_token_s=output.first_token_s, total_s=total),
        )

    async def load(self, checkpoint) -> float:
        """Verify and swap in a checkpoint (LoadWeights, and the follower); returns the seconds it took.

        A checkpoint outside the checkpoint roots (symlinks resolved) is refused before any file is opened."""
        await asyncio.to_thread(confine, checkpoint, self._roots)
        started = time.perf_counter()
        async with self._load_lock:
            previous, self._state = self._state, policy_pb2.SERVING_STATE_RELOADING
            try:
                await self._backend.load(checkpoint)
            finally:
                if self._state == policy_pb2.SERVING_STATE_RELOADING:  # not draining meanwhile
                    self._state = previous
        seconds = time.perf_counter() - started
        self._metrics.reload.observe(seconds)
        self._metrics.version.set(self._backend.version)
        log.info("weights loaded", policy_version=self._backend.version, seconds=round(seconds, 3))
        return seconds

    async def LoadWeights(self, request, context):
        if not request.HasField("checkpoint"):
            raise InvalidArgument("LoadWeights needs a checkpoint reference")
        seconds = await self.load(request.checkpoint)
        return policy_pb2.LoadWeightsResponse(policy_version=self._backend.version, load_s=seconds)

    async def GetStatus(self, request, context):
        return policy_pb2.GetStatusResponse(
            model=self._backend.model, policy_version=self._backend.version, kind=self._backend.kind,
            state=self._state, running_requests=self._running, backend=self._backend.name,
            queued_requests=getattr(self._backend, "queued", 0), held_versions=self._backend.versions.held())
