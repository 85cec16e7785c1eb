"""Referencegame: reply formats, labels, outcomes, clembench's scores and NaNs, and our generated splits."""

from __future__ import annotations

import asyncio
import json
import math

import pytest

from playpen_games.engine import GameDefinitionError, Outcome, TurnStatus
from playpen_games.engine.runner import EpisodeStatus, Reply, Request, play_episode
from playpen_games.games.referencegame import ReferenceGame, generator, grids, protocol
from playpen_games.instances import SPLITS
from playpen_games.instances.generated import generated_instances, shipped_file

GIVER, FOLLOWER = "Instruction Giver", "Instruction Follower"
NAN_WHEN_ABORTED = ("Success", "Lose", "Main Score")


def instance(target: object = ("second", "2"), p1_mode: str = "strict", p2_mode: str = "strict",
             legacy: bool = False) -> dict:
    data = {"game_id": 3, "player_1_prompt_header": "DESCRIBE THE TARGET",
            "player_2_prompt_header": "PICK ONE\nTARGET_EXPRESSION\nWHICH?",
            "player_1_target_grid": "t", "player_1_second_grid": "d1", "player_1_third_grid": "d2",
            "player_2_first_grid": "d1", "player_2_second_grid": "t", "player_2_third_grid": "d2",
            "target_grid_name": list(target) if isinstance(target, tuple) else target}
    if not legacy:
        data |= {"player_1_response_pattern": protocol.GIVER_PATTERN,
                 "player_2_response_pattern": protocol.FOLLOWER_PATTERN,
                 "lang": "en", "p1_mode": p1_mode, "p2_mode": p2_mode}
    return data


def play(replies: list[str], **kwargs) -> ReferenceGame:
    game = ReferenceGame({"name": "letter_grids"}, instance(**kwargs))
    for reply in replies:
        assert not game.done, "the game ended before all replies were used"
        game.step(reply)
    return game


def test_success_scores_like_clembench() -> None:
    game = play(["Expression: the middle one", "Answer: second"])
    assert game.outcome is Outcome.SUCCESS
    assert [t.role for t in game.turns] == [GIVER, FOLLOWER]
    scores = game.score()
    assert scores.episode == {
        "Generated Expression Length": 26, "Generated Expression Number of Tokens": 4,
        "Aborted at Player 1": 0, "Aborted at Player 2": 0, "Request Count": 2, "Parsed Request Count": 2,
        "Violated Request Count": 0, "Aborted": 0, "Success": 1, "Lose": 0, "Main Score": 100,
        "Request Success Ratio": 1.0}
    assert scores.rounds == [{"Generated Expression Length": 26, "Generated Expression Number of Tokens": 4,
                              "Request Count": 2, "Parsed Request Count": 2, "Violated Request Count": 0,
                              "Success": 1}]


def test_wrong_label_loses_without_abort() -> None:
    game = play(["Expression: the middle one", "Answer: third"])
    assert game.outcome is Outcome.LOSE
    episode = game.score().episode
    assert (episode["Success"], episode["Lose"], episode["Main Score"], episode["Aborted"]) == (0, 1, 0, 0)
    assert game.turns[-1].status is TurnStatus.OK


def test_prompts_carry_the_headers_and_the_whole_expression() -> None:
    game = play(["Expression: stripes<|im_end|>"])
    assert game.turns[0].messages == [{"role": "user", "content": "DESCRIBE THE TARGET"}]
    assert game.current_player.role == FOLLOWER
    assert game.current_player.prompt() == [
        {"role": "user", "content": "PICK ONE\nExpression: stripes<|im_end|>\nWHICH?"}]


@pytest.mark.parametrize(("reply", "label"), [
    ("Answer: second", "second"), ("answer:2", "2"), ("ANSWER: Second grid.", "second"),
    ("Answer: SECOND<|im_end|>", "second"), ("Answer: 2\n\n", "2"), ("Answer:\nsecond", "second"),
    ("Answer: first", "first"), ("Answer: 3", "3"), ("Answer: 12", "1"), ("Answer: firstly", "first"),
])
def test_follower_labels(reply: str, label: str) -> None:
    game = play(["Expression: x", reply])
    assert game.turns[-1].parsed == label
    assert game.outcome is (Outcome.SUCCESS if label in ("second", "2") else Outcome.LOSE)


