"""Guess What?: question, guess and answer formats, forbidden questions, turn limit, Speed and clembench's score
keys; parity replay, official and held-out instances (shared data); our generated splits."""

from __future__ import annotations

import asyncio
import json
import math
import random
from pathlib import Path

import pytest

from playpen_games.engine import GameDefinitionError, Outcome, TurnStatus
from playpen_games.engine.runner import EpisodeStatus, Reply, Request, play_episode
from playpen_games.games.guesswhat import GuessWhat, generator
from playpen_games.games.guesswhat.scoring import speed
from playpen_games.instances import SPLITS, GameInstance, load_instance_file
from playpen_games.instances.generated import generated_instances, shipped_file
from playpen_games.registry import game_spec
from playpen_games.replay import replay_fixture

GUESSER, ANSWERER = "Guesser", "Answerer"
WORDS = ["Copper", "Lead", "Pepsi", "Lemonade", "Carbon", "Gold", "Chair", "Dresser"]
INVALID_KEYS = ("Invalid format guesser response", "Invalid format answerer response",
                "Invalid content guesser response", "Invalid content answerer response")


def experiment(**changes) -> dict:
    return {**generator.experiment_settings("Level_1"), **changes}


def new_game(target: str = "Pepsi", **changes) -> GuessWhat:
    return GuessWhat(experiment(**changes), {"game_id": 0, "target_word": target, "candidate_list": WORDS})


def play(replies: list[str], **kwargs) -> GuessWhat:
    game = new_game(**kwargs)
    for reply in replies:
        assert not game.done, "the game ended before all replies were used"
        game.step(reply)
    return game


def rounds_then_guess(questions: int, guess: str = "Pepsi") -> list[str]:
    return ["QUESTION: Is it a drink?", "ANSWER: yes"] * questions + [f"GUESS: {guess}"]


def invalid_counts(game: GuessWhat) -> tuple[int, ...]:
    episode = game.score().episode
    return tuple(episode[key] for key in INVALID_KEYS)


# ------------------------------------------------------------------ rules


def test_quick_success_scores_like_clembench() -> None:
    game = play(rounds_then_guess(3, "pepsi."))
    assert game.outcome is Outcome.SUCCESS
    assert [t.role for t in game.turns] == [GUESSER, ANSWERER] * 3 + [GUESSER]  # no Answerer after a guess
    scores = game.score()
    assert scores.episode == {
        "Violated Request Count": 0, "Parsed Request Count": 4, "Request Count": 4, "Request Success Ratio": 1.0,
        "Aborted": 0, "Success": 1, "Lose": 0, "Speed": 100, "Main Score": 100,
        **dict.fromkeys(INVALID_KEYS, 0)}
    assert [r["Accuracy"] for r in scores.rounds] == [0, 0, 0, 1]
    assert all(r["Request Count"] == 1 and r["Parsed Request Count"] == 1 for r in scores.rounds)


@pytest.mark.parametrize(("rounds", "expected"), [(1, 100), (5, 100), (6, 200 / 3), (7, 100 / 3), (8, 0)])
def test_speed_falls_after_five_rounds(rounds: int, expected: float) -> None:
    game = play(rounds_then_guess(rounds - 1))
    episode = game.score().episode
    assert episode["Request Count"] == rounds and episode["Success"] == 1
    assert episode["Speed"] == pytest.approx(expected) and episode["Main Score"] == pytest.approx(expected)
    assert speed(rounds, 8) == pytest.approx(expected)


def test_wrong_guess_loses_without_speed() -> None:
    game = play(rounds_then_guess(2, "Lemonade"))
    assert game.outcome is Outcome.LOSE
    episode = game.score().episode
    assert (episode["Success"], episode["Lose"], episode["Main Score"], episode["Aborted"]) == (0, 1, 0, 0)
    assert "Speed" not in episode


def test_max_turns_rounds_without_a_guess_lose() -> None:
    game = play(["QUESTION: Is it a drink?", "ANSWER: no"] * 8)
    assert game.outcome is Outcome.LOSE and game.round_index == 7
    episode = game.score().episode
    assert (episode["Request Count"], episode["Main Score"], episode["Lose"]) == (8, 0, 1)
    assert game.current_round.has("max turns reached")


def test_prompts_list_the_candidates_and_merge_the_first_question() -> None:
    game = play(rounds_then_guess(2))
    guesser_prompt = game.turns[0].messages[-1]["content"]
    assert str(WORDS) in guesser_prompt and "up to 7 questions" in guesser_prompt
    answerer_first = game.turns[1].messages
    assert len(answerer_first) == 1
    assert answerer_first[0]["content"].endswith("The secret word: Pepsi\n\nQUESTION: Is it a drink?")
    assert game.turns[2].messages[-1]["content"] == "ANSWER: yes"
    assert game.turns[3].messages[-1]["content"] == "QUESTION: Is it a drink?"  # no instructions again


