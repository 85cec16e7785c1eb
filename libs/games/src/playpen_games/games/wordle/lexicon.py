"""Builds data/clue_lexicon.json, the reverse dictionary the expert Guesser reads clues with.

Entries: every word of the word lists of our shipped wordle instances (and, with --clembench, of the
official instance files found there) that WordNet knows, mapped to the stems of its first senses' glosses,
synonyms and related terms (experts/lexicon.wordnet_stems). Needs Debian's wordnet-base; playing does not.

    python -m playpen_games.games.wordle.lexicon [--clembench ../shared/clembench]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from playpen_games.engine import GameResources
from playpen_games.games.wordle.expert import LEXICON_FILE
from playpen_games.language import lexicon

MAX_SENSES = 3


def word_lists(paths: list[Path]) -> set[str]:
    words: set[str] = set()
    for path in paths:
        for experiment in json.loads(path.read_text(encoding="utf-8"))["experiments"]:
            keywords = experiment.get("lang_keywords") or {}
            words.update(keywords.get("official_words_list") or experiment.get("english_words") or [])
    return words


def build(clembench: Path | None = None) -> dict[str, set[str]]:
    from playpen_games.language.wordnet import open_wordnet

    wordnet = open_wordnet()
    paths = sorted((GameResources.of_package(__package__).packaged / "instances").glob("*.json"))
    if clembench is not None:
        paths += sorted((clembench / "wordle" / "in").glob("instances*.json"))
    entries = {}
    for word in sorted(word_lists(paths)):
        stems = lexicon.wordnet_stems(wordnet, word, max_senses=MAX_SENSES)
        if stems:
            entries[word] = stems
    return entries


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clembench", type=Path, help="a clembench checkout whose wordle word lists to include")
    args = parser.parse_args()
    target = GameResources.of_package(__package__).packaged / LEXICON_FILE
    entries = build(args.clembench)
    lexicon.write(target, entries, source="WordNet 3.0 (Debian wordnet-base), first "
                                          f"{MAX_SENSES} senses; words of the wordle word lists")
    print(f"{len(entries)} entries written to {target}")


if __name__ == "__main__":
    main()
