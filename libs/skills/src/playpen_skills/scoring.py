"""The statscore: % of prompts whose every constraint the reply followed (strict), with a 95% Wilson interval,
and per constraint kind the share of constraints followed (loose)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from playpen_skills.suite import Prompt

Z95 = 1.959963984540054  # two-sided 95% normal quantile


def wilson(successes: int, trials: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion, as fractions in [0, 1]; (nan, nan) without trials."""
    if trials < 0 or not 0 <= successes <= trials:
        raise ValueError(f"need 0 ≤ successes ≤ trials, got {successes} of {trials}")
    if trials == 0:
        return math.nan, math.nan
    p = successes / trials
    denominator = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass
class KindCount:
    followed: int = 0
    checked: int = 0


@dataclass
class SkillScore:
    prompts: int
    followed: int
    kinds: dict[str, KindCount] = field(default_factory=dict)

    @property
    def statscore(self) -> float:
        """% of prompts followed in full (NaN without prompts)."""
        return 100.0 * self.followed / self.prompts if self.prompts else math.nan

    @property
    def interval(self) -> tuple[float, float]:
        low, high = wilson(self.followed, self.prompts)
        return 100.0 * low, 100.0 * high


def followed(prompt: Prompt, response: str) -> list[bool]:
    return [constraint.check(response) for constraint in prompt.constraints]


def score(prompts: Sequence[Prompt], responses: Sequence[str]) -> SkillScore:
    if len(prompts) != len(responses):
        raise ValueError(f"{len(prompts)} prompts but {len(responses)} responses")
    result = SkillScore(prompts=len(prompts), followed=0)
    for prompt, response in zip(prompts, responses, strict=True):
        checks = followed(prompt, response)
        result.followed += all(checks)
        for constraint, ok in zip(prompt.constraints, checks, strict=True):
            count = result.kinds.setdefault(constraint.kind, KindCount())
            count.checked += 1
            count.followed += ok
    return result
