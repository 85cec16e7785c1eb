"""Codenames: reply checks, the turn and its end, the mocked opponent, clembench's scores (v2.0), parity with
recorded episodes, official and held-out instances, and our generated splits.

Rule tests use a small hand-made board; WordNet (Debian's wordnet-base) is needed for the clue check."""

from __future__ import annotations

import asyncio
import json
import math
from pathlib import Path

import pytest

from playpen_games.engine import GameDefinitionError, Outcome, TurnStatus
from playpen_games.engine.runner import EpisodeResult, EpisodeStatus, Reply, Request, play_episode
from playpen_games.games.codenames import Codenames, generator, lemmas
from playpen_games.games.codenames.lemmas import NounLemmatizer
from playpen_games.games.codenames.protocol import FLAGS, STRIP_WORDS
from playpen_games.instances import SPLITS, GameInstance, load_instance_file
from playpen_games.instances.generated import DEFAULT_SEED, generated_instances
from playpen_games.language import wordnet
from playpen_games.registry import game_spec
from playpen_games.replay import replay_fixture

from ...conftest import shared_dir

TEAM = ["apple", "river", "piano"]
OPPONENT = ["tiger", "cloud"]
INNOCENT = ["chair", "lamp"]
ASSASSIN = ["ghost"]
BOARD = ["chair", "apple", "tiger", "ghost", "river", "lamp", "cloud", "piano"]
STRICT = {flag: flag == STRIP_WORDS for flag in FLAGS}
GENEROUS = {flag: True for flag in FLAGS}


def experiment(**changes) -> dict:
    return {"name": "toy", "variable": "Toy", "opponent difficulty": 1,
            "assignments": {"team": 3, "opponent": 2, "innocent": 2, "assassin": 1},
            "flags": STRICT, "prompts": generator.PROMPTS, **changes}


def new_game(reveals: list[list[str]] | None = None, **changes) -> Codenames:
    instance = {"game_id": 0, "board": BOARD,
                "assignments": {"team": TEAM, "opponent": OPPONENT, "innocent": INNOCENT, "assassin": ASSASSIN}}
    if reveals is not None:
        instance["opponent_reveals"] = reveals
    return Codenames(experiment(**changes), instance, game_spec("codenames").resources())


class Script:
    def __init__(self, replies: list[str]):
        self.replies, self.prompts = list(replies), []

    async def respond(self, request: Request) -> Reply:
        self.prompts.append(request.messages)
        return Reply(self.replies.pop(0))


def play(game: Codenames, clues: list[str], guesses: list[str]) -> EpisodeResult:
    scripts = {"ClueGiver": Script(clues), "Guesser": Script(guesses)}
    result = asyncio.run(play_episode(game, scripts, episode_id="test"))
    assert result.status is EpisodeStatus.COMPLETED, result.error
    assert not scripts["ClueGiver"].replies and not scripts["Guesser"].replies, "replies left over"
    return result


class Greedy:
    """A valid team: an unrelated clue for the first two hidden team words, then exactly those guesses."""

    def __init__(self, game: Codenames):
        self.game = game

    async def respond(self, request: Request) -> Reply:
        if request.role == "ClueGiver":
            return Reply(f"CLUE: zzyzx\nTARGETS: {', '.join(self.game.board.hidden_of('team')[:2])}")
        assert self.game.clue is not None
        return Reply("GUESS: " + ", ".join(self.game.clue.targets))


def play_greedy(game: Codenames) -> EpisodeResult:
    player = Greedy(game)
    return asyncio.run(play_episode(game, {"ClueGiver": player, "Guesser": player}, episode_id="greedy"))


# --------------------------------------------------------------------------- the ClueGiver's reply

