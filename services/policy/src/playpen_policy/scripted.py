"""A scripted policy: the PolicyService contract without a model, for tests and for playing games
before a real model is set up.

A script is JSON: {"rules": [{"first": <regex>, "when": <regex>, "reply": <text> | "replies": [<text>, ...],
"delay_s": <seconds>, "versions": [<int>, ...]}], "default": <text>}. Each request is answered by the first
rule whose `first` regex matches the conversation's first user message (which says what game and role this
is) and whose `when` regex matches the last one (Python `re.search`, DOTALL; a missing regex matches
anything). A rule with `versions` applies only while one of those weight versions is loaded, so that
checkpoints can play differently (evaluation and promotion tests). `replies` cycle per rule. `delay_s` makes a
slow policy (for deadline tests). Versions behave as on a real engine (versions.py): a LoRA checkpoint becomes
an adapter over the current full weights, and a request may pin any version held, or one found under the
checkpoint roots (verified first). Token ids are the UTF-8 bytes of the rendered prompt and of the reply, each
with logprob 0.0 — the reply was certain — so the trainer-facing fields are well-formed.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from playpen.common.v1 import chat_pb2, checkpoint_pb2
from playpen_common.checkpoints import verify_checkpoint
from playpen_common.errors import InvalidArgument
from playpen_policy.backend import GenerationOutput
from playpen_policy.versions import VersionSet


@dataclass
class Rule:
    first: re.Pattern[str]
    last: re.Pattern[str]
    replies: itertools.cycle
    delay_s: float
    versions: frozenset[int] | None = None

    def matches(self, first_user: str, last_user: str, version: int = 0) -> bool:
        if self.versions is not None and version not in self.versions:
            return False
        return bool(self.first.search(first_user) and self.last.search(last_user))


def load_script(source: str | Path | dict[str, Any]) -> tuple[list[Rule], str]:
    data = source if isinstance(source, dict) else json.loads(Path(source).read_text(encoding="utf-8"))
    rules = []
    for index, rule in enumerate(data.get("rules", [])):
        replies = rule.get("replies") or [rule.get("reply", "")]
        if not all(isinstance(r, str) for r in replies):
            raise ValueError(f"script rule #{index}: replies must be text")
        versions = rule.get("versions")
        if versions is not None and not all(isinstance(v, int) for v in versions):
            raise ValueError(f"script rule #{index}: versions must be integers")
        rules.append(Rule(re.compile(rule.get("first", ""), re.DOTALL), re.compile(rule.get("when", ""), re.DOTALL),
                          itertools.cycle(replies), float(rule.get("delay_s", 0.0)),
                          None if versions is None else frozenset(versions)))
    return rules, str(data.get("default", ""))


def render_prompt(messages: list[chat_pb2.ChatMessage]) -> str:
    return "".join(f"<{m.role}>\n{m.content}\n" for m in messages) + "<assistant>\n"


class ScriptedBackend:
    name = "scripted"

    def __init__(self, script: str | Path | dict[str, Any], model: str = "scripted", *, max_adapters: int = 4,
                 roots: Iterable[Path] = ()):
        self.model = model
        self.kind = checkpoint_pb2.CHECKPOINT_KIND_UNSPECIFIED
        self.versions = VersionSet(max_adapters, roots)
        self._rules, self._default = load_script(script)
        self._pin_lock = asyncio.Lock()

    @property
    def version(self) -> int:
        return self.versions.current

    async def start(self) -> None:
        return None

    async def generate(self, messages: list[chat_pb2.ChatMessage], sampling: chat_pb2.SamplingParams,
                       version: int | None = None) -> GenerationOutput:
        if not messages:
            raise InvalidArgument("a generation needs at least one message")
        while True:  # the version that produces the whole reply, fixed at the start
            wanted = self.versions.current if version is None else version
            if self.versions.lookup(wanted)[0]:
                break
            await self._pin(wanted)
        self.versions.acquire(wanted)
        try:
            return await self._reply(messages, sampling, wanted)
        finally:
            self.versions.release(wanted)

    async def _pin(self, version: int) -> None:
        """Load a pinned adapter that is not held, from the checkpoint roots, verified as LoadWeights does."""
        async with self._pin_lock:
            if self.versions.lookup(version)[0]:
                return  # loaded by a request that waited less
            ref = await asyncio.to_thread(self.versions.locate, version)
            await asyncio.to_thread(verify_checkpoint, ref)
            self.versions.add_adapter(version, None, current=False)

    async def _reply(self, messages: list[chat_pb2.ChatMessage], sampling: chat_pb2.SamplingParams,
                     version: int) -> GenerationOutput:
        users = [m.content for m in messages if m.role == "user"] or [""]
        text, delay = self._default, 0.0
        for rule in self._rules:
            if rule.matches(users[0], users[-1], version):
                text, delay = next(rule.replies), rule.delay_s
                break
        if delay:
            await asyncio.sleep(delay)
        finish = chat_pb2.FINISH_REASON_STOP
        if sampling.HasField("max_tokens"):
            limited = text.encode("utf-8")[: sampling.max_tokens].decode("utf-8", errors="ignore")
            if limited != text:
                text, finish = limited, chat_pb2.FINISH_REASON_LENGTH
        for stop in sampling.stop:
            if stop and stop in text:
                text, finish = text[: text.index(stop)], chat_pb2.FINISH_REASON_STOP
        completion = list(text.encode("utf-8"))
        return GenerationOutput(text=text, prompt_token_ids=list(render_prompt(messages).encode("utf-8")),
                                completion_token_ids=completion, completion_logprobs=[0.0] * len(completion),
                                finish_reason=finish, policy_version=version)

    async def load(self, checkpoint: checkpoint_pb2.CheckpointRef) -> None:
        verify_checkpoint(checkpoint)
        if checkpoint.kind == checkpoint_pb2.CHECKPOINT_KIND_LORA:
            self.versions.add_adapter(checkpoint.version, None, current=True)
        else:
            self.versions.set_base(checkpoint.version)
        self.kind = checkpoint.kind

    async def close(self) -> None:
        return None
