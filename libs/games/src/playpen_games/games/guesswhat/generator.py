"""Guess What? instances of our own: eight candidate words built from a hand-written word taxonomy.

data/words.json holds two taxonomies, concrete and abstract words, each as category -> subcategory ->
words (single alphabetic words, each listed once, so a correct guess is always recognisable). The six
experiments keep clembench's names and structure, from loosely to closely related candidates:

- Level_1 / Abs_Level_1: 4 categories × 2 subcategories × 1 word,
- Level_2 / Abs_Level_2: 2 categories × 2 subcategories × 2 words,
- Level_3 / Abs_Level_3: 1 category × 4 subcategories × 2 words,

with Level_* drawn from the concrete and Abs_Level_* from the abstract taxonomy. Every word belongs to one
split by a stable hash (WORD_SHARES). A split's targets are its own words, so targets never recur across
splits; the other candidates come from the split's words or the train words, so validation and test words
never appear in training instances at all. The experiments carry our own prompt wording and our own
forbidden-question patterns (see protocol.py for why there is no direct-guess pattern).
"""

from __future__ import annotations

import hashlib
import random
from typing import Any

from playpen_games.engine.resources import GameResources

PER_EXPERIMENT = {"train": 50, "validation": 10, "test": 10}
WORD_SHARES = (("train", 70), ("validation", 15), ("test", 15))  # percent of the words in each split
#: experiment -> (taxonomy, categories, subcategories per category, words per subcategory)
LEVELS = {
    "Level_1": ("concrete", 4, 2, 1), "Level_2": ("concrete", 2, 2, 2), "Level_3": ("concrete", 1, 4, 2),
    "Abs_Level_1": ("abstract", 4, 2, 1), "Abs_Level_2": ("abstract", 2, 2, 2),
    "Abs_Level_3": ("abstract", 1, 4, 2),
}
MAX_TURNS = 8
Taxonomy = dict[str, dict[str, list[str]]]

GUESSER_PROMPT = """We are playing a word guessing game. One word in the list at the end is the secret word. Find \
it by asking the other player questions that can be answered with yes or no. You may ask up to $N$ questions, \
and you get exactly one guess, so only guess when you are confident.

How to play:

1. Send one question per message, never two.

2. Ask about what the word means or refers to. Questions about its letters, spelling, length, syllables or \
word class are not allowed.

3. To ask a question, write only this line:

QUESTION: <your question>

4. To make your one guess, write only this line:

GUESS: <a word from the list>

Keep your questions short. The candidate words are: $LIST$"""

ANSWERER_PROMPT = """We are playing a word guessing game. You know the secret word, which is $TARGET WORD$. The \
other player will ask you yes/no questions to find it. Answer every question truthfully with yes or no only, \
never explain, and never reveal the secret word.

Write only one of these two lines and nothing else:

ANSWER: yes
ANSWER: no

The secret word: $TARGET WORD$"""

_NUMBER = r"(\d+|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve)"
PATTERNS = {
    "letter_based_pattern": (r"\b(starts?|begins?|ends?) with (the letter|a vowel|a consonant|an? [a-z]\b|[a-z]\b)"
                             r"|\b(contains?|has|have|includes?) the letters?\b"
                             r"|\b(first|second|third|fourth|fifth|last) letter\b"),
    "length_question_pattern": rf"\b{_NUMBER} letters?\b|\bhow (many letters|long is the (target|secret) word)\b",
    "syllable_question_pattern": r"\bsyllables?\b",
    "pos_question_pattern": (r"^(is|does) (it|the (target|secret) word) (a|an|function as an?) "
                             r"(noun|verb|adjective|adverb|pronoun|preposition|conjunction|interjection)\b"),
}


def taxonomies() -> dict[str, Taxonomy]:
    document = GameResources.of_package(__package__).packaged_json("words.json")
    return {kind: document[kind] for kind in ("concrete", "abstract")}