@pytest.mark.parametrize("reply", ["The answer: second", "Answer: the second", "Answer: fourth", "second",
                                   " Answer: second", "Answer: second\nbecause it has stripes",
                                   "Answer: second\n<end_of_turn>"])
def test_invalid_follower_reply_aborts_at_player_2(reply: str) -> None:
    game = play(["Expression: the one with stripes", reply])
    assert game.outcome is Outcome.ABORTED
    assert game.turns[-1].status is TurnStatus.PARSE_ERROR
    episode = game.score().episode
    assert (episode["Aborted at Player 1"], episode["Aborted at Player 2"], episode["Aborted"]) == (0, 1, 1)
    assert all(math.isnan(episode[key]) for key in NAN_WHEN_ABORTED)
    # the expression was valid, so it is still measured
    assert episode["Generated Expression Length"] == len("Expression: the one with stripes")
    assert episode["Generated Expression Number of Tokens"] == 5
    assert (episode["Request Count"], episode["Parsed Request Count"], episode["Violated Request Count"]) == (2, 1, 1)
    assert episode["Request Success Ratio"] == 0.5
    assert game.score().rounds[0]["Success"] == 0


@pytest.mark.parametrize("reply", ["Expression: stripes\n<end_of_turn>", "Expression: stripes\nMore text",
                                   "Expression: stripes  \n\n  ", "Here it is. Expression: stripes", "",
                                   "Expression:"])
def test_invalid_expression_aborts_at_player_1(reply: str) -> None:
    game = play([reply])
    assert game.done and game.outcome is Outcome.ABORTED
    assert len(game.turns) == 1, "the follower must not be asked"
    scores = game.score()
    episode = scores.episode
    assert list(episode)[:4] == ["Aborted at Player 1", "Aborted at Player 2", "Generated Expression Length",
                                 "Generated Expression Number of Tokens"]
    assert (episode["Aborted at Player 1"], episode["Aborted at Player 2"], episode["Aborted"]) == (1, 0, 1)
    for key in (*NAN_WHEN_ABORTED, "Generated Expression Length", "Generated Expression Number of Tokens"):
        assert math.isnan(episode[key]), key
    assert (episode["Request Count"], episode["Parsed Request Count"], episode["Violated Request Count"]) == (1, 0, 1)
    assert episode["Request Success Ratio"] == 0.0
    assert math.isnan(scores.rounds[0]["Generated Expression Length"])
    assert scores.rounds[0]["Success"] == 0


@pytest.mark.parametrize(("reply", "length", "tokens"), [
    ("Expression: stripes", 19, 2),  # the tag is measured too, as in the current clembench
    ("expression:stripes", 18, 1),
    ("Expression:  two  spaces", 24, 5),  # split on single spaces: empty pieces count
    ("Expression: stripes\n\n", 21, 2),  # trailing line breaks are allowed and measured
    ("Expression: X X ▢<|im_end|>", 27, 4),
])
def test_expression_length_metrics(reply: str, length: int, tokens: int) -> None:
    episode = play([reply, "Answer: first"]).score().episode
    assert episode["Generated Expression Length"] == length == len(reply)
    assert episode["Generated Expression Number of Tokens"] == tokens


def test_liberal_modes_accept_text_after_the_first_line() -> None:
    game = play(["Expression: stripes\nthat's all", "Answer: second\nI am sure."], p1_mode="liberal",
                p2_mode="liberal")
    assert game.outcome is Outcome.SUCCESS


def test_legacy_instance_uses_english_defaults() -> None:
    # v0.9 / v1.0 instances: no patterns, no modes, the target as a bare word
    assert play(["Expression: x", "Answer: 2"], target="second", legacy=True).outcome is Outcome.SUCCESS
    assert play(["Expression: x", "Answer: Second."], target="second", legacy=True).outcome is Outcome.SUCCESS
    assert play(["Expression: x", "Answer: first"], target="second", legacy=True).outcome is Outcome.LOSE
    assert play(["Expression: x\ny"], target="second", legacy=True).outcome is Outcome.ABORTED