@pytest.mark.parametrize("reply, status", [
    ("CLUE: fruit\nTARGETS: apple\nThanks!", TurnStatus.PARSE_ERROR),  # more than two lines
    ("clue: fruit\nTARGETS: apple", TurnStatus.PARSE_ERROR),  # the prefix is case-sensitive
    ("CLUE: fruit", TurnStatus.PARSE_ERROR),  # no TARGETS line
    ("CLUE:fruit\nTARGETS: apple", TurnStatus.PARSE_ERROR),  # the space belongs to the prefix
    ("CLUE: fruit, 1\nTARGETS: apple", TurnStatus.PARSE_ERROR),  # a number of targets
    ("CLUE: red fruit\nTARGETS: apple", TurnStatus.RULE_VIOLATION),  # not one word
    ("CLUE: Apple\nTARGETS: river", TurnStatus.RULE_VIOLATION),  # a board word
    ("CLUE: apples\nTARGETS: apple", TurnStatus.RULE_VIOLATION),  # same WordNet lemma as a board word
    ("CLUE: fruit\nTARGETS: banana", TurnStatus.RULE_VIOLATION),  # not on the board
    ("CLUE: fruit\nTARGETS: apple, apple", TurnStatus.RULE_VIOLATION),  # named twice
])
def test_invalid_clue_aborts_at_once(reply: str, status: TurnStatus) -> None:
    result = play(new_game(), [reply], [])
    assert result.outcome is Outcome.ABORTED
    assert result.turns[-1].status is status
    scores = result.scores.episode
    assert (scores["Aborted"], scores["Success"], scores["Lose"]) == (1, 0, 0)
    assert math.isnan(scores["Main Score"])
    assert (scores["Request Count"], scores["Parsed Request Count"], scores["Violated Request Count"]) == (1, 0, 1)
    assert scores["Number of turns"] == 1 and scores["Efficiency"] == 0


def test_clue_is_stripped_lowercased_and_commas_spaced() -> None:
    game = new_game()
    game.step('CLUE: "Fruit."\nTARGETS: Apple,piano. ')
    assert game.clue.word == "fruit" and game.clue.targets == ["apple", "piano"]
    assert game.record.engaged["Cluegiver"][STRIP_WORDS] == 2  # the clue and one target had characters to strip
    guesser_prompt = game.current_player.prompt()[-1]["content"]
    assert "'fruit'" in guesser_prompt and "at most 2 words" in guesser_prompt


def test_clue_digits_are_dropped_when_played() -> None:
    game = new_game()
    game.step("CLUE: fruit2\nTARGETS: apple")
    assert game.clue.word == "fruit"  # checked as "fruit2", played without the digit, as clembench does


# --------------------------------------------------------------------------- the Guesser's reply and the turn

@pytest.mark.parametrize("reply", [
    "GUESS: apple\n<end_of_turn>",  # a second line
    "Guess: apple",
    "GUESS: apple, river, piano",  # more guesses than targets
    "GUESS: fruit",  # the clue itself
    "GUESS: banana",
    "GUESS: apple, apple",
])
def test_invalid_guesses_abort(reply: str) -> None:
    result = play(new_game(), ["CLUE: fruit\nTARGETS: apple, piano"], [reply])
    assert result.outcome is Outcome.ABORTED
    scores = result.scores.episode
    assert scores["Request Count"] == 2 and scores["Violated Request Count"] == 1
    assert scores["Average Guesser Number of Guesses"] == 0 and math.isnan(scores["Main Score"])


def test_turn_ends_at_first_wrong_word_and_the_opponent_moves() -> None:
    game = new_game(reveals=[["cloud"]])
    game.step("CLUE: fruit\nTARGETS: apple, piano, river")
    game.step("GUESS: apple, lamp, piano")
    assert game.board.revealed["team"]["team"] == ["apple"]
    assert game.board.revealed["team"]["innocent"] == ["lamp"]
    assert "piano" in game.board.remaining()  # ignored after the wrong guess
    assert game.board.revealed["opponent"]["opponent"] == ["cloud"]
    assert game.current_player.role == "ClueGiver" and game.round_index == 1
    prompt = game.current_player.prompt()[-1]["content"]
    assert "apple (your team's word); lamp (distractor word)" in prompt
    # written before the opponent's move, as in clembench: the opponent word it took is still listed
    assert "Opponent words: tiger, cloud." in prompt


def test_assassin_loses_at_once() -> None:
    result = play(new_game(reveals=[]), ["CLUE: spooky\nTARGETS: apple"], ["GUESS: ghost"])
    scores = result.scores.episode
    assert result.outcome is Outcome.LOSE
    assert (scores["Lose"], scores["Success"], scores["Game ended through assassin"], scores["Main Score"]) == \
        (1, 0, 1, 0)


