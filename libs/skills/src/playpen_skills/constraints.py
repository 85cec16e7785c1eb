"""The constraint kinds of the suite: each has its parameters, the sentence that asks for it, and its checker.

A checker reads the reply by the rules of `text` (words, sentences, paragraphs, bullets, code fences) and never
raises: a reply it cannot read (e.g. invalid JSON) fails the constraint. Kinds that cannot be asked together
(e.g. a JSON reply in exactly three paragraphs) share a family or are listed in CONFLICTS; the generator never
puts them in one prompt.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, fields
from typing import Any, ClassVar

from playpen_skills import text


class Constraint:
    kind: ClassVar[str]
    family: ClassVar[str]

    def instruction(self) -> str:
        raise NotImplementedError

    def check(self, response: str) -> bool:
        raise NotImplementedError

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, **{k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}}


def _quoted_list(items: tuple[str, ...], joiner: str) -> str:
    quoted = [f'"{item}"' for item in items]
    return quoted[0] if len(quoted) == 1 else f"{', '.join(quoted[:-1])} {joiner} {quoted[-1]}"


def _the_words(items: tuple[str, ...]) -> str:
    return "the word" if len(items) == 1 else "the words"


@dataclass(frozen=True)
class MinWords(Constraint):
    kind: ClassVar[str] = "min_words"
    family: ClassVar[str] = "length"
    n: int

    def instruction(self) -> str:
        return f"Your answer must be at least {self.n} words long."

    def check(self, response: str) -> bool:
        return text.word_count(response) >= self.n


@dataclass(frozen=True)
class MaxWords(Constraint):
    kind: ClassVar[str] = "max_words"
    family: ClassVar[str] = "length"
    n: int

    def instruction(self) -> str:
        return f"Keep your answer to {self.n} words or fewer."

    def check(self, response: str) -> bool:
        return text.word_count(response) <= self.n


@dataclass(frozen=True)
class Sentences(Constraint):
    kind: ClassVar[str] = "sentences"
    family: ClassVar[str] = "sentences"
    n: int

    def instruction(self) -> str:
        return f"Write exactly {self.n} sentences."

    def check(self, response: str) -> bool:
        return text.sentence_count(response) == self.n


@dataclass(frozen=True)
class IncludeWords(Constraint):
    kind: ClassVar[str] = "include_words"
    family: ClassVar[str] = "include_words"
    words: tuple[str, ...]

    def instruction(self) -> str:
        return f"Use {_the_words(self.words)} {_quoted_list(self.words, 'and')} somewhere in your answer."

    def check(self, response: str) -> bool:
        return all(text.mentions(response, word) > 0 for word in self.words)


@dataclass(frozen=True)
class ForbidWords(Constraint):
    kind: ClassVar[str] = "forbid_words"
    family: ClassVar[str] = "forbid_words"
    words: tuple[str, ...]

    def instruction(self) -> str:
        return f"Do not use {_the_words(self.words)} {_quoted_list(self.words, 'or')} anywhere."

    def check(self, response: str) -> bool:
        return all(text.mentions(response, word) == 0 for word in self.words)


@dataclass(frozen=True)
class WordFrequency(Constraint):
    kind: ClassVar[str] = "word_frequency"
    family: ClassVar[str] = "word_frequency"
    word: str
    n: int

    def instruction(self) -> str:
        return f'The word "{self.word}" must appear at least {self.n} times.'

    def check(self, response: str) -> bool:
        return text.mentions(response, self.word) >= self.n


@dataclass(frozen=True)
class JsonObject(Constraint):
    """The reply is one JSON object; one code fence around it (```json ... ```) is allowed, nothing else."""

    kind: ClassVar[str] = "json_object"
    family: ClassVar[str] = "json_object"

    def instruction(self) -> str:
        return "Reply with a single JSON object and no text outside it."

    def check(self, response: str) -> bool:
        try:
            return isinstance(json.loads(text.unfenced(response)), dict)
        except ValueError:
            return False


@dataclass(frozen=True)
class Bullets(Constraint):
    """Exactly n markdown bullet lines; other lines (an introduction) are allowed."""

    kind: ClassVar[str] = "bullets"
    family: ClassVar[str] = "bullets"
    n: int

    def instruction(self) -> str:
        return f'Format the answer as a markdown list of exactly {self.n} bullet points, each line starting with "- ".'

    def check(self, response: str) -> bool:
        return len(text.bullet_lines(response)) == self.n


@dataclass(frozen=True)
class Paragraphs(Constraint):
    kind: ClassVar[str] = "paragraphs"
    family: ClassVar[str] = "paragraphs"
    n: int

    def instruction(self) -> str:
        return f"Write exactly {self.n} paragraphs, with one blank line between paragraphs."

    def check(self, response: str) -> bool:
        return len(text.paragraphs(response)) == self.n


@dataclass(frozen=True)
class Lowercase(Constraint):
    """No capital letter anywhere, and at least one letter."""

    kind: ClassVar[str] = "lowercase"
    family: ClassVar[str] = "case"

    def instruction(self) -> str:
        return "Write everything in lowercase letters, without a single capital letter."

    def check(self, response: str) -> bool:
        return any(c.isalpha() for c in response) and response == response.lower()


@dataclass(frozen=True)
class Uppercase(Constraint):
    """No lowercase letter anywhere, and at least one letter."""

    kind: ClassVar[str] = "uppercase"
    family: ClassVar[str] = "case"

    def instruction(self) -> str:
        return "Write everything in capital letters."

    def check(self, response: str) -> bool:
        return any(c.isalpha() for c in response) and response == response.upper()


@dataclass(frozen=True)
class EndsWith(Constraint):
    """The reply, stripped of surrounding whitespace, ends with the phrase exactly (case and punctuation)."""

    kind: ClassVar[str] = "ends_with"
    family: ClassVar[str] = "ending"
    phrase: str

    def instruction(self) -> str:
        return f'Finish your answer with the exact phrase "{self.phrase}" and write nothing after it.'

    def check(self, response: str) -> bool:
        return response.strip().endswith(self.phrase)


@dataclass(frozen=True)
class NoCommas(Constraint):
    kind: ClassVar[str] = "no_commas"
    family: ClassVar[str] = "punctuation"

    def instruction(self) -> str:
        return "Do not use any commas."

    def check(self, response: str) -> bool:
        return "," not in response and "，" not in response


_TITLE = re.compile(r"<<[^<>\n]*[^\W_][^<>\n]*>>")


@dataclass(frozen=True)
class Title(Constraint):
    """Somewhere a title in double angle brackets holding at least one letter or digit, on one line."""

    kind: ClassVar[str] = "title"
    family: ClassVar[str] = "title"

    def instruction(self) -> str:
        return "Give the answer a title between double angle brackets, for example <<a short title>>."

    def check(self, response: str) -> bool:
        return _TITLE.search(response) is not None


@dataclass(frozen=True)
class Quoted(Constraint):
    """The whole reply, stripped of surrounding whitespace, starts and ends with a straight double quote."""

    kind: ClassVar[str] = "quoted"
    family: ClassVar[str] = "quoted"

    def instruction(self) -> str:
        return "Put your entire answer inside double quotation marks."

    def check(self, response: str) -> bool:
        stripped = response.strip()
        return len(stripped) >= 2 and stripped[0] == stripped[-1] == '"'


KINDS: dict[str, type[Constraint]] = {cls.kind: cls for cls in (
    MinWords, MaxWords, Sentences, IncludeWords, ForbidWords, WordFrequency, JsonObject, Bullets, Paragraphs,
    Lowercase, Uppercase, EndsWith, NoCommas, Title, Quoted)}

# Families that cannot be asked of one reply (besides two kinds of one family).
CONFLICTS = frozenset(frozenset(pair) for pair in [
    ("json_object", "sentences"), ("json_object", "paragraphs"), ("json_object", "bullets"),
    ("json_object", "ending"), ("json_object", "punctuation"), ("json_object", "title"), ("json_object", "quoted"),
    ("bullets", "sentences"), ("bullets", "paragraphs"), ("bullets", "quoted"),
    ("paragraphs", "sentences"), ("paragraphs", "quoted"),
    ("quoted", "ending"), ("quoted", "title"), ("ending", "case"),
])


def compatible(a: type[Constraint], b: type[Constraint]) -> bool:
    return a.family != b.family and frozenset((a.family, b.family)) not in CONFLICTS


def from_dict(data: dict[str, Any]) -> Constraint:
    """A constraint from its JSON form; ValueError for an unknown kind or wrong parameters."""
    cls = KINDS.get(data.get("kind", ""))
    if cls is None:
        raise ValueError(f"unknown constraint kind {data.get('kind')!r}")
    names = {f.name for f in fields(cls)}
    params = {k: v for k, v in data.items() if k != "kind"}
    if set(params) != names:
        raise ValueError(f"constraint {cls.kind} takes {sorted(names)}, got {sorted(params)}")
    return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in params.items()})
