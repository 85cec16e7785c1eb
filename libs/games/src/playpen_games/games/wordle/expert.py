"""Expert players of the three wordle games: a Guesser that solves by letter feedback, and an honest Critic.

What they read (and never the target word, in the game or in the instance):
- the Guesser: the experiment's word list and keywords (`game.settings`), the guesses that got feedback and
  that feedback (`game.committed`, `game.feedbacks` — exactly what its prompts showed it), the clue
  (`game.clue`, withclue and withcritic) and, in withcritic, the Critic's verdict in its last message;
- the Critic: the same word list, feedback and clue, and the first guess it is asked about.

Guesser: keeps the words that agree with every feedback so far, then picks the guess that splits them into
the most even feedback classes (expected information, over the remaining words and a few letter-rich
probes), a word that may be the answer breaking near-ties. With a clue, the remaining words are weighted by
how well a reverse dictionary (games/wordle/data/clue_lexicon.json.gz, built from WordNet by lexicon.py) says
the clue describes them, and a word the clue singles out is guessed directly. With a Critic it plays in
"hard mode" (every guess could be the answer), keeps its guess when the Critic agrees or when the guess
still fits all feedback, and otherwise switches to the best word that does.
Critic: agrees exactly when the guess fits every letter feedback so far, and says which feedback it breaks.

Randomness (seeded by episode and turn) only picks among equally good openers and near-equal guesses, so
the episodes of a GRPO group differ while each stays a strong game.
"""

from __future__ import annotations

import math
import random
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from functools import lru_cache

from playpen_games.engine import GameResources
from playpen_games.engine.runner import Request
from playpen_games.games.wordle.feedback import GREEN, RED, YELLOW, Mark
from playpen_games.games.wordle.game import CRITIC, GUESSER, Wordle, WordleWithCritic
from playpen_games.language import lexicon
from playpen_games.language.lexicon import ReverseDictionary

LEXICON_FILE = "clue_lexicon.json.gz"
OPENERS = 5  # the seeded opener is one of this many letter-richest words
PROBES = 40  # letter-rich non-answers scored besides the remaining words
MAX_SCORED = 400  # remaining words scored as guesses (a seeded sample beyond this)
NEAR_TIE = 0.02  # bits: guesses this close to the best are equally good
CLUE_WEIGHT = 1.5  # sharpness of the clue prior (per unit of idf-weighted overlap)
CLUE_CONFIDENT = 0.5  # guess the clue's favourite outright once it holds this share of the prior

# Wordings of each reason for the explanation line (one is picked with the seed).
REASONS = {
    "opener": ("a first word with many common letters, to learn the most",
               "I start with frequent letters to learn as much as possible",
               "this word tests many of the most common letters"),
    "clue": ("the clue describes {word} well and it fits the feedback so far",
             "{word} matches the clue and agrees with every letter feedback",
             "the clue points to {word}, which fits all the feedback"),
    "first with clue": ("the clue suggests words like this one, and it tests common letters",
                        "a word in the spirit of the clue that also tries frequent letters"),
    "answer": ("{count} words still fit the feedback; this one fits too and splits the rest best",
               "of the {count} words that fit the feedback, this one narrows the others down most",
               "this word fits the feedback and best separates the {count} words still possible"),
    "probe": ("{count} words still fit the feedback; this word tests their most common letters",
              "with {count} words still possible, I test the letters that tell them apart",
              "this word cannot win but best separates the {count} words that fit the feedback"),
    "only": ("it is the only word that fits all the feedback so far",
             "every other word is ruled out by the feedback"),
    "two": ("it is one of the two words that fit all the feedback so far",
            "only two words fit the feedback, and this is one of them"),
    "lost": ("no known word fits all the feedback, so I try another",),
}

Code = int  # a feedback pattern, base 3 per letter: 0 red, 1 yellow, 2 green
_COLOUR_CODE = {RED: 0, YELLOW: 1, GREEN: 2}


def feedback_code(guess: str, target: str) -> Code:
    """The game's letter feedback (feedback.letter_feedback) as one number: greens first, then yellows
    from left to right while the target has unmatched copies of the letter."""
    greens = [g == t for g, t in zip(guess, target, strict=True)]
    unmatched = [t for t, green in zip(target, greens, strict=True) if not green]
    code = 0
    for letter, green in zip(guess, greens, strict=True):
        if green:
            digit = 2
        elif letter in unmatched:
            unmatched.remove(letter)
            digit = 1
        else:
            digit = 0
        code = code * 3 + digit
    return code


def marks_code(marks: Sequence[Mark]) -> Code:
    code = 0
    for mark in marks:
        code = code * 3 + _COLOUR_CODE[mark.colour]
    return code


def consistent(words: Iterable[str], history: Sequence[tuple[str, Code]]) -> list[str]:
    """The words that would have produced every feedback seen so far."""
    remaining = sorted(words)
    for guess, code in history:
        remaining = [word for word in remaining if feedback_code(guess, word) == code]
    return remaining


