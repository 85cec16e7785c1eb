"""Referencegame's reply formats and the instance fields that define them, for every instance version.

Since clembench v1.6 an instance carries its own reply patterns (one per language), the parsing mode of
each player and the follower's accepted labels (`["second", "2"]`). The patterns have named groups: `tag`
(the keyword, e.g. `Expression:`), `response` (the expression, or the label), and `remainder` (everything
after the first line and the line breaks that follow it). In `strict` mode the remainder must be empty; in
`liberal` mode anything may follow. Patterns are applied from the start of the reply, ignoring case.

Instances of v0.9 and v1.0 have none of these fields and name the target with a bare string (`"second"`).
They are read with the English defaults below, in strict mode, and accept the label's digit as well, so
that they are played by the same rules as the current instances.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

STRICT, LIBERAL = "strict", "liberal"
GIVER_TAG = "expression:"
FOLLOWER_TAG = "answer:"
ENGLISH_LABELS = ("first", "second", "third")
# `[^\n]` is what `.` matches without DOTALL; `[\s\S]` is any character, line breaks included.
GIVER_PATTERN = r"^(?P<tag>expression:\s*)(?P<content>(?P<response>[^\n]+)\n*(?P<remainder>[\s\S]*))"
FOLLOWER_PATTERN = (r"^(?P<tag>answer:\s*)(?P<content>(?P<response>first|second|third|1|2|3)[^\n]*\n*"
                    r"(?P<remainder>[\s\S]*))")
REQUIRED_GROUPS = frozenset({"response", "remainder"})


class FormatProblem(Exception):
    """A reply that its pattern (in its mode) does not accept; the message says why."""


@dataclass(frozen=True)
class ReplyFormat:
    """One player's reply pattern and parsing mode."""

    pattern: re.Pattern[str]
    mode: str
    what: str  # "expression" or "answer", for messages

    @classmethod
    def build(cls, source: Any, mode: Any, what: str) -> ReplyFormat:
        if not isinstance(source, str) or not source:
            raise ValueError(f"the {what} pattern must be a non-empty string")
        if mode not in (STRICT, LIBERAL):
            raise ValueError(f"the {what} parsing mode must be {STRICT!r} or {LIBERAL!r}, not {mode!r}")
        try:
            pattern = re.compile(source, re.IGNORECASE)
        except re.error as exc:
            raise ValueError(f"the {what} pattern is not a valid regular expression: {exc}") from exc
        missing = REQUIRED_GROUPS - set(pattern.groupindex)
        if missing:
            raise ValueError(f"the {what} pattern lacks the group(s) {', '.join(sorted(missing))}")
        return cls(pattern, mode, what)

    def read(self, reply: str) -> str:
        """The `response` group of an accepted reply; FormatProblem otherwise."""
        match = self.pattern.match(reply)
        if match is None:
            raise FormatProblem(f"the {self.what} does not match the expected format "
                                f"(it must start with the tag, e.g. {_tag_hint(self.pattern.pattern)!r})")
        if self.mode == STRICT and match.group("remainder") != "":
            raise FormatProblem(f"strict mode: nothing may follow the first line of the {self.what}, "
                                f"but {_clip(match.group('remainder'))!r} does")
        return match.group("response")


def _tag_hint(source: str) -> str:
    found = re.search(r"\(\?P<tag>\^?([^\\(]*)", source)
    return found.group(1) if found else source[:20]


def _clip(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


def target_labels(value: Any) -> tuple[str, ...]:
    """The follower labels that name the target: a list since v1.6, a bare English word before."""
    if isinstance(value, str):
        if value.lower() in ENGLISH_LABELS:
            return value.lower(), str(ENGLISH_LABELS.index(value.lower()) + 1)
        return (value,)
    if isinstance(value, list) and value and all(isinstance(label, str) for label in value):
        return tuple(value)
    raise ValueError(f"target_grid_name must be a label or a list of labels, not {value!r}")


@dataclass(frozen=True)
class Rules:
    """Everything an instance says about how replies are read and judged."""

    giver: ReplyFormat
    follower: ReplyFormat
    labels: tuple[str, ...]
    giver_prompt: str
    follower_prompt: str
    lang: str

    @classmethod
    def from_instance(cls, instance: Mapping[str, Any]) -> Rules:
        giver_prompt = instance["player_1_prompt_header"]
        follower_prompt = instance["player_2_prompt_header"]
        if not isinstance(giver_prompt, str) or not isinstance(follower_prompt, str):
            raise ValueError("the prompt headers must be strings")
        return cls(
            giver=ReplyFormat.build(instance.get("player_1_response_pattern", GIVER_PATTERN),
                                    instance.get("p1_mode", STRICT), "expression"),
            follower=ReplyFormat.build(instance.get("player_2_response_pattern", FOLLOWER_PATTERN),
                                       instance.get("p2_mode", STRICT), "answer"),
            labels=target_labels(instance["target_grid_name"]),
            giver_prompt=giver_prompt,
            follower_prompt=follower_prompt,
            lang=str(instance.get("lang", "en")),
        )