@pytest.mark.parametrize("reply", [
    "Is it a drink?", " QUESTION: Is it a drink?", "question: Is it a drink?", "QUESTION:Is it? QUESTION: Or?",
    "QUESTION: Is it a drink? \n<end_of_turn>", "QUESTION: Is it a drink? Or a metal?", "QUESTION: Is it?? ",
    "GUESS: diet pepsi", "Let me think.\nQUESTION: Is it a drink?"])
def test_malformed_guesser_replies_abort(reply: str) -> None:
    game = play([reply])
    assert game.outcome is Outcome.ABORTED and game.turns[-1].status is TurnStatus.PARSE_ERROR
    episode = game.score().episode
    assert math.isnan(episode["Main Score"]) and episode["Aborted"] == 1
    assert "Success" not in episode and "Lose" not in episode and "Speed" not in episode
    assert invalid_counts(game) == (1, 0, 0, 0)
    assert (episode["Request Count"], episode["Violated Request Count"], episode["Request Success Ratio"]) == (1, 1, 0)


@pytest.mark.parametrize("reply", ["QUESTION: Is it a drink", "QUESTION: Is it a drink?  ", "QUESTION: Is it\n?"])
def test_question_mark_rules(reply: str) -> None:
    assert not play([reply]).done  # no mark, trailing whitespace, or a line break before the mark are fine


@pytest.mark.parametrize(("reply", "target", "outcome"), [
    ("GUESS: Pepsi!", "Pepsi", Outcome.SUCCESS), ("GUESS:   PEPSI  ", "Pepsi", Outcome.SUCCESS),
    ("GUESS: Pepsi<|im_end|>", "Pepsi", Outcome.LOSE),  # punctuation goes, the letters of the token stay
    ("GUESS: Two-step", "Two-step", Outcome.LOSE),  # the hyphen is removed from the guess, not the target
    ("GUESS:", "Pepsi", Outcome.LOSE)])
def test_guess_normalisation(reply: str, target: str, outcome: Outcome) -> None:
    assert play([reply], target=target).outcome is outcome


@pytest.mark.parametrize("question", [
    "Does it start with the letter P?", "Does the secret word have 5 letters?", "Does it have two syllables?",
    "Is it a noun?", "Is the target word an adjective?", "What is its first letter?"])
def test_forbidden_questions_abort_as_content_errors(question: str) -> None:
    game = play(["QUESTION: Is it a drink?", "ANSWER: yes", f"QUESTION: {question}"])
    assert game.outcome is Outcome.ABORTED and game.turns[-1].status is TurnStatus.RULE_VIOLATION
    episode = game.score().episode
    assert (episode["Request Count"], episode["Parsed Request Count"], episode["Violated Request Count"]) == (2, 1, 1)
    assert invalid_counts(game) == (0, 0, 1, 0)


def test_patterns_are_case_sensitive_on_the_lowercased_question() -> None:
    rules = experiment(syllable_question_pattern="SYLLABLE", letter_based_pattern=r"^is it")
    assert not play(["QUESTION: Does it have SYLLABLES?"], **rules).done  # the question is lowercased
    assert not play(["QUESTION: So, is it red?"], **rules).done  # `match` patterns must start the question
    assert play(["QUESTION: Does it SYLLABLE?"], **{**rules, "syllable_question_pattern": "syllable"}).done


def test_invalid_answer_aborts_at_the_answerer() -> None:
    for reply in ["ANSWER: yes\n", "answer: yes", "ANSWER: Yes, it is.", "ANSWER: yes<end_of_turn>"]:
        game = play(["QUESTION: Is it a drink?", reply])
        assert game.outcome is Outcome.ABORTED
        assert invalid_counts(game) == (0, 1, 0, 0)
        assert game.score().episode["Request Count"] == 1


def test_malformed_experiments_are_rejected() -> None:
    with pytest.raises(GameDefinitionError):
        new_game(answer_variations=[])
    with pytest.raises(GameDefinitionError):
        new_game(syllable_question_pattern="(unclosed")
    with pytest.raises(GameDefinitionError):
        GuessWhat(experiment(), {"game_id": 0, "target_word": "x"})


# ------------------------------------------------------------------ players for whole episodes


class Oracle:
    """Guesser: asks about each other candidate in turn, then guesses; Answerer: truthful."""

    def __init__(self, game: GuessWhat, questions: int = 3):
        self.game, self.questions = game, questions

    async def respond(self, request: Request) -> Reply:
        game = self.game
        if request.role == ANSWERER:
            asked = game.turns[-1].reply.lower()
            return Reply("ANSWER: yes" if game.target.lower() in asked else "ANSWER: no")
        others = [w for w in game.candidates if w != game.target]
        if game.round_index < min(self.questions, game.max_turns - 1):
            return Reply(f"QUESTION: Is it something like {others[game.round_index % len(others)]}?")
        return Reply(f"GUESS: {game.target}")