def letter_rich(words: Sequence[str], remaining: Sequence[str], count: int) -> list[str]:
    """The `count` words covering the most frequent letters (and positions) of the remaining words."""
    anywhere: Counter[str] = Counter()
    placed: list[Counter[str]] = [Counter() for _ in range(len(remaining[0]) if remaining else 0)]
    for word in remaining:
        anywhere.update(set(word))
        for index, letter in enumerate(word):
            placed[index][letter] += 1

    def value(word: str) -> float:
        return sum(anywhere[letter] for letter in set(word)) + 0.5 * sum(
            placed[i][letter] for i, letter in enumerate(word) if i < len(placed))

    return sorted(words, key=lambda word: (-value(word), word))[:count]


def information(guess: str, remaining: Sequence[str], weights: dict[str, float]) -> float:
    """Expected bits the feedback on `guess` reveals about the (weighted) remaining words."""
    classes: dict[Code, float] = {}
    for word in remaining:
        code = feedback_code(guess, word)
        classes[code] = classes.get(code, 0.0) + weights[word]
    total = sum(classes.values())
    return -sum(w / total * math.log2(w / total) for w in classes.values() if w > 0)


@lru_cache(maxsize=8)
def _playable(words: frozenset[str], length: int) -> frozenset[str]:
    return frozenset(word for word in words if len(word) == length and word.isalpha() and word.islower())


def playable_words(game: Wordle) -> frozenset[str]:
    """The word list without entries no guess could be (some official lists hold an empty string)."""
    return _playable(game.settings.words, game.settings.word_length)


def clue_lexicon() -> ReverseDictionary:
    return lexicon.load(GameResources.of_package(__package__).packaged / LEXICON_FILE)


@lru_cache(maxsize=8)
def _openers(words: frozenset[str]) -> tuple[str, ...]:
    ordered = sorted(words)
    return tuple(letter_rich(ordered, ordered, OPENERS))


class Solver:
    """One decision of the Guesser, from public information only."""

    def __init__(self, game: Wordle, rng: random.Random, *, hard_mode: bool):
        self.words = playable_words(game)
        self.history = [(guess, marks_code(marks)) for guess, marks in zip(game.committed, game.feedbacks,
                                                                              strict=True)]
        self.remaining = consistent(self.words, self.history)
        self.clue: str | None = getattr(game, "clue", None)
        self.rng = rng
        self.hard_mode = hard_mode
        self.weights = self._prior()

    def _prior(self) -> dict[str, float]:
        if not self.clue or not self.remaining:
            return dict.fromkeys(self.remaining, 1.0)
        scores = clue_lexicon().scores(self.clue, self.remaining)
        return {word: math.exp(CLUE_WEIGHT * scores.get(word, 0.0)) for word in self.remaining}

    def favourite(self) -> tuple[str, float] | None:
        """The remaining word the clue points to, with its share of the prior, if the clue says anything."""
        if not self.clue or not self.remaining:
            return None
        total = sum(self.weights.values())
        best = max(self.remaining, key=lambda word: (self.weights[word], word))
        share = self.weights[best] / total
        return (best, share) if self.weights[best] > 1.0 else None

    def choose(self) -> tuple[str, str]:
        """(guess, why) — `why` is a short reason for the explanation line."""
        if not self.remaining:  # the feedback contradicts the word list; any known word keeps playing
            return self.rng.choice(sorted(self.words)), self._say("lost")
        favourite = self.favourite()
        if favourite is not None and favourite[1] >= CLUE_CONFIDENT:
            return favourite[0], self._say("clue", word=favourite[0])
        if len(self.remaining) <= 2:
            ranked = sorted(self.remaining, key=lambda word: (-self.weights[word], word))
            pick = ranked[0] if self.weights[ranked[0]] > self.weights[ranked[-1]] else self.rng.choice(ranked)
            return pick, self._fits_reason()
        if not self.history and favourite is None:
            return self.rng.choice(_openers(self.words)), self._say("opener")
        return self._most_informative()

    def _most_informative(self) -> tuple[str, str]:
        remaining = self.remaining
        if len(remaining) > MAX_SCORED:  # score against a sample: cheap, and nearly as good
            heaviest = sorted(remaining, key=lambda word: (-self.weights[word], word))[:PROBES]
            sample = sorted(set(self.rng.sample(remaining, MAX_SCORED)) | set(heaviest))
        else:
            sample = remaining
        pool = set(sample)
        if not self.hard_mode:
            pool.update(letter_rich(sorted(self.words), remaining, PROBES))
        total = sum(self.weights[word] for word in sample)
        value = {}
        for guess in sorted(pool):
            bonus = self.weights.get(guess, 0.0) / total  # the chance that this guess simply wins
            value[guess] = information(guess, sample, self.weights) + 2 * bonus
        best = max(value.values())
        near = [guess for guess, v in value.items() if v >= best - NEAR_TIE]
        answers = [guess for guess in near if guess in self.weights]
        pick = self.rng.choice(answers or near)
        if not self.history:
            return pick, self._say("first with clue")
        if pick in self.weights:
            return pick, self._say("answer", count=len(remaining))
        return pick, self._say("probe", count=len(remaining))

    def _fits_reason(self) -> str:
        return self._say("only" if len(self.remaining) == 1 else "two")

    def _say(self, reason: str, **values: object) -> str:
        return self.rng.choice(REASONS[reason]).format(**values)


