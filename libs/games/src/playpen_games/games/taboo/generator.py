"""Taboo instances of our own: WordNet nouns in three frequency bands, each with three taboo words.

Targets are single-word WordNet nouns; their frequency is WordNet's sense-tagged corpus count. Taboo
("related") words come from the target's first sense: its synonyms, then the words of its hypernyms and
hyponyms, then content words of its gloss — never anything sharing the target's stem. A target's split is
fixed by a hash of the word, so train, validation and test never share a target, whatever the seed.
Regenerating needs Debian's wordnet-base; playing the shipped files does not.
"""

from __future__ import annotations

import hashlib
import random
import re

from nltk.stem.snowball import SnowballStemmer

from playpen_games.language.stopwords import english_stopwords

MAX_TURNS = 3
BANDS = {"frequent": (20, 10**9), "common": (5, 19), "rare": (1, 4)}
PER_BAND = {"train": 100, "validation": 17, "test": 17}
_BLOCKED_GLOSS = re.compile(r"\b(obscene|vulgar|offensive|derogatory|slang|disparaging)\b")

DESCRIBER_PROMPT = """\
Let's play a word-guessing game together. You are the describer: you know a secret word, and your \
partner has to guess it from your descriptions.

The secret word is: $TARGET_WORD$

You must not use any of these taboo words, nor any form or part of them or of the secret word \
(plurals, verb forms, pieces of compounds):
$REL_WORD$

How to answer: write one line that starts with "CLUE:" followed by your description, for example
CLUE: a very large grey animal with a trunk
Write nothing before "CLUE:". Your partner answers with "GUESS:" and a word. If the guess is wrong, \
give a new clue that adds something.

Your partner has $N$ guesses. Using the secret word or a taboo word loses the game at once. Keep every \
clue short."""

GUESSER_PROMPT = """\
Let's play a word-guessing game together. Your partner knows a secret word and describes it to you; you \
try to guess it. Each description starts with "CLUE:".

How to answer: reply with exactly one line, "GUESS:" followed by a single word, for example
GUESS: elephant
Write nothing before "GUESS:" and do not explain your guess.

You have $N$ guesses. After a wrong guess you get another clue."""


def split_of(word: str) -> str:
    bucket = int(hashlib.sha256(word.encode("utf-8")).hexdigest(), 16) % 10
    return "test" if bucket == 0 else "validation" if bucket == 1 else "train"


def _single_words(names) -> list[str]:
    return [n.lower() for n in names if n.isalpha() and len(n) >= 3]


def taboo_words(wordnet, target: str, stemmer: SnowballStemmer) -> list[str] | None:
    sense = wordnet.synsets(target, "n")[0]
    candidates = _single_words(sense.lemma_names())
    # NLTK keeps a synset's pointers in a set: sort them, or the output depends on PYTHONHASHSEED.
    for related in sorted(sense.hypernyms(), key=str) + sorted(sense.hyponyms(), key=str):
        candidates += _single_words(related.lemma_names())
    candidates += re.findall(r"[a-z]{3,}", sense.definition().lower())
    stopwords = english_stopwords()
    target_stem = stemmer.stem(target)
    chosen: list[str] = []
    stems = {target_stem}
    for word in candidates:
        stem = stemmer.stem(word)
        if word in stopwords or stem in stems or target in word or word in target:
            continue
        chosen.append(word)
        stems.add(stem)
        if len(chosen) == 3:
            return chosen
    return None


def candidates(wordnet) -> dict[str, list[str]]:
    """Eligible targets per frequency band, sorted for reproducibility."""
    stopwords = english_stopwords()
    bands: dict[str, list[str]] = {band: [] for band in BANDS}
    for name in sorted(wordnet.all_lemma_names("n")):
        if not (name.isalpha() and name.islower() and 4 <= len(name) <= 12) or name in stopwords:
            continue
        senses = wordnet.synsets(name, "n")
        if any(_BLOCKED_GLOSS.search(s.definition()) for s in senses):
            continue
        lemmas = wordnet.lemmas(name, "n")
        if lemmas[0].name()[0].isupper():  # a proper name (Bavaria), not a common noun
            continue
        count = sum(lemma.count() for lemma in lemmas)
        for band, (low, high) in BANDS.items():
            if low <= count <= high:
                bands[band].append(name)
    return bands


def generate(split: str, seed: int) -> dict:
    from playpen_games.language.wordnet import open_wordnet

    wordnet = open_wordnet()
    stemmer = SnowballStemmer("english")
    rng = random.Random(f"taboo:{seed}:{split}")
    experiments = []
    game_id = 0
    for band, words in candidates(wordnet).items():
        pool = [w for w in words if split_of(w) == split]
        rng.shuffle(pool)
        instances = []
        for word in pool:
            related = taboo_words(wordnet, word, stemmer)
            if related is None:
                continue
            instances.append({"game_id": game_id, "target_word": word, "related_word": related,
                              "target_word_stem": stemmer.stem(word),
                              "related_word_stem": [stemmer.stem(w) for w in related]})
            game_id += 1
            if len(instances) == PER_BAND[split]:
                break
        experiments.append({"name": band, "max_turns": MAX_TURNS, "describer_initial_prompt": DESCRIBER_PROMPT,
                            "guesser_initial_prompt": GUESSER_PROMPT, "game_instances": instances})
    return {"experiments": experiments}
