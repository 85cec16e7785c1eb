"""Imagegame: reply formats, F1 scoring, game end and clembench's score keys, on small hand-made instances."""

from __future__ import annotations

import asyncio
import math

import pytest

from playpen_games.engine import Outcome
from playpen_games.engine.runner import EpisodeStatus, Reply, Request, play_episode
from playpen_games.games.imagegame import ImageGame, generator, grids
from playpen_games.instances import SPLITS
from playpen_games.instances.generated import generated_instances

GIVER, FOLLOWER = "Instruction Giver", "Instruction Follower"
E = grids.EMPTY
EMPTY5 = grids.empty_grid(5)
TARGET = "\n".join(["A A A A A", *([" ".join([E] * 5)] * 4)])  # top row of A
NAN_KEYS = ("Precision", "Recall", "F1", "Main Score", "Average Changed Cell Count",
            "Average Generated Instruction Length", "Average Generated Expression Number of Tokens")


def instance(target: str = TARGET, size: int = 5, legacy: bool = False) -> dict:
    data = {"game_id": 7, "player_1_prompt_header": "DESCRIBE:", "player_2_prompt_header": "DRAW.",
            "player_1_question": "Next?", "grid_dimension": size, "number_of_letters": 5,
            "fill_row": False, "fill_column": False, "target_grid": target}
    if not legacy:
        data |= {"player_1_response_pattern": grids.COMMAND_PATTERN,
                 "player_1_terminate_pattern": grids.TERMINATE_PATTERN,
                 "player_2_response_pattern": grids.grid_pattern(size)}
    return data


def play(replies: list[str], **kwargs) -> ImageGame:
    game = ImageGame({"name": "compact_grids"}, instance(**kwargs))
    for reply in replies:
        assert not game.done, "the game ended before all replies were used"
        game.step(reply)
    return game


def test_done_ends_the_game_and_scores_like_clembench() -> None:
    game = play(["Command: fill the top row with A", TARGET, "  command :  done \n"])
    assert game.outcome is Outcome.SUCCESS
    assert [t.role for t in game.turns] == [GIVER, FOLLOWER, GIVER]
    scores = game.score()
    assert scores.episode == {
        "Precision": 100.0, "Recall": 100.0, "F1": 100.0, "Main Score": 100.0,
        "Average Changed Cell Count": 5.0, "Average Generated Instruction Length": 32.0,
        "Average Generated Expression Number of Tokens": 7.0, "Success": 1, "Lose": 0, "Aborted": 0,
        # current clembench counts every logged event: 6 for the round, 2 for the `done` turn
        "Request Count": 8, "Violated Request Count": 0, "Parsed Request Count": 8, "Request Success Ratio": 1.0}
    assert scores.rounds == [{
        "Generated Expression Length": 32, "Generated Expression Number of Tokens": 7, "Precision": 100.0,
        "Recall": 100.0, "F1": 100.0, "Changed Cell Count": 5, "Request Count": 6, "Parsed Request Count": 6,
        "Violated Request Count": 0}]


@pytest.mark.parametrize("reply", ["Command: DONE", "command:done", "COMMAND : Done\n\n"])
def test_terminate_pattern_variants(reply: str) -> None:
    game = play(["Command: top row A", TARGET, reply])
    assert game.done and game.outcome is Outcome.SUCCESS


def test_done_with_punctuation_is_an_ordinary_command() -> None:
    game = play(["Command: done."])
    assert not game.done
    assert game.current_player.role == FOLLOWER
    assert game.current_player.prompt()[-1]["content"] == "DRAW.\n\nCommand: done."


def test_text_after_a_newline_aborts() -> None:
    game = play(["Command: fill the top row\nHope this helps!"])
    assert game.outcome is Outcome.ABORTED
    episode = game.score().episode
    assert all(math.isnan(episode[key]) for key in NAN_KEYS)
    assert (episode["Success"], episode["Lose"], episode["Aborted"]) == (0, 0, 1)
    assert (episode["Request Count"], episode["Parsed Request Count"], episode["Violated Request Count"]) == (3, 2, 1)
    assert episode["Request Success Ratio"] == 0.6667


