"""Board words for our own codenames instances, derived from WordNet's nouns (used when generating only).

A candidate is a lowercase, purely alphabetic noun of 3 to 10 letters with some corpus frequency, that
is not a proper name, whose only noun analysis is itself (so no plural such as `glasses`, whose lemma is
`glass`), that is not an inflected verb (`eating`) and whose senses carry no offensive label. For each we
note:

- `count`: WordNet's sense-tagged corpus frequency of the noun, our measure of familiarity;
- `senses`: how many noun senses it has, and whether it is also a verb, adjective or adverb (ambiguity);
- `kind`: concrete or abstract, from the lexicographer file of its first sense (animals, artifacts,
  food... versus feelings, cognition, states...);
- `category`: the most specific hypernym of its first sense that groups 8 to 60 familiar candidates, for
  boards whose words come in related groups.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from playpen_games.games.codenames.lemmas import NounLemmatizer, open_wordnet

_BLOCKED_GLOSS = re.compile(r"\b(obscene|vulgar|offensive|derogatory|slang|disparaging|ethnic slur)\b")
CONCRETE = frozenset({"noun.animal", "noun.artifact", "noun.body", "noun.food", "noun.object", "noun.plant",
                      "noun.substance"})
ABSTRACT = frozenset({"noun.act", "noun.attribute", "noun.cognition", "noun.communication", "noun.event",
                      "noun.feeling", "noun.motive", "noun.relation", "noun.state", "noun.time"})
CATEGORY_SIZE = (8, 60)
CATEGORY_MIN_DEPTH = 4
CATEGORY_MIN_COUNT = 2  # only words seen at least twice in the corpus shape and join categories


@dataclass(frozen=True)
class WordFacts:
    word: str
    count: int
    senses: int
    other_pos: bool
    kind: str  # "concrete", "abstract" or ""
    category: str  # a synset name, or "" when no category fits


def _hypernyms(synset: Any) -> list[Any]:
    return sorted(synset.closure(lambda s: s.hypernyms() + s.instance_hypernyms()), key=lambda s: s.name())


def noun_counts(wordnet: Any) -> dict[str, int]:
    """Sense-tagged corpus frequency of each noun: the counts of its noun senses in `cntlist.rev`."""
    counts: dict[str, int] = defaultdict(int)
    with wordnet.open("cntlist.rev") as lines:
        for line in lines:
            key, _, count = line.split()
            name, _, sense = key.partition("%")
            if sense.startswith("1:"):
                counts[name] += int(count)
    return dict(counts)


def _candidate(wordnet: Any, lemmatizer: NounLemmatizer, name: str) -> bool:
    if not (name.isalpha() and name.islower() and 3 <= len(name) <= 10):
        return False
    if lemmatizer.analyses(name) != [name]:
        return False
    verb_forms = wordnet._morphy(name, "v")
    if verb_forms and name not in verb_forms:  # an inflected verb (eating, killing), not a noun in its own right
        return False
    lemmas = wordnet.lemmas(name, "n")
    if not lemmas or lemmas[0].name()[0].isupper():
        return False
    return not any(_BLOCKED_GLOSS.search(s.definition()) for s in wordnet.synsets(name, "n"))


@lru_cache(maxsize=1)
def board_words() -> dict[str, WordFacts]:
    """Every candidate word with some corpus frequency, with its facts, in alphabetical order."""
    wordnet = open_wordnet()
    lemmatizer = NounLemmatizer(wordnet)
    counts = noun_counts(wordnet)
    names = [name for name in sorted(counts) if counts[name] >= 1 and _candidate(wordnet, lemmatizer, name)]
    first = {name: wordnet.synsets(name, "n")[0] for name in names}

    members: dict[str, set[str]] = defaultdict(set)
    depth: dict[str, int] = {}
    for name in names:
        if counts[name] < CATEGORY_MIN_COUNT:
            continue
        for synset in _hypernyms(first[name]):
            members[synset.name()].add(name)
            depth[synset.name()] = synset.min_depth()
    low, high = CATEGORY_SIZE
    usable = {s for s, words in members.items() if low <= len(words) <= high and depth[s] >= CATEGORY_MIN_DEPTH}

    facts = {}
    index = wordnet._lemma_pos_offset_map
    for name in names:
        ancestors = ([s.name() for s in _hypernyms(first[name]) if s.name() in usable]
                     if counts[name] >= CATEGORY_MIN_COUNT else [])
        # the most specific: deepest, then smallest, then by name for a stable choice
        category = min(ancestors, key=lambda s: (-depth[s], len(members[s]), s), default="")
        lexname = first[name].lexname()
        kind = "concrete" if lexname in CONCRETE else "abstract" if lexname in ABSTRACT else ""
        other_pos = any(pos in index[name] for pos in ("v", "a", "s", "r"))
        facts[name] = WordFacts(name, counts[name], len(index[name]["n"]), other_pos, kind, category)
    return facts
