"""What the policy service needs from an engine: generate, load weights, close."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from playpen.common.v1 import chat_pb2, checkpoint_pb2
from playpen_policy.versions import VersionSet


@dataclass
class GenerationOutput:
    text: str
    prompt_token_ids: list[int]
    completion_token_ids: list[int]
    completion_logprobs: list[float]
    finish_reason: int
    policy_version: int
    queue_s: float = 0.0
    first_token_s: float = 0.0
    extra: dict = field(default_factory=dict)


class Backend(Protocol):
    name: str
    model: str
    kind: int
    versions: VersionSet

    @property
    def version(self) -> int: ...

    async def start(self) -> None: ...

    async def generate(self, messages: list[chat_pb2.ChatMessage], sampling: chat_pb2.SamplingParams,
                       version: int | None = None) -> GenerationOutput:
        """`version` pins the weights (None: the current ones); one not held is loaded or refused."""
        ...

    async def load(self, checkpoint: checkpoint_pb2.CheckpointRef) -> None: ...

    async def close(self) -> None: ...
