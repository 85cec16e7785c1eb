"""Skill retention (statscore): after the games, the evaluated checkpoint answers the first N prompts of the
skill suite (playpen_skills), each as a single-turn chat at temperature 0, and every reply is checked.

statscore = % of prompts whose every constraint the reply followed, with a 95% Wilson interval (a closed form,
so a stored result needs no resampling seed); per constraint kind, the share of its constraints followed. It is
reported beside the clemscore and never decides a promotion: the promotion rule stays the seen games' clemscore.
Replies must come from the evaluated version, as in the games.

The skill settings are not part of a result's protocol (games.py): changing them does not start a new
promotion history or re-evaluate stored versions. A stored result keeps the suite name and the prompt count it
was scored with, and the report compares two statscores only when both are equal.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from playpen.common.v1 import chat_pb2
from playpen.evaluator.v1 import evaluator_pb2
from playpen.policy.v1 import policy_pb2, policy_pb2_grpc
from playpen_common.errors import FailedPrecondition
from playpen_evaluator.settings import EvaluatorSettings
from playpen_skills import Prompt, load, score


@dataclass(frozen=True)
class SkillSuite:
    name: str
    prompts: tuple[Prompt, ...]
    max_tokens: int
    concurrency: int
    timeout_s: float

    @classmethod
    def from_settings(cls, settings: EvaluatorSettings) -> SkillSuite | None:
        """The configured subset (None with skills off); ValueError for a bad suite file or too many prompts."""
        if not settings.skills:
            return None
        name, prompts = load(settings.skill_suite)
        if settings.skill_prompts > len(prompts):
            raise ValueError(f"skill_prompts is {settings.skill_prompts} but the suite {name} has only "
                             f"{len(prompts)} prompts")
        return cls(name, tuple(prompts[: settings.skill_prompts]), settings.skill_max_tokens, settings.concurrency,
                   settings.skill_timeout_s)

    async def evaluate(self, policy: policy_pb2_grpc.PolicyServiceStub, version: int, *,
                       pin: bool = False) -> evaluator_pb2.SkillScore:
        """Ask every prompt (at most `concurrency` at once) and score the replies; gRPC errors propagate. `pin`:
        each request names the version (a policy shared with the rollouts answers with that version)."""
        slots = asyncio.Semaphore(self.concurrency)

        async def ask(prompt: Prompt) -> str:
            request = policy_pb2.GenerateRequest(
                messages=[chat_pb2.ChatMessage(role="user", content=prompt.text)],
                sampling=chat_pb2.SamplingParams(temperature=0.0, max_tokens=self.max_tokens),
                request_id=f"skills-v{version}-{prompt.id}")
            if pin:
                request.policy_version = version
            async with slots:
                reply = await policy.Generate(request, timeout=self.timeout_s)
            if reply.policy_version != version:
                raise FailedPrecondition(
                    f"skill prompt {prompt.id} was answered by version {reply.policy_version}, not {version}: "
                    "something else loaded weights into the eval policy during the evaluation")
            return reply.text

        replies = await asyncio.gather(*(ask(prompt) for prompt in self.prompts))
        return skill_message(self.name, self.prompts, replies)


def skill_message(suite: str, prompts: Sequence[Prompt], replies: Sequence[str]) -> evaluator_pb2.SkillScore:
    scored = score(prompts, replies)
    low, high = scored.interval
    message = evaluator_pb2.SkillScore(suite=suite, prompts=scored.prompts, followed=scored.followed,
                                       statscore=scored.statscore, ci_low=low, ci_high=high)
    for kind, count in sorted(scored.kinds.items()):
        message.constraints.add(kind=kind, followed=count.followed, checked=count.checked)
    return message