def test_last_team_word_wins_even_before_the_assassin() -> None:
    result = play(new_game(reveals=[["tiger"]]),
                  ["CLUE: fruit\nTARGETS: apple, river", "CLUE: music\nTARGETS: piano, lamp"],
                  ["GUESS: apple, river", "GUESS: piano, ghost"])
    scores = result.scores.episode
    assert result.outcome is Outcome.SUCCESS
    assert (scores["Success"], scores["Main Score"], scores["Game ended through assassin"]) == (1, 100, 0)
    assert scores["Number of turns"] == 2 and scores["Episode Recall"] == 1.0
    assert scores["Episode Negative Recall"] == 0.8  # 1 - ghost / 5 non-team words


def test_opponent_winning_on_its_move_ends_the_game() -> None:
    result = play(new_game(reveals=[["tiger"]]), ["CLUE: music\nTARGETS: piano"], ["GUESS: cloud"])
    assert result.outcome is Outcome.LOSE
    scores = result.scores.episode
    assert scores["Number of turns"] == 1 and scores["Game ended through assassin"] == 0


def test_random_opponent_reveals_its_own_words_reproducibly() -> None:
    def opponent_moves() -> list[str]:
        game = new_game(**{"opponent difficulty": 2})
        game.step("CLUE: fruit\nTARGETS: apple")
        game.step("GUESS: apple")
        return game.board.revealed["opponent"]["opponent"]

    first = opponent_moves()
    assert sorted(first) == sorted(OPPONENT) and opponent_moves() == first


def test_opponent_none_never_moves() -> None:
    game = new_game(**{"opponent difficulty": 0})
    for word in ("lamp", "chair"):
        game.step(f"CLUE: zzyzx\nTARGETS: {word}")
        game.step(f"GUESS: {word}")
    assert game.board.revealed_by("opponent") == [] and game.round_index == 2


def test_recorded_opponent_moves_must_fit() -> None:
    game = new_game(reveals=[["apple"]])
    game.step("CLUE: music\nTARGETS: piano")
    with pytest.raises(Exception, match="not 1 hidden opponent word"):
        game.step("GUESS: piano")


# --------------------------------------------------------------------------- flags and scores

def test_generous_flags_soften_checks_and_are_counted() -> None:
    game = new_game(flags=GENEROUS, **{"opponent difficulty": 0})
    game.step("CLUE: fruit\nTARGETS: apple, banana\n\nI hope this helps")
    assert game.clue.targets == ["apple"]  # the hallucinated target is dropped
    game.step("Sure!\nGUESS: apple")
    assert game.board.revealed["team"]["team"] == ["apple"]
    scores = game.score().episode
    assert scores["Cluegiver ignore rambling"] == 1 and scores["Guesser ignore rambling"] == 1
    assert scores["Cluegiver ignore false targets or guesses"] == 1
    assert list(scores)[2:4] == ["Cluegiver ignore rambling", "Guesser ignore rambling"]


def test_reprompt_flag_is_counted_but_the_game_still_aborts() -> None:
    result = play(new_game(flags=GENEROUS), ["CLUE: red fruit\nTARGETS: apple"], [])
    assert result.outcome is Outcome.ABORTED
    assert result.scores.episode["Cluegiver reprompt on error"] == 1


def test_turn_and_episode_scores_by_hand() -> None:
    result = play(new_game(reveals=[["tiger"], ["cloud"]]),
                  ["CLUE: fruit\nTARGETS: apple, river, tiger", "CLUE: tune\nTARGETS: piano"],
                  ["GUESS: apple, river, chair", "GUESS: lamp"])
    assert result.outcome is Outcome.LOSE  # the opponent's second move uncovers its last word
    first, second = result.scores.rounds
    assert first["Cluegiver Team Precision"] == 0.667 and first["Cluegiver Team Recall"] == 0.667
    assert first["Guesser Number of Revealed Words"] == 3 and first["Guesser Target Precision"] == 0.667
    assert second["Guesser Team Recall"] == 0.0 and second["Cluegiver Team Recall"] == 1.0
    scores = result.scores.episode
    assert scores["Average Cluegiver Team Recall"] == 0.834  # mean of the rounded 0.667 and 1.0, rounded
    assert scores["Average Guesser Number of Guesses"] == 2 and scores["Efficiency"] == 1
    assert scores["Number of turns"] == 2 and scores["Main Score"] == 0
    assert scores["Episode Recall"] == 0.667 and scores["Episode Negative Recall"] == 0.6


# --------------------------------------------------------------------------- WordNet

