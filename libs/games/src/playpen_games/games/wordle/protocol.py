"""What the wordle players must write, how their replies are read, and what the game master writes back.

All keywords and message pieces come from the experiment's `lang_keywords` (clembench's instances from
v2.0 on, and ours). Instance files before v1.6 have no `lang_keywords`: their word list is
`english_words`, the turn limit `common_config.max_attempts_per_game`, the retry limit a plain number and
the prompts one-message lists. For those, the protocol keywords below are used, with our own wording for
the few game-master sentences they lack.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from playpen_games.engine import ParseError

UNKNOWN_WORD = "NOT_VALID_WORD_FOR_GAME"

# The protocol keywords of every clembench wordle version; the sentences are ours.
LEGACY_KEYWORDS: dict[str, Any] = {
    "clue_lang": "clue:",
    "guess_lang": "guess:",
    "guess_word_lang": "word",
    "explanation_lang": "explanation:",
    "explanataion_details_lang": "details",
    "guess_feedback_lang": "guess_feedback:",
    "agreement_lang": "agreement:",
    "agreement_word_lang": "yes or no",
    "guess_agreement_lang": "guess_agreement:",
    "agreement_explanation_lang": "agreement_explanation:",
    "agreement_match_keywords_lang": ["yes", "no"],
    "error_prompt_text": {
        UNKNOWN_WORD: "This word is not in the list of words the game accepts.",
        "INVALID_FORMAT": "Reply in exactly this format.",
        "RETRY": "Guess another word.",
    },
}


def _prompt_text(value: Any) -> str:
    """A prompt is a string, or (before v1.6) a list holding one user message."""
    if isinstance(value, str):
        return value
    if isinstance(value, list) and value and isinstance(value[0], Mapping):
        return str(value[0]["content"])
    raise ValueError(f"cannot read a prompt from {type(value).__name__}")


@dataclass(frozen=True)
class Settings:
    """Everything a wordle game needs from its experiment."""

    keywords: Mapping[str, Any]
    word_length: int
    words: frozenset[str]
    max_rounds: int
    max_retries: int
    guesser_prompt: str
    critic_prompt: str

    @classmethod
    def from_experiment(cls, experiment: Mapping[str, Any], *, with_critic: bool) -> Settings:
        config = experiment["common_config"]
        keywords = experiment.get("lang_keywords")
        if keywords:
            word_length = int(keywords["max_word_length"])
            words = keywords["official_words_list"]
        else:  # before v1.6
            keywords = LEGACY_KEYWORDS
            word_length = int(config["max_word_length"])
            words = experiment["english_words"]
        max_rounds = config.get("n_turns") or config["max_attempts_per_game"]
        retries = config["max_retry_per_error"]
        if isinstance(retries, Mapping):
            retries = retries[UNKNOWN_WORD]
        if not isinstance(words, list):
            raise ValueError("the word list must be a list of words")
        critic_prompt = _prompt_text(experiment["guesser_critic_prompt"]) if with_critic else ""
        return cls(keywords=keywords, word_length=word_length, words=frozenset(words),
                   max_rounds=int(max_rounds), max_retries=int(retries),
                   guesser_prompt=_prompt_text(experiment["guesser_prompt"]), critic_prompt=critic_prompt)

    def kw(self, key: str) -> str:
        return str(self.keywords[key])

    def error_text(self, key: str) -> str:
        return str(self.keywords["error_prompt_text"][key])


def read_reply(reply: str, settings: Settings, content_key: str) -> tuple[str, str]:
    """(content, explanation) of a reply `explanation: ...` + `<content keyword> ...`.

    The reply must start with the explanation keyword (case-sensitive, nothing before it); once stripped
    it may have at most two lines (an empty line counts); the content keyword must occur exactly once
    anywhere, ignoring case. The content is the rest of its line, stripped and lowercased.
    """
    explanation_kw, content_kw = settings.kw("explanation_lang"), settings.kw(content_key)
    if not reply or not reply.startswith(explanation_kw):
        raise ParseError(f"the reply must start with {explanation_kw!r}", key="INVALID_START_WORD")
    text = reply.strip()
    if len(text.split("\n")) > 2:
        raise ParseError(f"the reply may only hold the {explanation_kw!r} and {content_kw!r} lines",
                         key="UNKNOWN_TAGS")
    contents = re.findall(re.escape(content_kw) + r"([^\n]*)", text, re.IGNORECASE)
    if len(contents) != 1:
        raise ParseError(f"the reply must contain {content_kw!r} exactly once (found {len(contents)})",
                         key="MORE_THAN_ONE_GUESS")
    explanation = re.search(re.escape(explanation_kw) + r"([^\n]*)", text, re.IGNORECASE)
    return contents[0].strip().lower(), explanation.group(1).strip() if explanation else ""


def check_guess_form(guess: str, settings: Settings) -> None:
    """A guess must be one word of letters only, of the game's word length."""
    if not guess.isalpha() or " " in guess:
        raise ParseError(f"the guess {guess!r} must be a single word of letters only", key="INVALID_FORMAT")
    if len(guess) != settings.word_length:
        raise ParseError(f"the guess {guess!r} does not have {settings.word_length} letters",
                         key="INVALID_WORD_LENGTH")


def check_agreement(agreement: str, settings: Settings) -> None:
    allowed = list(settings.keywords["agreement_match_keywords_lang"])
    if not agreement.isalpha() or " " in agreement:
        raise ParseError(f"the agreement {agreement!r} must be a single word of letters only",
                         key="INVALID_FORMAT")
    if agreement not in allowed:
        raise ParseError(f"the agreement {agreement!r} must be one of {allowed}", key="NOT_VALID_CRITIC_WORD")


# ------------------------------------------------------------------ game master messages


def _format_reminder(settings: Settings, content_key: str, content_word_key: str) -> str:
    return (f"{settings.error_text('INVALID_FORMAT')}\n"
            f"{settings.kw('explanation_lang')} {settings.kw('explanataion_details_lang')}\n"
            f"{settings.kw(content_key)} {settings.kw(content_word_key)}")


def guess_reminder(settings: Settings) -> str:
    return _format_reminder(settings, "guess_lang", "guess_word_lang")


def clue_message(settings: Settings, clue: str) -> str:
    return f"{settings.kw('clue_lang')} {clue}"


def feedback_message(settings: Settings, feedback: str) -> str:
    return f"{settings.kw('guess_feedback_lang')} {feedback}\n\n{guess_reminder(settings)}"


def retry_message(settings: Settings, error_key: str) -> str:
    return f"{settings.error_text(error_key)} {settings.error_text('RETRY')}\n\n{guess_reminder(settings)}"


def critic_message(settings: Settings, clue: str, explanation: str, guess: str, *, first: bool) -> str:
    """What the Critic sees of a first guess; from the second round on with a format reminder."""
    text = (f"{settings.kw('clue_lang')} {clue}\n{settings.kw('explanation_lang')} {explanation}\n"
            f"{settings.kw('guess_lang')} {guess}")
    if first:
        return text
    return f"{text}\n\n{_format_reminder(settings, 'agreement_lang', 'agreement_word_lang')}"


def verdict_message(settings: Settings, clue: str, agreement: str, explanation: str) -> str:
    """What the Guesser sees of the Critic's verdict before its final guess of the round."""
    return (f"{settings.kw('clue_lang')} {clue}\n{settings.kw('guess_agreement_lang')} {agreement}\n"
            f"{settings.kw('agreement_explanation_lang')} {explanation}\n\n{guess_reminder(settings)}")