@pytest.mark.parametrize("reply", ["Command:top row", "Sure! Command: top row", "Instruction: top row", "Command: "])
def test_giver_format_errors_abort(reply: str) -> None:
    assert play([reply]).outcome is Outcome.ABORTED


def test_one_trailing_newline_is_allowed_and_only_the_first_line_is_passed_on() -> None:
    game = play(["command: top row A\n"])
    assert game.current_player.prompt()[-1]["content"] == "DRAW.\n\ncommand: top row A"


@pytest.mark.parametrize("grid", [
    TARGET.replace(E, "□"),  # U+25A1 instead of U+25A2
    TARGET.lower(),
    "\n".join(TARGET.split("\n")[:4]),  # 4 rows
    "\n".join(row + " " + E for row in TARGET.split("\n")),  # 6 columns
    TARGET + "\n<end_of_turn>",
    "Here you go:\n" + TARGET,
])
def test_follower_grid_rules_abort(grid: str) -> None:
    game = play(["Command: top row A", grid])
    assert game.outcome is Outcome.ABORTED
    episode = game.score().episode
    assert math.isnan(episode["Main Score"])
    assert (episode["Request Count"], episode["Violated Request Count"]) == (6, 1)


def test_blank_lines_around_the_grid_are_allowed() -> None:
    game = play(["Command: top row A", "\n\n" + TARGET + "\n\n", "Command: DONE"])
    assert game.outcome is Outcome.SUCCESS


def test_prompts_follow_clembench_layout() -> None:
    game = ImageGame({"name": "x"}, instance())
    assert game.current_player.prompt() == [{"role": "user", "content": f"DESCRIBE:\n{TARGET}\nNext?"}]
    game.step("Command: top row A")
    game.step(TARGET)
    giver_prompt = game.current_player.prompt()
    assert [m["role"] for m in giver_prompt] == ["user", "assistant", "user"]
    assert giver_prompt[-1]["content"] == "Next?"  # the Giver never sees the drawing


def test_f1_precision_recall() -> None:
    target = "\n".join(["A A A A A", *[" ".join([E] * 5)] * 4])
    assert grids.compare(target, target) == (100.0, 100.0, 100.0)
    four_and_a_stray = "\n".join(["A A A A " + E, "B " + " ".join([E] * 4), *[" ".join([E] * 5)] * 3])
    assert grids.compare(target, four_and_a_stray) == (80.0, 80.0, 80.0)
    three_right = "\n".join(["A A A " + E + " " + E, *[" ".join([E] * 5)] * 4])
    assert grids.compare(target, three_right) == (100.0, 60.0, 75.0)
    wrong_letter = "\n".join(["B B B B B", *[" ".join([E] * 5)] * 4])
    assert grids.compare(target, wrong_letter) == (0.0, 0.0, 0)
    assert grids.compare(target, "A A A A A") == (0.0, 0.0, 0.0)  # other size
    assert grids.compare(target, EMPTY5) is None  # clembench divides by zero: previous values stand


def test_success_needs_f1_of_99() -> None:
    size = 10
    rows = [" ".join(["Q"] * size)] * 5 + [" ".join([E] * size)] * 5  # 50 filled cells
    target = "\n".join(rows)

    def missing(count: int) -> str:
        first = " ".join([E] * count + ["Q"] * (size - count))
        return "\n".join([first, *rows[1:]])

    assert grids.compare(target, missing(1))[2] == 99.0
    assert grids.compare(target, missing(2))[2] == 98.0
    won = play(["Command: top half Q", missing(1), "Command: DONE"], target=target, size=size)
    lost = play(["Command: top half Q", missing(2), "Command: DONE"], target=target, size=size)
    assert won.outcome is Outcome.SUCCESS and won.score().episode["Main Score"] == 99.0
    assert lost.outcome is Outcome.LOSE and lost.score().episode["Lose"] == 1


