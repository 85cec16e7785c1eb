"""Builds the two files the taboo experts read, from WordNet (Debian's wordnet-base); playing never needs it.

- data/expert_clues.json: for every target of our shipped taboo instances (and, with --clembench, of the
  official instance files there), a few clues taken from WordNet — the gloss of each of its first senses,
  "a kind of <broader term>", "also called <synonym>", then usage examples with the word blanked out — each
  free of the target and of every taboo word it is given with (a taboo word in a gloss becomes "something").
- data/guesser_lexicon.json.gz: the Guesser's reverse dictionary (experts/lexicon.py) over the English
  vocabulary it may guess from: every single-word, lowercase WordNet noun that the taboo generator could make
  a target (generator.candidates) and every other single-word lemma seen at least MIN_COUNT times in
  WordNet's sense-tagged corpus — not a list of targets.

Rerun after regenerating the taboo instances:

    python -m playpen_games.games.taboo.lexicon [--clembench ../shared/clembench]
"""

from __future__ import annotations

import argparse
import json
import re
from collections import defaultdict
from pathlib import Path
from typing import Any

from playpen_games.engine import GameResources
from playpen_games.games.taboo.expert import CLUES_FILE, LEXICON_FILE, usable_clue
from playpen_games.language import lexicon

MAX_SENSES = 3
MAX_CLUES = 6
MIN_COUNT = 5
INDEX_SENSES = 2


def clean_gloss(definition: str) -> str:
    text = re.sub(r"\([^)]*\)", " ", definition).split(";")[0]
    return " ".join(text.replace("`", "'").split()).strip(" ,.:")


def _senses(wordnet: Any, word: str) -> list[Any]:
    senses = [s for s in wordnet.synsets(word) if word in s.lemma_names()]
    return sorted(senses, key=lambda s: s.pos() != "n")[:MAX_SENSES]  # noun senses first, else WordNet order


def blanked_example(example: str, word: str) -> str | None:
    stem = lexicon.stem(word)
    tokens = example.split()
    kept = [("___" if lexicon.stem(re.sub(r"[^a-z]", "", token.lower())) == stem else token) for token in tokens]
    return f"as in: {' '.join(kept)}" if "___" in kept else None


def repaired(clue: str, word: str, related: list[str]) -> str | None:
    """The clue with every word too close to the target or a taboo word replaced by "something" (a gloss
    often uses a taboo word: the generator takes taboo words from the same entry), if that is enough."""
    kept = [token if usable_clue(token, word, related) else "something" for token in clue.split()]
    text = re.sub(r"\b(an?|the) something\b", "something", " ".join(kept))
    text = re.sub(r"\bsomething( something)+\b", "something", text)
    content = [t for t in re.findall(r"[a-z]+", text.lower()) if t not in ("something", "a", "an", "the", "of")]
    return text if len(content) >= 2 and usable_clue(text, word, related) else None


def clues_for(wordnet: Any, word: str, related: list[str]) -> list[str]:
    """Clues in order of use: per sense its gloss, then its broader term (or that term's gloss when the term
    itself is taboo) or a synonym; usage examples with the word blanked out come last."""
    found: list[str] = []
    examples: list[str] = []
    for sense in _senses(wordnet, word):
        gloss = repaired(clean_gloss(sense.definition()), word, related)
        options = [gloss] if gloss else []
        for hypernym in sense.hypernyms():
            name = hypernym.lemma_names()[0].replace("_", " ")
            options.append(f"a kind of {name}" if usable_clue(name, word, related)
                           else repaired(f"a kind of {clean_gloss(hypernym.definition())}", word, related))
        options += [f"also called {lemma.replace('_', ' ')}" for lemma in sense.lemma_names() if lemma != word]
        for option in options:
            if option and option not in found and usable_clue(option, word, related):
                found.append(option)
        examples += [e for e in (blanked_example(x, word) for x in sense.examples())
                     if e and usable_clue(e, word, related)]
    return (found + examples)[:MAX_CLUES]


def targets(paths: list[Path]) -> dict[str, list[str]]:
    """Every target word with the union of the taboo words it is given with."""
    related: dict[str, set[str]] = defaultdict(set)
    for path in paths:
        for experiment in json.loads(path.read_text(encoding="utf-8"))["experiments"]:
            for instance in experiment["game_instances"]:
                related[str(instance["target_word"])].update(map(str, instance["related_word"]))
    return {word: sorted(words) for word, words in sorted(related.items())}


def vocabulary(wordnet: Any) -> list[str]:
    from playpen_games.games.taboo.generator import candidates

    words = {word for band in candidates(wordnet).values() for word in band}
    for name in wordnet.all_lemma_names():
        if name.isalpha() and name.islower() and len(name) >= 3 and name not in words:
            if sum(lemma.count() for lemma in wordnet.lemmas(name)) >= MIN_COUNT:
                words.add(name)
    return sorted(words)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clembench", type=Path, help="a clembench checkout whose taboo targets to include")
    args = parser.parse_args()
    from playpen_games.language.wordnet import open_wordnet

    wordnet = open_wordnet()
    data = GameResources.of_package(__package__).packaged
    paths = sorted((data / "instances").glob("*.json"))
    if args.clembench is not None:
        paths += sorted((args.clembench / "taboo" / "in").glob("instances*.json"))
    clues = {word: clues_for(wordnet, word, related) for word, related in targets(paths).items()}
    document = {"source": f"WordNet 3.0 (Debian wordnet-base), first {MAX_SENSES} senses",
                "clues": {word: found for word, found in clues.items() if found}}
    (data / CLUES_FILE).write_text(json.dumps(document, indent=0, ensure_ascii=False) + "\n", encoding="utf-8")
    entries = {}
    for word in vocabulary(wordnet):
        stems = lexicon.wordnet_stems(wordnet, word, max_senses=INDEX_SENSES, hyponyms=0)
        if stems:
            entries[word] = stems
    lexicon.write(data / LEXICON_FILE, entries, source="WordNet 3.0 (Debian wordnet-base): glosses, synonyms "
                                                       f"and broader terms of the first {INDEX_SENSES} senses")
    print(f"clues for {len(document['clues'])} of {len(clues)} targets; {len(entries)} words in the lexicon")


if __name__ == "__main__":
    main()