def test_instance_patterns_decide_the_tags() -> None:
    data = instance() | {"player_1_response_pattern": protocol.GIVER_PATTERN.replace("expression:", "ausdruck:"),
                         "player_2_response_pattern": protocol.FOLLOWER_PATTERN.replace(
                             "answer:", "antwort:").replace("first|second|third", "erstes|zweites|drittes"),
                         "target_grid_name": ["zweites", "2"]}
    game = ReferenceGame({"name": "x"}, data)
    game.step("Ausdruck: Streifen")
    game.step("Antwort: Zweites")
    assert game.outcome is Outcome.SUCCESS
    assert play(["Ausdruck: Streifen"]).outcome is Outcome.ABORTED


@pytest.mark.parametrize("change", [{"p1_mode": "lenient"}, {"player_2_response_pattern": "answer: (first"},
                                    {"player_1_response_pattern": "^expression: (?P<response>.+)"},
                                    {"target_grid_name": []}, {"player_1_prompt_header": None}])
def test_malformed_instances_are_rejected(change: dict) -> None:
    with pytest.raises(GameDefinitionError):
        ReferenceGame({"name": "x"}, instance() | change)


# ------------------------------------------------------------------ generated instances


class Scripted:
    def __init__(self, reply: str):
        self.reply = reply

    async def respond(self, request: Request) -> Reply:
        return Reply(self.reply)


@pytest.mark.parametrize("split", SPLITS)
def test_shipped_split_plays_to_an_end(split: str) -> None:
    instances = generated_instances("referencegame", split)
    assert {i.experiment_name for i in instances} == {*generator.FIXED_FAMILIES, generator.RANDOM_FAMILY}
    for item in instances:
        label = item.instance["target_grid_name"][0]
        game = item.build()
        result = asyncio.run(play_episode(game, {GIVER: Scripted("Expression: that one"),
                                                 FOLLOWER: Scripted(f"Answer: {label}")}, episode_id="t"))
        assert result.status is EpisodeStatus.COMPLETED, result.error
        assert result.outcome is Outcome.SUCCESS
        assert result.scores is not None and result.scores.episode["Main Score"] == 100
        follower_prompt = game.turns[1].messages[-1]["content"]
        assert "Expression: that one" in follower_prompt
        position = int(item.instance["target_grid_name"][1])
        assert item.instance[f"player_2_{generator.LABELS[position - 1]}_grid"] == \
            item.instance["player_1_target_grid"]


def test_split_sizes_and_balanced_labels() -> None:
    sizes = {split: len(generated_instances("referencegame", split)) for split in SPLITS}
    assert sizes == {"train": 300, "validation": 50, "test": 50}
    labels = [i.instance["target_grid_name"][0] for i in generated_instances("referencegame", "train")]
    assert {label: labels.count(label) for label in set(labels)} == {"first": 100, "second": 100, "third": 100}


def test_splits_have_disjoint_targets() -> None:
    targets = {split: {i.instance["player_1_target_grid"] for i in generated_instances("referencegame", split)}
               for split in SPLITS}
    assert not targets["train"] & targets["validation"]
    assert not targets["train"] & targets["test"]
    assert not targets["validation"] & targets["test"]


def test_shipped_files_are_what_the_generator_makes() -> None:
    shipped = json.loads(shipped_file("referencegame", "test").read_text(encoding="utf-8"))
    assert generator.generate("test", 2025) == shipped
    assert generator.generate("test", 7) != shipped


def test_distractors_are_similar_and_distinct() -> None:
    for item in generated_instances("referencegame", "validation"):
        shown = [item.instance[f"player_1_{key}_grid"] for key in ("target", "second", "third")]
        assert len(set(shown)) == 3
        assert sorted(shown) == sorted(item.instance[f"player_2_{k}_grid"] for k in ("first", "second", "third"))
        assert all(set(grid) <= {grids.FILLED, grids.EMPTY, " ", "\n"} for grid in shown)
        if item.experiment_name == generator.RANDOM_FAMILY:  # one or two X's moved: 2 or 4 cells differ
            assert all(sum(a != b for a, b in zip(shown[0], other, strict=True)) in (2, 4) for other in shown[1:])