class Junk:
    """Seeded replies, some valid, most not."""

    def __init__(self, seed: int, candidates: list[str]):
        self.rng = random.Random(seed)
        self.replies = ["QUESTION: Is it alive?", "QUESTION: Is it big? No?", "GUESS: something else",
                        *(f"GUESS: {w}" for w in candidates), "ANSWER: no", "ANSWER: Yes.", "", "maybe",
                        "QUESTION: How many letters does it have?", "QUESTION: Is it the word 'x'?"]

    async def respond(self, request: Request) -> Reply:
        return Reply(self.rng.choice(self.replies))


def run(game: GuessWhat, guesser, answerer) -> GuessWhat:
    result = asyncio.run(play_episode(game, {GUESSER: guesser, ANSWERER: answerer}, episode_id="t"))
    assert result.status is EpisodeStatus.COMPLETED, result.error
    assert game.done and result.scores is not None
    return game


def play_oracle(item: GameInstance) -> GuessWhat:
    game = item.build()
    oracle = Oracle(game)
    return run(game, oracle, oracle)


# ------------------------------------------------------------------ shared data


def test_parity_fixtures_replay_to_official_scores(shared: Path, clembench: Path) -> None:
    fixtures = sorted((shared / "parity" / "guesswhat").glob("*.json"))
    assert fixtures
    for path in fixtures:
        outcome = replay_fixture(json.loads(path.read_text(encoding="utf-8")), clembench, name=path.name)
        assert outcome.matches, (path.name, outcome.divergence, outcome.mismatches)


def test_clembench_direct_guess_pattern_never_matches(clembench: Path) -> None:
    official = load_instance_file("guesswhat", game_spec("guesswhat").clembench_instances(clembench))
    item = official[0]
    assert "\x01" in item.experiment["direct_guess_pattern"]
    game = item.build()
    game.step("QUESTION: Is the target word 'Pepsi'?")
    assert not game.done
    game = item.build()
    game.step("QUESTION: Does the target word have more than two syllables?")
    assert game.outcome is Outcome.ABORTED


def test_every_official_instance_file_loads_and_plays(clembench: Path) -> None:
    files = sorted((clembench / "guesswhat" / "in").glob("*.json"))
    assert files
    for path in files:
        instances = load_instance_file("guesswhat", path)
        assert {i.experiment_name for i in instances} == set(generator.LEVELS)
        for item in instances:
            game = play_oracle(item)
            assert game.outcome is Outcome.SUCCESS or "-" in game.target, item.instance_id


def test_holdout_instances_play_without_engine_errors(shared: Path) -> None:
    files = sorted((shared / "holdout-instances" / "guesswhat").glob("*.json"))
    assert files
    for path in files:
        data = json.loads(path.read_text(encoding="utf-8"))
        item = GameInstance("guesswhat", data["experiment"], data["instance"], "holdout", str(path))
        assert play_oracle(item).outcome is Outcome.SUCCESS
        for seed in range(20):
            game = item.build()
            junk = Junk(seed, game.candidates)
            run(game, junk, junk)


# ------------------------------------------------------------------ our instances


@pytest.mark.parametrize("split", SPLITS)
def test_shipped_split_plays_to_an_end(split: str) -> None:
    instances = generated_instances("guesswhat", split)
    assert len(instances) == 6 * generator.PER_EXPERIMENT[split]
    for item in instances:
        words = item.instance["candidate_list"]
        assert len(words) == len(set(words)) == 8 and item.instance["target_word"] in words
        assert play_oracle(item).score().episode["Main Score"] == 100
    game = instances[0].build()
    junk = Junk(0, game.candidates)
    run(game, junk, junk)


def test_splits_have_disjoint_targets_and_held_out_words_stay_out_of_training() -> None:
    targets = {s: {i.instance["target_word"] for i in generated_instances("guesswhat", s)} for s in SPLITS}
    words = {s: {w for i in generated_instances("guesswhat", s) for w in i.instance["candidate_list"]} for s in SPLITS}
    assert not targets["train"] & targets["validation"] and not targets["train"] & targets["test"]
    assert not targets["validation"] & targets["test"]
    assert not words["train"] & (targets["validation"] | targets["test"])
    assert not words["validation"] & targets["test"] and not words["test"] & targets["validation"]


def test_levels_have_their_category_structure() -> None:
    taxonomies = generator.taxonomies()
    generator.check_taxonomies(taxonomies)
    home = {w: (kind, category, sub) for kind, taxonomy in taxonomies.items()
            for category, subs in taxonomy.items() for sub, ws in subs.items() for w in ws}
    for item in generated_instances("guesswhat", "validation"):
        kind, categories, subcategories, per_subcategory = generator.LEVELS[item.experiment_name]
        places = [home[w] for w in item.instance["candidate_list"]]
        assert {p[0] for p in places} == {kind}
        assert len({p[1] for p in places}) == categories
        assert len({p[1:] for p in places}) == categories * subcategories
        assert all(places.count(p) == per_subcategory for p in places)


def test_shipped_files_are_what_the_generator_makes() -> None:
    shipped = json.loads(shipped_file("guesswhat", "validation").read_text(encoding="utf-8"))
    assert generator.generate("validation", 2025) == shipped
    assert generator.generate("validation", 7) != shipped
