"""Expert players of taboo: a Describer that gives dictionary clues, and a Guesser that looks clues up in a
reverse dictionary.

What they read:
- the Describer: the target and its taboo words (`game.target`, `game.related`, both in its prompt), how many
  clues it has given (its turns in `game.turns`) and the shipped clue table data/expert_clues.json (WordNet
  glosses, broader terms, synonyms and blanked usage examples per target, built by lexicon.py);
- the Guesser: the clues it was given (the Describer's replies, exactly what its prompts showed), its own
  earlier guesses and the shipped reverse dictionary data/guesser_lexicon.json.gz over ~10,000 English
  words — never the target or the taboo words.

Describer: in round r gives the r-th clue for the target — the gloss of its main sense first, then the
others, in an order and with a framing ("it is ...") seeded by the episode — skipping any clue the game
would refuse (a word sharing a stem with the target or a taboo word) or that contains one of them. Once the
usable clues are spent it gives spelling hints (length and first letter, then the last, then the second...).
Guesser: ranks the dictionary's words by the idf-weighted stems they share with all clues so far, leaves out
its earlier guesses, words the clues themselves use (the Describer may not say the target) and words that
break a spelling hint (`6 letters starting with w`), and guesses the best one, ties broken by the seed.
"""

from __future__ import annotations

import random
import re
from functools import lru_cache

from playpen_games.engine import GameResources
from playpen_games.engine.runner import Request
from playpen_games.games.taboo.game import Taboo, taboo_violations
from playpen_games.language import lexicon
from playpen_games.language.lexicon import ReverseDictionary, content_stems

CLUES_FILE = "expert_clues.json"
LEXICON_FILE = "guesser_lexicon.json.gz"
DESCRIBER, GUESSER = "Describer", "Guesser"
FALLBACK_GUESSES = ("thing", "object", "person", "place", "idea")
FRAMES = ("{}", "it is {}", "this is {}", "{}")
BROADER_MATCHES = 3  # words a `kind of <description>` clue may describe
ORDINALS = ("first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth")


def usable_clue(clue: str, target: str, related: list[str]) -> bool:
    """Whether the game accepts the clue and it contains no form or piece of the target or a taboo word."""
    if taboo_violations(clue, target, related):
        return False
    tokens = re.findall(r"[a-z]+", clue.lower())
    forbidden = [word.lower() for word in (target, *related)]
    return not any(word in token or (len(token) >= 4 and token in word) for token in tokens for word in forbidden)


@lru_cache(maxsize=1)
def clue_table() -> dict[str, list[str]]:
    return dict(GameResources.of_package(__package__).packaged_json(CLUES_FILE)["clues"])


def guesser_lexicon() -> ReverseDictionary:
    return lexicon.load(GameResources.of_package(__package__).packaged / LEXICON_FILE)


def _rng(request: Request, *parts: object) -> random.Random:
    return random.Random("/".join(map(str, (request.episode_id, request.role, *parts))))


def describer(request: Request) -> str:
    game = request.game_state
    assert isinstance(game, Taboo)
    clues = [clue for clue in clue_table().get(game.target, []) if usable_clue(clue, game.target, game.related)]
    ordered = list(clues)
    rng = _rng(request)  # one seed for the whole episode: the order must not change between turns
    for index in range(1, len(ordered) - 1):  # the main gloss stays first; later neighbours may swap
        if rng.random() < 0.3:
            ordered[index], ordered[index + 1] = ordered[index + 1], ordered[index]
    hints = [hint for hint in spelling(game.target) if usable_clue(hint, game.target, game.related)]
    plan = ordered + hints
    given = sum(turn.role == DESCRIBER for turn in game.turns)
    clue = plan[given] if given < len(plan) else "think of something else"
    if clue in clues and not clue.startswith("as in"):  # a seeded framing varies the episodes of a group
        framed = rng.choice(FRAMES).format(clue)
        clue = framed if usable_clue(framed, game.target, game.related) else clue
    return f"CLUE: {clue}"


