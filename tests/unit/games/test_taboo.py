import math

import pytest

from playpen_games.engine import Outcome, TurnStatus
from playpen_games.games.taboo import Taboo
from playpen_games.games.taboo.game import taboo_violations
from playpen_games.instances import SPLITS
from playpen_games.instances.generated import generated_instances

EXPERIMENT = {"name": "t", "max_turns": 3, "describer_initial_prompt": "Describe $TARGET_WORD$ without\n$REL_WORD$",
              "guesser_initial_prompt": "Guess within $N$ tries."}
INSTANCE = {"game_id": 0, "target_word": "winter", "related_word": ["cold", "snow", "season"]}


def play(*replies: str) -> Taboo:
    game = Taboo(EXPERIMENT, INSTANCE)
    for reply in replies:
        game.step(reply)
    return game


def test_prompts_are_filled_in() -> None:
    game = Taboo(EXPERIMENT, INSTANCE)
    assert game.current_player.prompt()[0]["content"] == "Describe winter without\n- cold\n- snow\n- season"
    game.step("CLUE: the season after autumn")  # "season" is a taboo word
    assert game.outcome is Outcome.LOSE


def test_success_in_second_round_scores_fifty() -> None:
    game = play("CLUE: a time of the year", "GUESS: summer", "CLUE: the opposite of summer", "GUESS: Winter.")
    assert game.outcome is Outcome.SUCCESS
    scores = game.score().episode
    assert scores["Main Score"] == 50 and scores["Success"] == 1 and scores["Request Count"] == 2
    guesser_second = game.turns[3].messages
    assert guesser_second[0]["content"].startswith("Guess within 3 tries.\n\nCLUE: a time of the year")
    assert guesser_second[-1]["content"] == "CLUE: the opposite of summer"


def test_turn_limit_is_a_loss() -> None:
    game = play(*["CLUE: a time of the year", "GUESS: summer"] * 3)
    scores = game.score().episode
    assert game.outcome is Outcome.LOSE and scores["Lose"] == 1 and scores["Main Score"] == 0
    assert scores["Request Count"] == 3 and game.round_index == 2


def test_format_errors_abort_with_nan_main_score() -> None:
    game = play("The clue is: cold weather")
    scores = game.score().episode
    assert game.outcome is Outcome.ABORTED and math.isnan(scores["Main Score"])
    assert (scores["Aborted"], scores["Violated Request Count"], scores["Parsed Request Count"]) == (1, 1, 0)
    assert game.turns[0].status is TurnStatus.PARSE_ERROR
    late = play("CLUE: a time of the year", " GUESS: winter")  # leading space is not allowed
    assert late.outcome is Outcome.ABORTED


@pytest.mark.parametrize(("clue", "violates"), [
    ("CLUE: wintry weather", False),  # different stem
    ("CLUE: winters are long", True),
    ("CLUE: it SNOWS a lot", True),
    ("CLUE: the coldest part", False),  # Snowball keeps "coldest"
    ("CLUE: cold", True),
    ("CLUE: the and of", False),
])
def test_taboo_check_uses_snowball_stems(clue, violates) -> None:
    assert bool(taboo_violations(clue, "winter", ["cold", "snow", "season"])) is violates


def test_guess_normalisation_matches_clembench() -> None:
    assert play("CLUE: a time of the year", "GUESS: -Winter!").outcome is Outcome.SUCCESS
    assert play("CLUE: a time of the year", "GUESS: winter\n<end_of_turn>").outcome is not Outcome.SUCCESS


def test_generated_splits_are_disjoint_and_playable() -> None:
    targets = {}
    for split in SPLITS:
        instances = generated_instances("taboo", split)
        assert instances, split
        targets[split] = {i.instance["target_word"] for i in instances}
        for instance in instances[:5]:
            game = instance.build()
            game.step("CLUE: something")
            assert game.outcome in (Outcome.RUNNING, Outcome.LOSE)
            assert "$" not in game.turns[0].messages[0]["content"]
    assert not targets["train"] & targets["validation"]
    assert not targets["train"] & targets["test"]
    assert not targets["validation"] & targets["test"]