def test_an_empty_drawing_keeps_the_previous_f1() -> None:
    game = play(["Command: top row A", TARGET, "Command: clear everything", EMPTY5, "Command: DONE"])
    assert game.outcome is Outcome.SUCCESS
    rounds = game.score().rounds
    assert [r["F1"] for r in rounds] == [100.0, 100.0]
    assert [r["Changed Cell Count"] for r in rounds] == [5, 5]


def test_turn_limit_is_two_times_the_cells() -> None:
    game = play(["Command: top row A", TARGET] * 50)
    assert game.done and game.outcome is Outcome.SUCCESS
    assert len(game.rounds) == 50 and game.current_round.has("game end")
    scores = game.score()
    assert scores.rounds[-1]["Request Count"] == 7  # the turn-limit note is logged in the last round
    assert scores.episode["Request Count"] == 50 * 6 + 1
    assert scores.episode["Average Changed Cell Count"] == 0.1


def test_turn_limit_with_a_wrong_grid_loses() -> None:
    wrong = TARGET.replace("A", "B")
    game = play(["Command: top row B", wrong] * 50)
    assert game.outcome is Outcome.LOSE
    assert game.score().episode["Main Score"] == 0


def test_done_before_any_command_is_a_loss_without_averages() -> None:
    game = play(["Command: DONE"])
    episode = game.score().episode
    assert game.outcome is Outcome.LOSE
    assert (episode["Main Score"], episode["Lose"], episode["Request Count"]) == (0, 1, 2)
    assert math.isnan(episode["Average Changed Cell Count"])


def test_legacy_instances_use_the_instruction_prefix() -> None:
    game = play(["Instruction: top row A\nextra text is ignored", TARGET, "Instruction: Done"], legacy=True)
    assert game.outcome is Outcome.SUCCESS
    assert game.score().rounds[0]["Generated Expression Length"] == len("top row A")
    assert play(["Command: top row A"], legacy=True).outcome is Outcome.ABORTED
    assert play(["instruction: top row A"], legacy=True).outcome is Outcome.ABORTED


class Scripted:
    def __init__(self, game: ImageGame, role: str):
        self.game, self.role = game, role

    async def respond(self, request: Request) -> Reply:
        if self.role == FOLLOWER:
            return Reply(self.game.target)
        said = sum(turn.role == GIVER for turn in self.game.turns)
        return Reply("Command: draw the target" if said == 0 else "Command: DONE")


@pytest.mark.parametrize("split", SPLITS)
def test_every_shipped_instance_plays_to_an_end(split: str) -> None:
    for generated in generated_instances("imagegame", split):
        game = generated.build()
        result = asyncio.run(play_episode(game, {r: Scripted(game, r) for r in game.roles}, episode_id="t"))
        assert result.status is EpisodeStatus.COMPLETED, result.error
        assert result.scores is not None and result.scores.episode["Main Score"] == 100.0


def test_shipped_splits_are_sized_and_disjoint() -> None:
    def layout(target: str) -> frozenset[tuple[int, int]]:
        return frozenset((r, c) for r, row in enumerate(grids.cells(target)) for c, cell in enumerate(row)
                         if cell != E)

    targets = {split: [i.instance["target_grid"] for i in generated_instances("imagegame", split)]
               for split in SPLITS}
    assert {split: len(found) for split, found in targets.items()} == {"train": 300, "validation": 50, "test": 50}
    layouts = {split: {layout(t) for t in found} for split, found in targets.items()}
    for found in targets.values():
        assert len(set(found)) == len(found)
    for first, second in [("train", "validation"), ("train", "test"), ("validation", "test")]:
        assert not set(targets[first]) & set(targets[second])
        assert not layouts[first] & layouts[second]


def test_generator_is_seeded() -> None:
    assert generator.generate("test", 1) == generator.generate("test", 1)
    assert generator.generate("test", 1) != generator.generate("test", 2)
    experiments = generator.generate("validation", 1)["experiments"]
    assert [e["name"] for e in experiments] == ["compact_grids", "random_grids"]
