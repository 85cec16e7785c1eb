"""Playpen's own codenames instances: WordNet boards for clembench's experiment variables, our own prompts.

Thirteen experiments, named as clembench's: Risk (`risk_low`: no assassin, 8 innocent words; `risk_high`:
5 assassins, 3 innocent), Opponent Difficulty (`opponent_none`/`_easy`/`_difficult`: the opponent uncovers
0/1/2 words a turn), Word Frequency (`frequency_low`/`_high`), Word Ambiguity (`unambiguous`: one noun
sense and no other part of speech; `ambiguous`: six noun senses or more), Word Concreteness (`concrete`,
`abstract`) and Word Assignments (`association_easy`: every group of related words — a WordNet category —
belongs to one kind; `association_difficult`: the words of each group are spread over different kinds).
Unless the variable says otherwise a board has 9 team, 8 opponent, 7 innocent words and 1 assassin of
familiar words, and the opponent uncovers one word a turn. The flags are clembench's strict ones (only
STRIP WORDS). No two words on a board contain one another.

Disjoint splits: every word belongs to one split, by a hash of the word (1 in 10 test, 1 in 10 validation,
the rest train), and a board only uses words of its split — so splits share no board word, and no target.
The seed only changes which boards are drawn. Regenerating needs Debian's wordnet-base.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable
from dataclasses import dataclass

from playpen_games.games.codenames.board import ASSASSIN, INNOCENT, OPPONENT, TEAM
from playpen_games.games.codenames.protocol import FLAGS, STRIP_WORDS
from playpen_games.games.codenames.words import WordFacts, board_words

PER_EXPERIMENT = {"train": 20, "validation": 4, "test": 4}
KINDS = (TEAM, OPPONENT, INNOCENT, ASSASSIN)
STANDARD = {TEAM: 9, OPPONENT: 8, INNOCENT: 7, ASSASSIN: 1}
STRICT_FLAGS = {flag: flag == STRIP_WORDS for flag in FLAGS}

CLUEGIVER_FIRST = """\
You are the clue giver in a game of Codenames; your partner is the guesser. The board holds 25 words: some \
belong to your team, some to the opposing team, some are distractors and some are kill words. Your \
partner sees the words, but not which kind each one is.

Give a one-word clue that points your partner to one or more of your team's words, and list those target \
words. Your partner may then guess as many words as you listed. Guessing one of your team's words lets \
your partner go on; guessing an opponent word or a distractor ends the turn, and then the opposing team \
uncovers some of its own words; guessing a kill word loses the game at once. You win as soon as all your \
team's words are uncovered and lose when all the opponent words are.

The clue must be a single English word. It may not be a word on the board or a form of one (such as its \
plural), and no number may follow it.

Answer with exactly these two lines and nothing else:
CLUE: <your clue word>
TARGETS: <the team words your clue is meant for, separated by commas>

Your team's words: $team_words.
Opponent words: $opponent_words.
Distractors: $innocent_words.
Kill words: $assassin_words."""

CLUEGIVER_NEXT = """\
Now give your next clue for the team words that are still hidden, again as two lines: CLUE: with your \
word on the first, TARGETS: with the words it is meant for on the second. Uncovered words are no longer \
listed.

Your team's words: $team_words.
Opponent words: $opponent_words.
Distractors: $innocent_words.
Kill words: $assassin_words."""

GUESSER_FIRST = """\
You are the guesser in a game of Codenames. Your partner knows which of the words below belong to your \
team and gives you one-word clues. Guess the words the clue points to: at least 1 and at most $number \
words, the most likely first. They are uncovered in your order, and your turn ends at the first word \
that is not one of your team's.

The clue is '$clue'.

Hidden words: $board

Answer with one line that starts with "GUESS: " followed by your guesses separated by commas, e.g.
GUESS: <first word>, <second word>
Write nothing else."""

GUESSER_NEXT = """\
The new clue is '$clue'. Guess at least 1 and at most $number of the hidden words, the most likely first, \
on one line that starts with "GUESS: ".

