"""Seeded generator of Playpen's own wordle instances, for all three variants.

Sources (read at generation time only; playing needs nothing but the instance file):
- the allowed guesses: every five-letter lowercase word of /usr/share/dict/words and of WordNet;
- the targets: dictionary words that are also WordNet lemmas, without obvious inflections (`flats`,
  `baked`, `safer`, `using`), offensive senses or the words of our prompt examples, and with a clue;
- the clue: the gloss of the word's most common WordNet sense that does not give the word away
  (no form of it in the text), else a synonym from one of its senses;
- the experiments: the targets ranked by their WordNet (SemCor) sense-tagged frequency, ties broken by
  number of senses, cut into three equal bands: high_frequency, medium_frequency, low_frequency.

Splits: each band is shuffled once per seed and cut into test (15%), validation (15%) and train (70%)
pools before any game or split is drawn, so the target words of different splits never meet, for any
of the three games. Each game then samples its targets of a split from that split's pools:
300 train, 50 validation and 50 test instances, spread evenly over the three experiments.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from playpen_games.engine import GameDefinitionError
from playpen_games.games.wordle import prompts
from playpen_games.games.wordle.protocol import UNKNOWN_WORD
from playpen_games.language.wordnet import WordNetUnavailable, open_wordnet

DICTIONARY = Path("/usr/share/dict/words")

BANDS = ("high_frequency", "medium_frequency", "low_frequency")
SPLIT_SHARES = (("test", 0.15), ("validation", 0.15), ("train", 0.70))
INSTANCES_PER_SPLIT = {"train": 300, "validation": 50, "test": 50}
VARIANTS = {  # game -> (use_clue, use_critic, guesser prompt)
    "wordle": (False, False, prompts.GUESSER),
    "wordle_withclue": (True, False, prompts.GUESSER_WITH_CLUE),
    "wordle_withcritic": (True, True, prompts.GUESSER_WITH_CRITIC),
}
RESERVED = frozenset({"tiger", "tires"})  # the words of the prompts' examples
UNSUITABLE = re.compile(r"\b(offensive|obscene|vulgar|derogatory|disparaging|slur|slang|sexual|erotic\w*|porn\w*)\b")
ROMAN_NUMERAL = re.compile(r"M{0,3}(CM|CD|D?C{0,3})(XC|XL|L?X{0,3})(IX|IV|V?I{0,3})")
MAX_CLUE_WORDS = 12

@dataclass(frozen=True)
class Candidate:
    word: str
    frequency: int
    senses: int
    clue: str


@dataclass(frozen=True)
class Lexicon:
    allowed: tuple[str, ...]
    bands: dict[str, tuple[Candidate, ...]]


def gives_away(text: str, word: str) -> bool:
    """Whether `text` contains `word`, a form of it (sharing its first four letters) or its start (`tin`
    for `tinny`)."""
    lowered = text.lower()
    return word in lowered or any(token[:4] == word[:4] or (len(token) >= 3 and word.startswith(token))
                                  for token in re.findall(r"[a-z]+", lowered))


def gloss_clue(definition: str, word: str) -> str | None:
    text = re.sub(r"\([^)]*\)", " ", definition).split(";")[0]
    text = " ".join(text.replace("`", "'").split()).strip(" ,.:")
    if not 2 <= len(text.split()) <= MAX_CLUE_WORDS or gives_away(text, word):
        return None
    return text


def make_clue(word: str, senses: list[Any]) -> str | None:
    for sense in senses:
        clue = gloss_clue(sense.definition(), word)
        if clue:
            return clue
    for sense in senses:
        for name in sense.lemma_names():
            synonym = name.replace("_", " ")
            if synonym.islower() and not gives_away(synonym, word):
                return f"another word for {synonym}"
    return None


def is_inflected(word: str, lemmas: set[str], adjectives: set[str], verbs: set[str]) -> bool:
    if word.endswith("s") and (word[:-1] in lemmas or (word.endswith("es") and word[:-2] in lemmas)):
        return True
    if word.endswith("ed") and (word[:-1] in verbs or word[:-2] in verbs):
        return True
    if word.endswith("er") and (word[:-1] in adjectives or word[:-2] in adjectives):
        return True
    if word.endswith("ying") and word[:-4] + "ie" in verbs:
        return True
    return word.endswith("ing") and (word[:-3] in verbs or word[:-3] + "e" in verbs)


@lru_cache(maxsize=1)
def lexicon() -> Lexicon:
    try:
        wn = open_wordnet()
    except WordNetUnavailable as exc:
        raise GameDefinitionError(f"generating wordle instances needs WordNet: {exc}") from exc
    try:
        dictionary = DICTIONARY.read_text(encoding="utf-8").split()
    except OSError as exc:
        raise GameDefinitionError(f"generating wordle instances needs {DICTIONARY}: {exc.strerror}") from exc
    five = re.compile(r"[a-z]{5}")
    lemmas = set(wn.all_lemma_names())
    adjectives, verbs = set(wn.all_lemma_names(pos="a")), set(wn.all_lemma_names(pos="v"))
    dictionary_words = sorted({word for word in dictionary if five.fullmatch(word)})
    allowed = sorted(set(dictionary_words) | {name for name in lemmas if five.fullmatch(name)})
    candidates = []
    for word in dictionary_words:
        if word in RESERVED or ROMAN_NUMERAL.fullmatch(word.upper()) or is_inflected(word, lemmas, adjectives, verbs):
            continue
        senses = [s for s in wn.synsets(word) if word in s.lemma_names()]
        if not senses or any(UNSUITABLE.search(s.definition()) for s in wn.synsets(word)):
            continue
        counts = [sum(lemma.count() for lemma in s.lemmas() if lemma.name() == word) for s in senses]
        # most common sense first (SemCor counts, then WordNet's own order)
        by_use = [senses[i] for i in sorted(range(len(senses)), key=lambda i: -counts[i])]
        clue = make_clue(word, by_use)
        if clue is not None:
            candidates.append(Candidate(word, sum(counts), len(senses), clue))
    candidates.sort(key=lambda c: (-c.frequency, -c.senses, c.word))
    third = len(candidates) / 3
    bands = {band: tuple(candidates[round(i * third):round((i + 1) * third)]) for i, band in enumerate(BANDS)}
    return Lexicon(allowed=tuple(allowed), bands=bands)


def split_pools(lex: Lexicon, seed: int) -> dict[str, dict[str, list[Candidate]]]:
    """Each band cut into disjoint test / validation / train pools; depends on the seed only."""
    pools: dict[str, dict[str, list[Candidate]]] = {split: {} for split, _ in SPLIT_SHARES}
    for band in BANDS:
        shuffled = list(lex.bands[band])
        random.Random(f"wordle-splits/{seed}/{band}").shuffle(shuffled)
        start = 0
        for split, share in SPLIT_SHARES:
            end = len(shuffled) if split == SPLIT_SHARES[-1][0] else start + round(share * len(shuffled))
            pools[split][band] = shuffled[start:end]
            start = end
    return pools


def generate(game: str, split: str, seed: int) -> dict:
    if game not in VARIANTS:
        raise GameDefinitionError(f"the wordle generator makes {', '.join(VARIANTS)}, not {game!r}")
    if split not in INSTANCES_PER_SPLIT:
        raise GameDefinitionError(f"unknown split {split!r}")
    use_clue, use_critic, guesser_prompt = VARIANTS[game]
    lex = lexicon()
    pools = split_pools(lex, seed)[split]
    total = INSTANCES_PER_SPLIT[split]
    experiments = []
    for index, band in enumerate(BANDS):
        count = total // len(BANDS) + (1 if index < total % len(BANDS) else 0)
        if len(pools[band]) < count:
            raise GameDefinitionError(f"only {len(pools[band])} {band} targets for {count} {split} instances")
        chosen = random.Random(f"wordle/{seed}/{game}/{split}/{band}").sample(pools[band], count)
        experiments.append({
            "name": band,
            "common_config": {"n_turns": prompts.TURNS, "max_word_length": prompts.WORD_LENGTH,
                              "max_retry_per_error": {UNKNOWN_WORD: prompts.MAX_UNKNOWN_WORD_RETRIES}},
            "use_clue": use_clue,
            "use_critic": use_critic,
            "guesser_prompt": guesser_prompt,
            "guesser_critic_prompt": prompts.CRITIC if use_critic else "",
            "lang_keywords": {**prompts.KEYWORDS, "official_words_list": list(lex.allowed)},
            "game_instances": [
                {"game_id": number, "target_word": c.word, "target_word_clue": c.clue, "target_word_difficulty": band}
                for number, c in enumerate(chosen, start=1)],
        })
    return {"experiments": experiments}
