"""How Guess What? replies are read: the tags, the question format, forbidden questions, guesses, answers.

Everything is configured by the experiment (clembench keeps it there too): `question_tag`, `guess_tag`,
`answer_variations` and up to five forbidden-question patterns. The patterns are applied, as in clembench,
to the lowercased question with the tag removed, compiled without any flags (clembench passes
`re.IGNORECASE` to `str.format` instead of `re.compile`, so it never takes effect). `direct_guess_pattern`
and `pos_question_pattern` must match at the start of the question, the other three anywhere in it. An
experiment may leave a pattern out; our own instances omit `direct_guess_pattern`, because clembench's (with
a control character where a back-reference was meant) never matches, and we play by the same effective rules.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

#: (experiment key, applied with match (True) or search (False), what the rule forbids)
PATTERN_RULES = (
    ("letter_based_pattern", False, "asking about specific letters or their positions"),
    ("direct_guess_pattern", True, "guessing without the guess tag"),
    ("length_question_pattern", False, "asking about the length of the target word"),
    ("syllable_question_pattern", False, "asking about the number of syllables"),
    ("pos_question_pattern", True, "asking about the part of speech of the target word"),
)
_PUNCTUATION = str.maketrans("", "", string.punctuation)


class FormatProblem(Exception):
    """A reply that does not follow the protocol; the message says why."""


@dataclass(frozen=True)
class Question:
    text: str  # the whole reply, passed on to the Answerer unchanged


@dataclass(frozen=True)
class Guess:
    word: str  # lowercased, punctuation removed


@dataclass(frozen=True)
class ForbiddenRule:
    pattern: re.Pattern[str]
    anchored: bool
    forbids: str

    def applies(self, question: str) -> bool:
        found = self.pattern.match(question) if self.anchored else self.pattern.search(question)
        return found is not None


@dataclass(frozen=True)
class Protocol:
    question_tag: str
    guess_tag: str
    answer_variations: tuple[str, ...]
    forbidden: tuple[ForbiddenRule, ...]

    @classmethod
    def from_experiment(cls, experiment: Mapping[str, Any]) -> Protocol:
        question_tag, guess_tag = experiment["question_tag"], experiment["guess_tag"]
        variations = experiment["answer_variations"]
        if not all(isinstance(tag, str) and tag for tag in (question_tag, guess_tag)):
            raise ValueError("question_tag and guess_tag must be non-empty strings")
        if not isinstance(variations, list) or not variations or not all(isinstance(v, str) for v in variations):
            raise ValueError("answer_variations must be a non-empty list of strings")
        rules = []
        for key, anchored, forbids in PATTERN_RULES:
            source = experiment.get(key)
            if source is None:
                continue
            try:
                rules.append(ForbiddenRule(re.compile(str(source)), anchored, forbids))
            except re.error as exc:
                raise ValueError(f"{key} is not a valid regular expression: {exc}") from exc
        return cls(question_tag, guess_tag, tuple(variations), tuple(rules))

    def read_guesser(self, reply: str) -> Question | Guess:
        """A question or a guess; FormatProblem if the reply is neither, or a malformed one."""
        if reply.startswith(self.question_tag):
            question = reply[len(self.question_tag):].strip()
            if reply.count(self.question_tag) > 1:
                raise FormatProblem(f"only one {self.question_tag!r} per turn")
            _, mark, after = question.partition("?")
            if mark and (after.strip() or "?" in after):
                raise FormatProblem("a question must end at its (single) question mark")
            return Question(reply)
        if reply.startswith(self.guess_tag):
            word = reply[len(self.guess_tag):].strip().lower().translate(_PUNCTUATION)
            if len(word.split()) > 1:
                raise FormatProblem("a guess must be a single word")
            return Guess(word)
        raise FormatProblem(f"the reply must start with {self.question_tag!r} or {self.guess_tag!r}")

    def forbidden_reasons(self, question: Question) -> list[str]:
        """What the question asks that the rules forbid (empty if it is allowed)."""
        text = question.text.replace(self.question_tag, "").strip().lower()
        return [rule.forbids for rule in self.forbidden if rule.applies(text)]

    def read_answer(self, reply: str) -> str:
        if reply not in self.answer_variations:
            raise FormatProblem(f"the answer must be exactly one of {list(self.answer_variations)}")
        return reply
