"""The clue check's notion of "the same word": the noun lemma WordNet's morphology gives a word.

clembench compares NLTK's `WordNetLemmatizer().lemmatize(word)` (part of speech noun) of the clue with that of
every remaining board word. Its benchmark ran NLTK 3.8.1, whose morphology differs from today's NLTK in one
respect: when neither the word nor a single suffix substitution is a WordNet noun, 3.8.1 keeps substituting
suffixes on the substituted forms until some form is a noun (`glasseses` → `glasses` → `glass`). Newer
releases stop after one step. We implement the 3.8.1 procedure on the tables of NLTK's reader (exception
lists, suffix rules, lemma index), so the result does not depend on the installed NLTK release:

1. a word in the noun exception list maps to itself and its listed base forms, as far as they are nouns;
2. otherwise the word itself and its one-step substitutions, as far as they are nouns;
3. if none is, substitutions of the substitutions, step by step, until a step yields nouns or no forms;
4. the lemma is the shortest of the forms found (the first of equal length), or the word itself.

WordNet is Debian's `wordnet-base`, opened offline by playpen_games.language.wordnet.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from playpen_games.engine import GameDefinitionError
from playpen_games.language import wordnet as wordnet_module

NOUN = "n"


def open_wordnet() -> Any:
    """The WordNet reader, or a GameDefinitionError that says how to install it."""
    try:
        return wordnet_module.open_wordnet(wordnet_module.DEBIAN_WORDNET)
    except wordnet_module.WordNetUnavailable as exc:
        raise GameDefinitionError(f"codenames checks clues against WordNet and cannot be played without it: "
                                  f"{exc}") from exc


class NounLemmatizer:
    """NLTK 3.8.1's `WordNetLemmatizer().lemmatize(word)` for nouns, over one WordNet reader."""

    def __init__(self, reader: Any):
        self._exceptions: dict[str, list[str]] = reader._exception_map[NOUN]
        self._rules: list[tuple[str, str]] = list(reader.MORPHOLOGICAL_SUBSTITUTIONS[NOUN])
        self._index: dict[str, dict[str, list[int]]] = reader._lemma_pos_offset_map
        self.lemma = lru_cache(maxsize=65536)(self._lemma)

    def _is_noun(self, form: str) -> bool:
        return NOUN in self._index.get(form, ())

    def _nouns(self, forms: list[str]) -> list[str]:
        return list(dict.fromkeys(form for form in forms if self._is_noun(form)))

    def _substitute(self, forms: list[str]) -> list[str]:
        return [form[: len(form) - len(old)] + new for form in forms for old, new in self._rules
                if form.endswith(old)]

    def analyses(self, word: str) -> list[str]:
        if word in self._exceptions:
            return self._nouns([word, *self._exceptions[word]])
        forms = self._substitute([word])
        found = self._nouns([word, *forms])
        while not found and forms:
            forms = self._substitute(forms)
            found = self._nouns(forms)
        return found

    def _lemma(self, word: str) -> str:
        found = self.analyses(word)
        return min(found, key=len) if found else word


@lru_cache(maxsize=1)
def noun_lemmatizer() -> NounLemmatizer:
    return NounLemmatizer(open_wordnet())