Hidden words: $board"""

PROMPTS = {"cluegiver_initial": CLUEGIVER_FIRST, "cluegiver_next": CLUEGIVER_NEXT,
           "guesser_initial": GUESSER_FIRST, "guesser_next": GUESSER_NEXT}


def split_of(word: str) -> str:
    bucket = int(hashlib.sha256(f"codenames:{word}".encode()).hexdigest(), 16) % 10
    return "test" if bucket == 0 else "validation" if bucket == 1 else "train"


@dataclass(frozen=True)
class Experiment:
    name: str
    variable: str
    pool: Callable[[WordFacts], bool]
    sizes: dict[str, int]
    difficulty: int = 1
    generator: str = "random"


def _familiar(f: WordFacts) -> bool:
    return f.count >= 3


EXPERIMENTS = (
    Experiment("risk_low", "Risk", _familiar, {TEAM: 9, OPPONENT: 8, INNOCENT: 8, ASSASSIN: 0}),
    Experiment("risk_high", "Risk", _familiar, {TEAM: 9, OPPONENT: 8, INNOCENT: 3, ASSASSIN: 5}),
    Experiment("association_easy", "Word Assignments", lambda f: bool(f.category), STANDARD,
               generator="categories within kinds"),
    Experiment("association_difficult", "Word Assignments", lambda f: bool(f.category), STANDARD,
               generator="categories across kinds"),
    Experiment("opponent_none", "Opponent Difficulty", _familiar, STANDARD, difficulty=0),
    Experiment("opponent_easy", "Opponent Difficulty", _familiar, STANDARD, difficulty=1),
    Experiment("opponent_difficult", "Opponent Difficulty", _familiar, STANDARD, difficulty=2),
    Experiment("frequency_low", "Word Frequency", lambda f: 1 <= f.count <= 2, STANDARD),
    Experiment("frequency_high", "Word Frequency", lambda f: f.count >= 15, STANDARD),
    Experiment("unambiguous", "Word Ambiguity", lambda f: f.senses == 1 and not f.other_pos,
               STANDARD),
    Experiment("ambiguous", "Word Ambiguity", lambda f: f.senses >= 6, STANDARD),
    Experiment("concrete", "Word Concreteness", lambda f: f.count >= 2 and f.kind == "concrete", STANDARD),
    Experiment("abstract", "Word Concreteness", lambda f: f.count >= 2 and f.kind == "abstract", STANDARD),
)


def _fits(word: str, chosen: list[str]) -> bool:
    return all(word not in other and other not in word for other in chosen)


def _draw(pool: list[str], n: int, chosen: list[str], rng: random.Random) -> list[str]:
    """n words of the pool that fit with the chosen ones and each other (fewer if the pool runs out)."""
    picked: list[str] = []
    for word in rng.sample(pool, len(pool)):
        if _fits(word, chosen + picked):
            picked.append(word)
            if len(picked) == n:
                break
    return picked


def random_board(pool: list[str], sizes: dict[str, int], rng: random.Random) -> dict[str, list[str]]:
    words = _draw(pool, sum(sizes.values()), [], rng)
    if len(words) < sum(sizes.values()):
        raise ValueError(f"only {len(words)} compatible words for a board of {sum(sizes.values())}")
    groups, start = {}, 0
    for kind in KINDS:
        groups[kind] = words[start:start + sizes[kind]]
        start += sizes[kind]
    return groups


def category_board(categories: dict[str, list[str]], sizes: dict[str, int], rng: random.Random,
                   *, within_kinds: bool) -> dict[str, list[str]]:
    """Groups of 2-3 related words; within kinds, a group fills one kind; across kinds, a group's words go
    to different kinds wherever possible."""
    groups: dict[str, list[str]] = {kind: [] for kind in KINDS}
    chosen: list[str] = []
    unused = sorted(categories)
    rng.shuffle(unused)

    def missing(kind: str) -> int:
        return sizes[kind] - len(groups[kind])

    while any(missing(kind) for kind in KINDS):
        if not unused:
            raise ValueError("ran out of categories for a board")
        category = unused.pop()
        size = rng.choice((2, 3))
        if within_kinds:
            kind = next(k for k in KINDS if missing(k))
            words = _draw(categories[category], min(size, missing(kind)), chosen, rng)
            if len(words) < min(size, missing(kind), 2):
                continue
            groups[kind] += words
        else:
            open_kinds = [k for k in KINDS if missing(k)]
            words = _draw(categories[category], min(size, sum(missing(k) for k in open_kinds)), chosen, rng)
            if len(words) < min(2, sum(missing(k) for k in open_kinds)):
                continue
            for word in words:
                open_kinds = [k for k in KINDS if missing(k)]
                fresh = [k for k in open_kinds if not set(groups[k]) & set(words)] or open_kinds
                groups[rng.choice(fresh)].append(word)
        chosen += words
    return groups


def make_instance(game_id: int, groups: dict[str, list[str]], rng: random.Random) -> dict:
    board = [word for kind in KINDS for word in groups[kind]]
    rng.shuffle(board)
    assignments = {kind: rng.sample(groups[kind], len(groups[kind])) for kind in KINDS}
    return {"game_id": game_id, "board": board, "assignments": assignments}


def experiment_document(experiment: Experiment, split: str, seed: int) -> dict:
    facts = board_words()
    pool = [w for w, f in facts.items() if split_of(w) == split and experiment.pool(f)]
    categories: dict[str, list[str]] = {}
    for word in pool:
        categories.setdefault(facts[word].category, []).append(word)
    rng = random.Random(f"codenames:{seed}:{split}:{experiment.name}")
    instances: list[dict] = []
    seen: set[frozenset[str]] = set()
    while len(instances) < PER_EXPERIMENT[split]:
        if experiment.generator == "random":
            groups = random_board(pool, experiment.sizes, rng)
        else:
            groups = category_board(categories, experiment.sizes, rng,
                                    within_kinds=experiment.generator == "categories within kinds")
        key = frozenset(word for words in groups.values() for word in words)
        if key not in seen:
            seen.add(key)
            instances.append(make_instance(len(instances), groups, rng))
    return {
        "name": experiment.name, "variable": experiment.variable, "generator": experiment.generator,
        "opponent difficulty": experiment.difficulty, "assignments": dict(experiment.sizes),
        "flags": dict(STRICT_FLAGS), "prompts": dict(PROMPTS), "empty_list_text": "none",
        "game_instances": instances,
    }


def generate(split: str, seed: int) -> dict:
    if split not in PER_EXPERIMENT:
        raise ValueError(f"unknown split {split!r}")
    return {"experiments": [experiment_document(experiment, split, seed) for experiment in EXPERIMENTS]}
