"""How codenames replies are read and checked, with the instance flags that soften the checks.

The ClueGiver's reply: a space is first put after every comma that lacks one, then the text is split on
line breaks. More than two lines is an error (unless IGNORE RAMBLING). The first line starting with `CLUE: `
and the first starting with `TARGETS: ` (case-sensitive, space included) must both exist. The clue is the
text after the prefix, lowercased; if it contains any of ` .,<>"'` it is stripped of them at both ends (STRIP
WORDS; without the flag that is an error). `word, 3` (a number of targets) is an error unless IGNORE NUMBER
OF TARGETS strips the digits. The targets are the rest of their line split on `, `, stripped the same way
and lowercased. Then the rules: the clue is one word; its WordNet noun lemma is not the lemma of a
remaining board word; it is not itself a remaining word; every target is a remaining word and appears
once (IGNORE FALSE TARGETS OR GUESSES lets such targets through, to be dropped); at least one target is a
remaining word.

The Guesser's reply: commas spaced the same way; it must be one line (IGNORE RAMBLING keeps the first line
starting with the prefix instead) starting with `GUESS: `. The guesses are split on `, `, stripped, lowercased;
there are 1 to `number of targets` of them; none equals the clue; each is a remaining word, appearing once
(IGNORE FALSE TARGETS OR GUESSES again lets others through to be dropped); at least one is remaining.

The flags' counters (`engaged`) grow while checking, also in a reply that fails later, as clembench counts
them. The clue the game keeps is stripped of digits and commas at both ends as well — a clue checked as
`abc1` is played as `abc`, as in clembench.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from typing import Any

CLUE_PREFIX = "CLUE: "
TARGETS_PREFIX = "TARGETS: "
GUESS_PREFIX = "GUESS: "
STRIPPED = " .,<>\"'"
DIGITS_STRIPPED = " ," + string.digits
_COMMA_WITHOUT_SPACE = re.compile(r",(?=\S)")
_NUMBER_OF_TARGETS = re.compile(r", [0-9]+")

IGNORE_RAMBLING = "IGNORE RAMBLING"
IGNORE_FALSE = "IGNORE FALSE TARGETS OR GUESSES"
REPROMPT_ON_ERROR = "REPROMPT ON ERROR"
STRIP_WORDS = "STRIP WORDS"
IGNORE_NUMBER = "IGNORE NUMBER OF TARGETS"
FLAGS = (IGNORE_RAMBLING, IGNORE_FALSE, REPROMPT_ON_ERROR, STRIP_WORDS, IGNORE_NUMBER)


class ReplyProblem(Exception):
    """A reply the game master rejects. `rule` tells a broken game rule from a broken format."""

    def __init__(self, kind: str, message: str, *, rule: bool = False):
        super().__init__(message)
        self.kind, self.message, self.rule = kind, message, rule


@dataclass(frozen=True)
class Flags:
    """The instance's flags, in their order (the episode scores list the enabled ones in that order)."""

    values: Mapping[str, bool]

    @classmethod
    def from_experiment(cls, raw: Any) -> Flags:
        if not isinstance(raw, Mapping):
            raise ValueError("the experiment's flags must be an object of flag name -> true/false")
        unknown = set(raw) - set(FLAGS)
        if unknown:
            raise ValueError(f"unknown codenames flag(s): {', '.join(sorted(unknown))}")
        return cls({str(name): bool(value) for name, value in raw.items()})

    def __getitem__(self, name: str) -> bool:
        return self.values.get(name, False)

    def counters(self) -> dict[str, int]:
        return {name: 0 for name in self.values}


@dataclass(frozen=True)
class Clue:
    word: str  # as played: what the Guesser sees and may not guess
    targets: list[str]


Engaged = MutableMapping[str, int]
#: given the checked clue and the remaining words, the board word sharing its lemma (None if none does)
RelatedWord = Callable[[str, Sequence[str]], "str | None"]


def space_commas(text: str) -> str:
    return _COMMA_WITHOUT_SPACE.sub(", ", text)


def first_line_with(prefix: str, lines: Sequence[str]) -> str | None:
    return next((line for line in lines if line.startswith(prefix)), None)


def _has_stripped(text: str) -> bool:
    return any(character in text for character in STRIPPED)


def _engage(engaged: Engaged, flag: str) -> None:
    engaged[flag] = engaged.get(flag, 0) + 1