def test_lemmas_follow_nltk_3_8_1() -> None:
    lemma = lemmas.noun_lemmatizer().lemma
    assert lemma("geese") == "goose" and lemma("glasses") == "glass" and lemma("zzyzx") == "zzyzx"
    assert lemma("dogses") == "dog"  # suffixes substituted twice; newer NLTK gives up after one step


def test_without_wordnet_the_game_says_so(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(wordnet, "DEBIAN_WORDNET", tmp_path)
    monkeypatch.setattr(lemmas, "noun_lemmatizer", lambda: NounLemmatizer(lemmas.open_wordnet()))
    with pytest.raises(GameDefinitionError, match="WordNet"):
        new_game()


# --------------------------------------------------------------------------- recorded and official instances

PARITY = sorted((shared_dir() / "parity" / "codenames").glob("*.json"))
HOLDOUT = sorted((shared_dir() / "holdout-instances" / "codenames").glob("*.json"))


@pytest.mark.parametrize("path", PARITY, ids=lambda p: p.stem)
def test_recorded_episode_replays_to_its_official_scores(path: Path, clembench: Path) -> None:
    outcome = replay_fixture(json.loads(path.read_text()), clembench, name=path.name)
    assert not outcome.divergence and not outcome.mismatches, (outcome.divergence, outcome.mismatches)


def test_replay_diverges_when_the_recorded_opponent_moves_do_not_fit(clembench: Path) -> None:
    fixture = json.loads((shared_dir() / "parity" / "codenames" / "llama8b_riskhigh_3.json").read_text())
    assert fixture["opponent_reveals"], "the fixture should record opponent moves"
    fixture["opponent_reveals"] = fixture["opponent_reveals"][:-1]
    assert "no more opponent reveals" in replay_fixture(fixture, clembench).divergence


def test_parity_corpus_has_codenames(shared: Path) -> None:
    assert len(PARITY) >= 7 and len(HOLDOUT) >= 3


@pytest.mark.parametrize("path", HOLDOUT, ids=lambda p: p.stem)
def test_holdout_instances_play_without_engine_errors(path: Path, clembench: Path) -> None:
    data = json.loads(path.read_text())
    instance = GameInstance("codenames", data["experiment"], data["instance"], "holdout", path.name,
                            clembench / "codenames")
    junk = Script(["I think the answer is 42."])
    result = asyncio.run(play_episode(instance.build(), {"ClueGiver": junk, "Guesser": junk}, episode_id="h"))
    assert result.status is EpisodeStatus.COMPLETED and result.outcome is Outcome.ABORTED
    result = play_greedy(instance.build())
    assert result.status is EpisodeStatus.COMPLETED and result.outcome in (Outcome.SUCCESS, Outcome.LOSE)


def test_every_official_instance_file_loads_and_plays(clembench: Path) -> None:
    files = sorted((clembench / "codenames" / "in").glob("*.json"))
    assert len(files) >= 4
    for path in files:
        instances = load_instance_file("codenames", path)
        assert len(instances) == 130
        games = [i.build() for i in instances]  # every instance builds
        for game in games[::10]:
            result = play_greedy(game)
            assert result.status is EpisodeStatus.COMPLETED, (path.name, result.error)
            assert result.outcome is not Outcome.ABORTED


# --------------------------------------------------------------------------- our generated splits

def test_generated_splits_play_and_share_no_word() -> None:
    words = {}
    for split in SPLITS:
        instances = generated_instances("codenames", split)
        assert len(instances) == 13 * generator.PER_EXPERIMENT[split]
        words[split] = {w for i in instances for w in i.instance["board"]}
        assert all(generator.split_of(w) == split for w in words[split])
        for instance in instances[::7]:
            result = play_greedy(instance.build())
            assert result.status is EpisodeStatus.COMPLETED and result.outcome is not Outcome.ABORTED
    assert not words["train"] & words["test"] and not words["train"] & words["validation"]
    assert not words["validation"] & words["test"]


def test_shipped_test_split_is_what_the_generator_makes() -> None:
    shipped = [(i.experiment, i.instance) for i in generated_instances("codenames", "test")]
    document = generator.generate("test", DEFAULT_SEED)
    made = [({k: v for k, v in e.items() if k != "game_instances"}, i)
            for e in document["experiments"] for i in e["game_instances"]]
    assert made == shipped