def check_taxonomies(found: dict[str, Taxonomy]) -> None:
    """Single alphabetic words, each listed once, and every category usable for Level_3."""
    seen: set[str] = set()
    for kind, taxonomy in found.items():
        for category, subcategories in taxonomy.items():
            if len(subcategories) < 4:
                raise ValueError(f"{kind}/{category}: needs at least 4 subcategories")
            for words in subcategories.values():
                for word in words:
                    if not word.isalpha() or word != word.lower() or word in seen:
                        raise ValueError(f"{kind}/{category}: {word!r} is not a new lowercase alphabetic word")
                    seen.add(word)


def word_split(word: str) -> str:
    bucket = int(hashlib.sha256(f"guesswhat:{word}".encode()).hexdigest(), 16) % 100
    for split, share in WORD_SHARES:
        if bucket < share:
            return split
        bucket -= share
    raise AssertionError("WORD_SHARES must add up to 100")


def build_candidates(taxonomy: Taxonomy, target: str, shape: tuple[int, int, int], split: str,
                     rng: random.Random) -> list[str] | None:
    """The candidate list around `target`, or None if the split's words cannot fill the shape."""
    n_categories, n_subcategories, n_words = shape

    def usable(words: list[str]) -> list[str]:
        return [w for w in words if w != target and word_split(w) in ("train", split)]

    home = next(c for c, subs in taxonomy.items() if any(target in words for words in subs.values()))
    home_sub = next(s for s, words in taxonomy[home].items() if target in words)

    def pick(category: str, required: str | None) -> list[str] | None:
        subs = [s for s, words in taxonomy[category].items()
                if s != required and len(usable(words)) >= n_words]
        needed = n_subcategories - (required is not None)
        if len(subs) < needed:
            return None
        chosen = rng.sample(subs, needed)
        words = []
        if required is not None:
            others = usable(taxonomy[category][required])
            if len(others) < n_words - 1:
                return None
            words += [target, *rng.sample(others, n_words - 1)]
        for sub in chosen:
            words += rng.sample(usable(taxonomy[category][sub]), n_words)
        return words

    candidates = pick(home, home_sub)
    others = [c for c in taxonomy if c != home]
    rng.shuffle(others)
    for category in others:
        if candidates is None or len(candidates) == n_categories * n_subcategories * n_words:
            break
        candidates += pick(category, None) or []
    if candidates is None or len(candidates) != n_categories * n_subcategories * n_words:
        return None
    rng.shuffle(candidates)
    return candidates


def experiment_settings(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "max_turns": MAX_TURNS,
        "question_tag": "QUESTION:",
        "answer_tag": "ANSWER:",
        "guess_tag": "GUESS:",
        "answer_variations": ["ANSWER: yes", "ANSWER: no", "ANSWER: Yes", "ANSWER: No", "ANSWER: Yes.",
                              "ANSWER: No."],
        **PATTERNS,
        "guesser_initial_prompt": GUESSER_PROMPT,
        "answerer_initial_prompt": ANSWERER_PROMPT,
    }


def generate(split: str, seed: int) -> dict:
    if split not in PER_EXPERIMENT:
        raise ValueError(f"unknown split {split!r}")
    found = taxonomies()
    check_taxonomies(found)
    experiments = []
    for name, (kind, *shape) in LEVELS.items():
        rng = random.Random(f"guesswhat:{seed}:{split}:{name}")
        taxonomy = found[kind]
        targets = sorted(w for subs in taxonomy.values() for words in subs.values() for w in words
                         if word_split(w) == split)
        rng.shuffle(targets)
        instances: list[dict[str, Any]] = []
        for target in targets:
            if len(instances) == PER_EXPERIMENT[split]:
                break
            candidates = build_candidates(taxonomy, target, tuple(shape), split, rng)
            if candidates is not None:
                instances.append({"game_id": len(instances), "target_word": target, "candidate_list": candidates})
        if len(instances) < PER_EXPERIMENT[split]:
            raise ValueError(f"{name}: only {len(instances)} {split} targets can be built")
        experiments.append({**experiment_settings(name), "game_instances": instances})
    return {"experiments": experiments}