def read_clue(reply: str, *, remaining: Sequence[str], revealed: Sequence[str], flags: Flags,
              engaged: Engaged, related: RelatedWord) -> Clue:
    lines = space_commas(reply).split("\n")
    if len(lines) > 2:
        if not flags[IGNORE_RAMBLING]:
            raise ReplyProblem("rambling", f"the reply has {len(lines)} lines; give the clue and the targets "
                                           f"on two lines and nothing else")
        _engage(engaged, IGNORE_RAMBLING)
    clue_line = first_line_with(CLUE_PREFIX, lines)
    targets_line = first_line_with(TARGETS_PREFIX, lines)
    if clue_line is None:
        raise ReplyProblem("prefix", f"no line starts with {CLUE_PREFIX!r}")
    if targets_line is None:
        raise ReplyProblem("prefix", f"no line starts with {TARGETS_PREFIX!r}")

    clue = clue_line.removeprefix(CLUE_PREFIX).lower()
    if _has_stripped(clue):
        if not flags[STRIP_WORDS]:
            raise ReplyProblem("clue characters", f"the clue {clue!r} contains spaces or punctuation")
        _engage(engaged, STRIP_WORDS)
        clue = clue.strip(STRIPPED)
    if _NUMBER_OF_TARGETS.search(clue):
        if not flags[IGNORE_NUMBER]:
            raise ReplyProblem("number of targets", f"the clue {clue!r} carries a number of targets; give "
                                                    f"the clue word only")
        _engage(engaged, IGNORE_NUMBER)
        clue = clue.strip(DIGITS_STRIPPED)

    targets = targets_line.removeprefix(TARGETS_PREFIX).split(", ")
    for target in targets:
        if _has_stripped(target) and flags[STRIP_WORDS]:
            _engage(engaged, STRIP_WORDS)
    if flags[STRIP_WORDS]:
        targets = [target.strip(STRIPPED) for target in targets]
    targets = [target.lower() for target in targets]

    if " " in clue:
        raise ReplyProblem("clue not one word", f"the clue {clue!r} is more than one word", rule=True)
    similar = related(clue, remaining)
    if similar is not None:
        raise ReplyProblem("related clue", f"the clue {clue!r} is a form of the board word {similar!r}",
                           rule=True)
    if clue in remaining:
        raise ReplyProblem("clue on board", f"the clue {clue!r} is a word on the board", rule=True)
    _check_choices(targets, "target", remaining, revealed, flags, engaged)

    played_clue = clue_line.removeprefix(CLUE_PREFIX).lower().strip(STRIPPED).strip(DIGITS_STRIPPED)
    played_targets = [target.strip(STRIPPED).lower()
                      for target in targets_line.removeprefix(TARGETS_PREFIX).split(", ")]
    if flags[IGNORE_FALSE]:
        played_targets = [target for target in played_targets if target in remaining]
    return Clue(played_clue, played_targets)


def read_guesses(reply: str, *, remaining: Sequence[str], revealed: Sequence[str], allowed: int, clue: str,
                 flags: Flags, engaged: Engaged) -> list[str]:
    text = space_commas(reply)
    if "\n" in text:
        if not flags[IGNORE_RAMBLING]:
            raise ReplyProblem("rambling", "the reply has more than one line; give all guesses on one line")
        _engage(engaged, IGNORE_RAMBLING)
        text = first_line_with(GUESS_PREFIX, text.split("\n")) or text
    if not text.startswith(GUESS_PREFIX):
        raise ReplyProblem("prefix", f"the reply does not start with {GUESS_PREFIX!r}")
    guesses = text.removeprefix(GUESS_PREFIX).split(", ")
    for guess in guesses:
        if _has_stripped(guess):
            if not flags[STRIP_WORDS]:
                raise ReplyProblem("guess characters", f"the guess {guess!r} contains spaces or punctuation")
            _engage(engaged, STRIP_WORDS)
    if flags[STRIP_WORDS]:
        guesses = [guess.strip(STRIPPED) for guess in guesses]
    guesses = [guess.lower() for guess in guesses]
    if not 0 < len(guesses) <= allowed:
        raise ReplyProblem("number of guesses", f"{len(guesses)} guesses, but at most {allowed} are allowed",
                           rule=True)
    _check_choices(guesses, "guess", remaining, revealed, flags, engaged, clue=clue)

    played = [guess.strip(STRIPPED).lower() for guess in text.removeprefix(GUESS_PREFIX).split(", ")]
    if flags[IGNORE_FALSE]:
        played = [guess for guess in played if guess in remaining]
    return played


def _check_choices(words: list[str], what: str, remaining: Sequence[str], revealed: Sequence[str],
                   flags: Flags, engaged: Engaged, *, clue: str | None = None) -> None:
    """Targets or guesses: each a remaining board word (not the clue), once; at least one remaining."""
    lenient = flags[IGNORE_FALSE]
    not_remaining = 0
    for word in words:
        if clue is not None and word == clue:
            if not lenient:
                raise ReplyProblem("guess is clue", f"the guess {word!r} is the clue itself", rule=True)
            _engage(engaged, IGNORE_FALSE)
        if word not in remaining:
            not_remaining += 1
            if not lenient:
                if word in revealed:
                    raise ReplyProblem(f"repeated {what}", f"the {what} {word!r} has already been revealed",
                                       rule=True)
                raise ReplyProblem(f"hallucinated {what}", f"the {what} {word!r} is not a remaining board word",
                                   rule=True)
            _engage(engaged, IGNORE_FALSE)
        if words.count(word) > 1:
            if not lenient:
                raise ReplyProblem(f"double {what}", f"the {what} {word!r} is named more than once", rule=True)
            _engage(engaged, IGNORE_FALSE)
    if not_remaining == len(words):
        raise ReplyProblem(f"no valid {what}", f"no {what} names a remaining board word", rule=True)
