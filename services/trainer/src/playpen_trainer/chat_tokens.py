"""Chat messages to token ids and loss masks, with the model's own chat template — built here, not by TRL's
assistant-mask heuristics, which need `{% generation %}` markers most templates lack and guess otherwise.

How a target span is found: the conversation is rendered and tokenised once; for the assistant message at
position i, the rendering of messages[:i] with the generation prompt ends exactly where the reply starts, and
the rendering of messages[:i+1] ends after it. Both prefixes are tokenised again and must be token-for-token
prefixes of the whole (a template that renders history differently, or a BPE merge across the boundary, fails
this check and the example is refused, never silently misaligned). The span is cut after the first end-of-turn
token: the model generates up to and including it, while whatever the template adds after it (a newline) is
the next prompt's glue, which the model never generates.

Too long: an example longer than `max_length` is windowed — the leading system messages plus the longest tail
of the conversation that starts at a user message and fits, so every reply kept is whole and still a target;
the replies before the window are lost and counted — or, with overflow "drop", dropped. Nothing is truncated.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from playpen_trainer.dialogues import Dialogue, Message, PreferencePair

IGNORE = -100


class TemplateMismatch(ValueError):
    """The chat template does not render this conversation incrementally; its spans cannot be trusted."""


@dataclass
class Encoded:
    input_ids: list[int]
    labels: list[int]
    #: targets whose rendered prompt differs from the token ids the policy generated them from
    prompt_mismatches: int = 0

    @property
    def target_tokens(self) -> int:
        return sum(label != IGNORE for label in self.labels)


@dataclass
class Fitted:
    """What became of one dialogue: `status` is "ok", "windowed", "too_long", "template_mismatch", "no_targets"."""

    status: str
    encoded: Encoded | None = None
    targets_lost: int = 0


class ChatEncoder:
    def __init__(self, tokenizer: Any, end_of_turn_ids: Iterable[int]):
        self.tokenizer = tokenizer
        self.end_of_turn_ids = set(end_of_turn_ids)

    def ids(self, messages: list[Message], *, generation_prompt: bool) -> list[int]:
        # Rendered, then tokenised without extra special tokens: what apply_chat_template(tokenize=True) and the
        # policy do (the template writes its own BOS where it wants one).
        text = self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=generation_prompt)
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def encode(self, messages: list[Message], targets: Iterable[int],
               policy_prompts: dict[int, list[int]] | None = None) -> Encoded:
        full = self.ids(messages, generation_prompt=False)
        labels = [IGNORE] * len(full)
        mismatches = 0
        for i in sorted(targets):
            if i == 0 or messages[i]["role"] != "assistant":
                raise TemplateMismatch(f"message {i} is not an assistant reply after a prompt")
            before = self.ids(messages[:i], generation_prompt=True)
            after = self.ids(messages[:i + 1], generation_prompt=False)
            if full[:len(before)] != before or full[:len(after)] != after or len(after) <= len(before):
                raise TemplateMismatch(f"the template does not render message {i} as an extension of the prefix")
            end = len(after)
            for k in range(len(before), len(after)):
                if full[k] in self.end_of_turn_ids:
                    end = k + 1
                    break
            labels[len(before):end] = full[len(before):end]
            recorded = (policy_prompts or {}).get(i)
            if recorded and recorded != before:
                mismatches += 1
        # Tokens after the last target only feed positions whose loss is masked: leave them out.
        last = max((k for k, label in enumerate(labels) if label != IGNORE), default=-1)
        return Encoded(full[:last + 1], labels[:last + 1], mismatches)

    def fit(self, dialogue: Dialogue, max_length: int, *, window: bool) -> Fitted:
        """Encode one SFT dialogue within `max_length` tokens, windowing it or dropping it if it is longer."""
        messages, targets = dialogue.messages, dialogue.targets
        if not targets:
            return Fitted("no_targets")
        try:
            encoded = self.encode(messages, targets, dialogue.policy_prompts)
        except TemplateMismatch:
            return Fitted("template_mismatch")
        if len(encoded.input_ids) <= max_length:
            return Fitted("ok", encoded)
        if not window:
            return Fitted("too_long", targets_lost=len(targets))
        head = 0
        while head < len(messages) and messages[head]["role"] == "system":
            head += 1
        head_tokens = len(self.ids(messages[:head], generation_prompt=False)) if head else 0
        for start in range(head + 1, targets[-1]):
            if messages[start]["role"] != "user":
                continue
            # Estimate from the full rendering first (head + the tail's tokens); encode only plausible windows.
            tail_tokens = len(encoded.input_ids) - len(self.ids(messages[:start], generation_prompt=False))
            if head_tokens + tail_tokens > max_length:
                continue
            kept = [t for t in targets if t >= start]
            try:
                windowed = self.encode(messages[:head] + messages[start:], [t - start + head for t in kept])
            except TemplateMismatch:
                return Fitted("template_mismatch")
            if len(windowed.input_ids) <= max_length:
                return Fitted("windowed", windowed, targets_lost=len(targets) - len(kept))
        return Fitted("too_long", targets_lost=len(targets))

    def encode_pair(self, pair: PreferencePair) -> dict[str, list[int]]:
        """Token ids of a preference pair: the shared prompt (ending in the generation prompt) and each side's
        continuation with a mask of its learner-reply tokens (game-master text between replies is context)."""
        prompt_ids = self.ids(pair.prompt, generation_prompt=True)
        row: dict[str, list[int]] = {"prompt_ids": prompt_ids}
        for side, dialogue in (("chosen", pair.chosen), ("rejected", pair.rejected)):
            encoded = self.encode(dialogue.messages, dialogue.targets)
            if encoded.input_ids[:len(prompt_ids)] != prompt_ids:
                raise TemplateMismatch("the prompt does not render as a prefix of the dialogue")
            row[f"{side}_ids"] = encoded.input_ids[len(prompt_ids):]
            row[f"{side}_mask"] = [int(label != IGNORE) for label in encoded.labels[len(prompt_ids):]]
        return row
