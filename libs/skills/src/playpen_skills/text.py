"""How the checkers read a reply: one rule each for words, sentences, paragraphs, bullets and code fences.

- A word is a maximal run of letters or digits, which may join further runs with an apostrophe or a hyphen
  inside it: "don't", "well-known" and "3.5" (two words: "3", "5") — punctuation and markdown marks are not words.
  So "light's" is one word, not "light": a required or forbidden word must appear as itself.
- A sentence ends at ".", "!" or "?" (one or more), maybe followed by closing quotes or brackets, then
  whitespace or the end of the text; a last piece without such an ending still counts if it holds a word.
  Abbreviations ("e.g. this") are not special-cased: the rule is simple and the same for every version,
  which is what a retention score needs.
- Paragraphs are separated by one or more blank lines (lines of whitespace only).
- A bullet is a line whose first non-blank characters are "-", "*" or "•" followed by a space (markdown); a
  thematic break ("* * *", "- - -") is not a bullet.
- Trailing and leading whitespace of the whole reply never matters.
"""

from __future__ import annotations

import re

_WORD = re.compile(r"[^\W_]+(?:['’-][^\W_]+)*")
_SENTENCE_END = re.compile(r"[.!?]+[\"')\]”’]*(?=\s|$)")
_BLANK_LINES = re.compile(r"\n[ \t]*\n\s*")
_BULLET = re.compile(r"^[ \t]*[-*•][ \t]+\S")
_THEMATIC_BREAK = re.compile(r"^[ \t]*([-*_])([ \t]*\1){2,}[ \t]*$")
_FENCE = re.compile(r"\A```[A-Za-z0-9_-]*[ \t]*\n(.*?)\n?```\Z", re.DOTALL)


def words(text: str) -> list[str]:
    return _WORD.findall(text)


def word_count(text: str) -> int:
    return len(words(text))


def sentence_count(text: str) -> int:
    pieces = _SENTENCE_END.split(text.strip())
    return sum(1 for piece in pieces if words(piece))


def paragraphs(text: str) -> list[str]:
    return [part for part in _BLANK_LINES.split(text.strip()) if part.strip()]


def bullet_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if _BULLET.match(line) and not _THEMATIC_BREAK.match(line)]


def unfenced(text: str) -> str:
    """The reply without one markdown code fence around all of it (```json ... ```), else the reply, stripped."""
    stripped = text.strip()
    match = _FENCE.match(stripped)
    return match.group(1).strip() if match else stripped


def mentions(text: str, word: str) -> int:
    """How often `word` occurs as a whole word, case-insensitively."""
    wanted = word.lower()
    return sum(1 for w in words(text) if w.lower() == wanted)
