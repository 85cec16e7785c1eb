"""A small reverse dictionary for the expert players: which word does a description describe?

Each entry maps a word to the stems of what a dictionary says about it (its WordNet glosses, synonyms,
broader and narrower terms). A description is ranked against the entries by the idf-weighted stems they
share. The entries are built once from WordNet by the games' `lexicon` modules and shipped as JSON next to
the game; playing only reads that file and needs NLTK's Snowball stemmer, never WordNet.
"""

from __future__ import annotations

import gzip
import json
import math
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from nltk.stem.snowball import SnowballStemmer

from playpen_games.engine import GameDefinitionError
from playpen_games.language.stopwords import english_stopwords

MIN_TOKEN = 3
FORMAT = "playpen-reverse-dictionary/1"


@lru_cache(maxsize=1)
def _stem():
    return SnowballStemmer("english").stem


@lru_cache(maxsize=65536)
def stem(token: str) -> str:
    return _stem()(token)


def content_stems(text: str) -> list[str]:
    """The stems of the content words of `text`, in order (stopwords and short tokens dropped)."""
    stopwords = english_stopwords()
    return [stem(token) for token in re.findall(r"[a-z]+", text.lower().replace("_", " "))
            if len(token) >= MIN_TOKEN and token not in stopwords]


@dataclass(frozen=True)
class ReverseDictionary:
    entries: Mapping[str, frozenset[str]]  # word -> stems of its description
    idf: Mapping[str, float]
    postings: Mapping[str, tuple[str, ...]]  # stem -> words whose description has it

    @classmethod
    def from_entries(cls, entries: Mapping[str, Iterable[str]]) -> ReverseDictionary:
        frozen = {word: frozenset(stems) for word, stems in entries.items()}
        postings: dict[str, list[str]] = defaultdict(list)
        for word, stems in sorted(frozen.items()):
            for item in stems:
                postings[item].append(word)
        total = max(len(frozen), 1)
        idf = {item: math.log(1 + total / len(words)) for item, words in postings.items()}
        return cls(frozen, idf, {item: tuple(words) for item, words in postings.items()})

    def __contains__(self, word: str) -> bool:
        return word in self.entries

    def scores(self, description: str, words: Iterable[str] | None = None) -> dict[str, float]:
        """Every word sharing a stem with `description` (restricted to `words`), with its idf-weighted
        overlap; each description stem counts once."""
        allowed = None if words is None else set(words)
        found: dict[str, float] = defaultdict(float)
        for item in set(content_stems(description)):
            weight = self.idf.get(item, 0.0)
            for word in self.postings.get(item, ()):
                if allowed is None or word in allowed:
                    found[word] += weight
        return dict(found)

    def rank(self, description: str, words: Iterable[str] | None = None,
             exclude: Iterable[str] = ()) -> list[tuple[float, str]]:
        """(score, word) best first; ties in alphabetical order."""
        skip = set(exclude)
        scored = self.scores(description, words)
        return sorted(((score, word) for word, score in scored.items() if word not in skip),
                      key=lambda item: (-item[0], item[1]))


def write(path: Path, entries: Mapping[str, Iterable[str]], *, source: str) -> None:
    """Write a reverse dictionary; gzip-compressed when the name ends in `.gz` (the files are large and
    only ever read by `load`)."""
    document = {"format": FORMAT, "source": source,
                "entries": {word: " ".join(sorted(set(stems))) for word, stems in sorted(entries.items())}}
    data = (json.dumps(document, separators=(",", ":"), ensure_ascii=False) + "\n").encode("utf-8")
    path.write_bytes(gzip.compress(data, mtime=0) if path.suffix == ".gz" else data)


@lru_cache(maxsize=8)
def load(path: Path) -> ReverseDictionary:
    try:
        data = path.read_bytes()
        document = json.loads(gzip.decompress(data) if path.suffix == ".gz" else data)
    except (OSError, ValueError) as exc:
        raise GameDefinitionError(f"cannot read the expert lexicon {path}: {exc}") from exc
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise GameDefinitionError(f"{path} is not a {FORMAT} document")
    return ReverseDictionary.from_entries({word: text.split() for word, text in document["entries"].items()})


def wordnet_stems(wordnet: Any, word: str, *, pos: str | None = None, max_senses: int = 6,
                  hyponyms: int = 8) -> set[str]:
    """Build time only: the stems of what WordNet says about `word` — the glosses, synonyms, broader terms,
    similar words and the first `hyponyms` narrower terms of its first senses — without the word's own stem."""
    senses = [s for s in wordnet.synsets(word, pos) if word in s.lemma_names()][:max_senses]
    texts: list[str] = []
    for sense in senses:
        texts.append(sense.definition())
        others = sense.hypernyms() + sense.hyponyms()[:hyponyms] + sense.similar_tos()
        texts.extend(lemma.name() for lemma in [*sense.lemmas(), *(lemma for o in others for lemma in o.lemmas())])
    own = stem(word)
    return {item for text in texts for item in content_stems(text) if item != own}