def _rng(request: Request, *parts: object) -> random.Random:
    return random.Random("/".join(map(str, (request.episode_id, request.role, *parts))))


def _reply(game: Wordle, content_key: str, explanation: str, content: str) -> str:
    settings = game.settings
    # The reply must hold the content keyword exactly once, so the explanation may not contain it.
    keyword = settings.kw(content_key)
    explanation = re.sub(re.escape(keyword), keyword.rstrip(":"), explanation, flags=re.IGNORECASE)
    return f"{settings.kw('explanation_lang')} {explanation}\n{settings.kw(content_key)} {content}"


def guesser(request: Request) -> str:
    """The Guesser's reply: an `explanation:` line, then the `guess:` line."""
    game = request.game_state
    assert isinstance(game, Wordle)
    with_critic = isinstance(game, WordleWithCritic)
    rng = _rng(request, len(game.committed), getattr(game, "phase", ""))
    solver = Solver(game, rng, hard_mode=with_critic)
    if with_critic and game.phase == "final":
        first = game.first_guesses[-1]
        agreed = _critic_agreed(request.messages[-1]["content"], game)
        if agreed or first in solver.remaining:
            why = "the critic agrees" if agreed else "it still fits all the feedback, whatever the critic says"
            return _reply(game, "guess_lang", f"I keep {first}, as {why}", first)
    guess, why = solver.choose()
    return _reply(game, "guess_lang", why, guess)


def _critic_agreed(message: str, game: Wordle) -> bool:
    keyword = game.settings.kw("guess_agreement_lang").lower()
    yes = str(game.settings.keywords["agreement_match_keywords_lang"][0]).lower()
    for line in message.lower().splitlines():
        if line.startswith(keyword):
            return line[len(keyword):].strip().startswith(yes)
    return False


def conflict(guess: str, history: Sequence[tuple[str, Code]]) -> str | None:
    """Why `guess` cannot be the word given the feedback so far, or None when it can: the first letter
    whose feedback would have been different had `guess` been the word."""
    for earlier, code in history:
        would = feedback_code(earlier, guess)
        if would == code:
            continue
        seen, hypothetical = _digits(code, len(earlier)), _digits(would, len(earlier))
        index = next(i for i in range(len(earlier)) if seen[i] != hypothetical[i])
        letter = earlier[index]
        if seen[index] == 2:
            return f"the feedback on {earlier} put {letter} at position {index + 1}"
        if seen[index] == 1 and guess[index] == letter:
            return f"the feedback on {earlier} showed that {letter} is not at position {index + 1}"
        if seen[index] == 1:
            return f"the feedback on {earlier} showed that the word has {letter} elsewhere"
        return f"the feedback on {earlier} showed that the word has no more {letter} than that"
    return None


def _digits(code: Code, length: int) -> list[int]:
    digits = []
    for _ in range(length):
        code, digit = divmod(code, 3)
        digits.append(digit)
    return digits[::-1]


def critic(request: Request) -> str:
    """The Critic's reply: an `explanation:` line, then `agreement: yes|no`."""
    game = request.game_state
    assert isinstance(game, WordleWithCritic)
    guess = game.first_guesses[-1]
    yes, no = (str(word) for word in game.settings.keywords["agreement_match_keywords_lang"][:2])
    history = [(g, marks_code(m)) for g, m in zip(game.committed, game.feedbacks, strict=True)]
    if guess not in game.settings.words:
        return _reply(game, "agreement_lang", f"{guess} is not a word of this game", no)
    problem = conflict(guess, history)
    if problem is not None:
        return _reply(game, "agreement_lang", f"{guess} cannot be right: {problem}", no)
    reasons = ["nothing in the feedback so far rules it out", "it fits every letter feedback so far",
               "it agrees with all the letters we know about"]
    why = reasons[0] if not history else _rng(request, len(history)).choice(reasons[1:])
    return _reply(game, "agreement_lang", f"{guess} is possible: {why}", yes)


EXPERTS = {
    "wordle": {GUESSER: guesser},
    "wordle_withclue": {GUESSER: guesser},
    "wordle_withcritic": {GUESSER: guesser, CRITIC: critic},
}
