"""Letter feedback for a guess: which letters sit in the right spot, which are elsewhere, which are absent.

The feedback is shown to the Guesser as space-separated `<letter><colour>` tokens, e.g.
`s<red> t<yellow> o<green> n<red> e<red>`, the notation clembench uses in its prompts and logs.

Repeated letters are handled like the real game: greens are assigned first; then, from left to right,
a letter is yellow only while the target still has an unmatched copy of it, else red.
"""

from __future__ import annotations

from typing import NamedTuple

GREEN, YELLOW, RED = "green", "yellow", "red"


class Mark(NamedTuple):
    letter: str
    colour: str


def letter_feedback(guess: str, target: str) -> list[Mark]:
    """The colour of every letter of `guess` against `target` (both the same length)."""
    if len(guess) != len(target):
        raise ValueError(f"guess {guess!r} and target {target!r} differ in length")
    colours = [RED] * len(guess)
    unmatched: list[str | None] = list(target)
    for index, (letter, wanted) in enumerate(zip(guess, target, strict=True)):
        if letter == wanted:
            colours[index] = GREEN
            unmatched[index] = None
    for index, letter in enumerate(guess):
        if colours[index] == GREEN or letter not in unmatched:
            continue
        colours[index] = YELLOW
        unmatched[unmatched.index(letter)] = None
    return [Mark(letter, colour) for letter, colour in zip(guess, colours, strict=True)]


def render(marks: list[Mark]) -> str:
    """The feedback as the Guesser reads it: `a<green> b<red> ...`."""
    return " ".join(f"{mark.letter}<{mark.colour}>" for mark in marks)


def letters_with(marks: list[Mark], colour: str) -> set[str]:
    return {mark.letter for mark in marks if mark.colour == colour}
