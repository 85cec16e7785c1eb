"""NLTK's English stopword list (shipped in language/data): taboo ignores these words when it compares stems."""

from __future__ import annotations

from functools import lru_cache

from playpen_games.engine.resources import GameResources


@lru_cache(maxsize=1)
def english_stopwords() -> frozenset[str]:
    text = GameResources.of_package(__package__).packaged_text("stopwords_en.txt")
    return frozenset(line.strip() for line in text.splitlines() if line.strip())