def spelling(word: str) -> list[str]:
    """Spelling hints, each adding to the last: for targets the clue table cannot describe."""
    hints = [f"a word of {len(word)} letters starting with {word[0]}", f"it ends with {word[-1]}"]
    return hints + [f"its {ORDINALS[i]} letter is {word[i]}" for i in range(1, min(len(word) - 1, len(ORDINALS)))]


def spelling_hints(clues: list[str]) -> dict[int, str] | None:
    """Letters the clues pin down — `starting with w` (index 0), `ends with t` (-1), `its third letter is
    a` — plus the length (`6 letters`) under key "length"; None when the clues say nothing about spelling."""
    found: dict = {}
    for clue in clues:
        text = clue.lower()
        if (match := re.search(r"\b(\d+) letters\b", text)):
            found["length"] = int(match.group(1))
        if (match := re.search(r"\bstart(?:s|ing)? with (?:the letter |an? )?[\"']?([a-z])\b", text)):
            found[0] = match.group(1)
        if (match := re.search(r"\bend(?:s|ing)? with (?:the letter |an? )?[\"']?([a-z])\b", text)):
            found[-1] = match.group(1)
        for ordinal, letter in re.findall(rf"\b({'|'.join(ORDINALS)}) letter is (?:an? )?[\"']?([a-z])\b", text):
            found[ORDINALS.index(ordinal)] = letter
    return found or None


def _spelled(word: str, hints: dict) -> bool:
    if "length" in hints and len(word) != hints["length"]:
        return False
    return all(key == "length" or (abs(key) < len(word) + (key < 0) and word[key] == letter)
               for key, letter in hints.items())


def kinds_of(clue: str, dictionary: ReverseDictionary, broader: set[str]) -> dict[str, float]:
    """For `a kind of <description>`: the words filed under the best matches of the description (their
    broader term). Those matches go into `broader` — the target is a kind of them, not one of them."""
    found = re.match(r"\s*(?:an?\s+)?(?:kind|type|sort) of\s+(.+)", clue, re.IGNORECASE)
    if not found or len(content_stems(found.group(1))) < 2:
        return {}
    bonus: dict[str, float] = {}
    for _, term in dictionary.rank(found.group(1))[:BROADER_MATCHES]:
        broader.add(term)
        term_stem = lexicon.stem(term)
        for word in dictionary.postings.get(term_stem, ()):
            bonus[word] = bonus.get(word, 0.0) + dictionary.idf[term_stem]
    return bonus


def guesser(request: Request) -> str:
    game = request.game_state
    assert isinstance(game, Taboo)
    clues = [turn.reply.replace("CLUE:", "") for turn in game.turns if turn.role == DESCRIBER]
    dictionary = guesser_lexicon()
    hints = spelling_hints(clues)
    totals: dict[str, float] = {}
    broader: set[str] = set()
    for clue in clues:
        for word, score in dictionary.scores(clue).items():
            totals[word] = totals.get(word, 0.0) + score
        for word, score in kinds_of(clue, dictionary, broader).items():
            totals[word] = totals.get(word, 0.0) + score
    if hints:  # spelling hints also admit words no clue describes
        for word in dictionary.entries:
            totals.setdefault(word, 0.0)
    said = {lexicon.stem(token) for clue in clues for token in re.findall(r"[a-z]+", clue.lower())}
    excluded = set(game.guesses)
    ranked = [(score, word) for word, score in totals.items()
              if word not in excluded and word not in broader and lexicon.stem(word) not in said
              and (not hints or _spelled(word, hints))]
    rng = _rng(request, len(game.guesses))
    if not ranked:
        return f"GUESS: {rng.choice([w for w in FALLBACK_GUESSES if w not in excluded] or ['something'])}"
    best = max(score for score, _ in ranked)
    return f"GUESS: {rng.choice(sorted(word for score, word in ranked if score >= best - 1e-9))}"


EXPERTS = {"taboo": {DESCRIBER: describer, GUESSER: guesser}}
