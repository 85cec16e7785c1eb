"""Privateshared: probe validation and retries, slot filling, scoring (kappa, NaN, Middle-Accuracy), and the
shipped generated instances. Small hand-made instances; no shared data needed."""

from __future__ import annotations

import asyncio
import math

import pytest

from playpen_games.engine import GameDefinitionError, Outcome
from playpen_games.engine.runner import EpisodeStatus, Reply, Request, play_episode
from playpen_games.games.privateshared import PrivateShared
from playpen_games.games.privateshared.generator import check_values, scenarios_document
from playpen_games.games.privateshared.probing import parse_probe_answer, parse_slot_answer
from playpen_games.games.privateshared.scoring import (
    EpisodeRecord,
    RequestCounts,
    accuracy,
    cohen_kappa,
    episode_scores,
)
from playpen_games.games.privateshared.texts import Words
from playpen_games.instances import SPLITS
from playpen_games.instances.generated import generated_instances
from playpen_games.registry import game_spec

WORDS = {"answer": "ANSWER: ", "aside": "ASIDE: ", "me": "ME: ", "probe": "ME: {} Yes or no?",
         "dummy_prompt": "Next question?", "yes": "yes", "no": "no", "ok": "Fine."}
SUFFIXES = ["", "Again.", "Format!", "Careful.", "Last chance."]
EXPERIMENT = {
    "name": "toy",
    "request_texts": {"pet": ["Which pet?"], "color": ["Which colour?"], "city": ["Which city?"]},
    "probe_questions": {"pet": ["Does Q know your pet?"], "color": ["Does Q know your colour?"],
                        "city": ["Does Q know your city?"]},
    "reprompt_suffixes": SUFFIXES,
    "words": WORDS,
}
ORDER = ["pet", "color", "city"]


def toy_instance() -> dict:
    return {"game_id": 0, "tag": "Q", "slots": {"color": "teal", "pet": "otter", "city": "Oslo"},
            "initial_prompt": "You know: teal, otter, Oslo.", "request_order": ORDER,
            "requests": {"pet": 0, "color": 0, "city": 0},
            "probes": {str(r): {"color": 0, "pet": 0, "city": 0} for r in range(4)}, "lang": "en"}


def new_game(**changes) -> PrivateShared:
    return PrivateShared(EXPERIMENT, {**toy_instance(), **changes}, game_spec("privateshared").resources())


class Script:
    def __init__(self, replies: list[str]):
        self.replies, self.prompts = list(replies), []

    async def respond(self, request: Request) -> Reply:
        self.prompts.append(request.messages)
        return Reply(self.replies.pop(0))


class Oracle:
    """Answers every probe truthfully and every request with the requested value."""

    def __init__(self, game: PrivateShared):
        self.game = game

    async def respond(self, request: Request) -> Reply:
        game = self.game
        if game.phase == "probe":
            truth = game.current_probes[game.probe_index].gt
            return Reply(f"ASIDE: {'Yes' if truth else 'No'}.")
        return Reply(f"ANSWER: {game.slots[game.request_order[game.round_index - 1]]}.")


class Sloppy:
    """Says yes to every probe and never gives a value; reads only the prompt."""

    async def respond(self, request: Request) -> Reply:
        return Reply("ASIDE: yes" if request.messages[-1]["content"].startswith("ME:") else "ANSWER: No idea.")


def play(game: PrivateShared, responder) -> PrivateShared:
    result = asyncio.run(play_episode(game, {"Answerer": responder}, episode_id="t"))
    assert result.status is EpisodeStatus.COMPLETED, result.error
    return game


def perfect_replies() -> list[str]:
    """Truthful replies for the toy instance when every value is given when asked for."""
    replies = ["ASIDE: no"] * 3
    for r, slot in enumerate(ORDER, start=1):
        replies.append(f"ANSWER: {toy_instance()['slots'][slot]}")
        known = set(ORDER[:r])
        replies += [f"ASIDE: {'yes' if s in known else 'no'}" for s in ("color", "pet", "city")]
    return replies


def test_probe_answer_validation() -> None:
    words = Words.from_mapping(WORDS)
    assert parse_probe_answer("ASIDE: Yes, they do.", words) == 1
    assert parse_probe_answer("ASIDE: No.", words) == 0
    assert parse_probe_answer("ASIDE:no\n\n", words) == 0  # trailing line breaks are fine
    assert parse_probe_answer("ASIDE: nope", words) == 0  # only the start counts
    assert parse_probe_answer("ASIDE: Yesterday", words) == 1
    for invalid in ["yes", " ASIDE: yes", "ASIDE: maybe", "ASIDE: yes\nbecause", "\nASIDE: no", "aside: yes"]:
        assert parse_probe_answer(invalid, words) is None, invalid
    assert parse_slot_answer("ANSWER: An otter.\n", words) == "An otter."
    assert parse_slot_answer("ANSWER: otter\nANSWER: teal", words) is None
    assert parse_slot_answer("Otter", words) is None


def test_perfect_episode_succeeds_and_probes_stay_out_of_history() -> None:
    script = Script(perfect_replies())
    game = play(new_game(), script)
    assert game.outcome is Outcome.SUCCESS and not script.replies
    scores = game.score()
    assert scores.episode["Main Score"] == 100
    assert scores.episode["Kappa"] == 1.0 and scores.episode["Middle-Accuracy"] == 1.0
    assert scores.episode["Request Count"] == 15 and scores.episode["Request Success Ratio"] == 1.0
    assert [r["Request Count"] for r in scores.rounds] == [3, 4, 4, 4]
    assert "Slot Filled?" not in scores.rounds[0] and scores.rounds[3]["Slot Filled?"] == 1
    # first probe: history is the initial prompt and the pseudo reply; the suffix slot is empty
    assert script.prompts[0] == [{"role": "user", "content": "You know: teal, otter, Oslo."},
                                 {"role": "assistant", "content": "Fine."},
                                 {"role": "user", "content": "ME:  Does Q know your colour? Yes or no?"}]
    # the first request sees no probes; the probes after it see the request and its answer only
    assert [m["content"] for m in script.prompts[3][2:]] == ["Q: Which pet?"]
    assert [m["content"] for m in script.prompts[4][2:-1]] == ["Q: Which pet?", "ANSWER: otter"]
    assert [m["content"] for m in script.prompts[7][2:]] == ["Q: Which pet?", "ANSWER: otter", "Q: Which colour?"]
    questioner_turns = [t for t in game.turns if t.role == "Questioner"]
    assert [t.reply for t in questioner_turns] == ["Which pet?", "Which colour?", "Which city?"]
    assert all(t.programmatic for t in questioner_turns)


def test_invalid_probe_is_asked_again_with_the_next_suffix() -> None:
    replies = perfect_replies()
    replies[1:1] = ["no", "ASIDE: perhaps", "ASIDE: no\nreally", "No."]  # 4 invalid tries, then valid
    script = Script(replies)
    game = play(new_game(), script)
    assert game.outcome is Outcome.SUCCESS
    asked = [p[-1]["content"] for p in script.prompts[1:6]]
    assert asked == [f"ME: {s} Does Q know your pet? Yes or no?" for s in SUFFIXES]
    assert game.probe_rounds[0][1].tries == 5
    episode = game.score().episode
    assert (episode["Request Count"], episode["Violated Request Count"]) == (19, 4)
    assert game.score().rounds[0] == {"Request Count": 7, "Parsed Request Count": 3,
                                      "Violated Request Count": 4, "Accuracy": 1.0}


def test_fifth_invalid_probe_answer_aborts_with_nan_scores() -> None:
    game = play(new_game(), Script(["ASIDE: no"] + ["No."] * 5))
    assert game.outcome is Outcome.ABORTED
    episode = game.score().episode
    for key in ("Accuracy", "Kappa", "Truncated Kappa", "Slot-Filling-Accuracy", "Main Score"):
        assert math.isnan(episode[key]), key
    assert "Middle-Accuracy" not in episode  # the middle round (1 of 0..3) was never completed
    assert (episode["Aborted"], episode["Success"], episode["Lose"]) == (1, 0, 0)
    assert (episode["Request Count"], episode["Parsed Request Count"], episode["Violated Request Count"]) == (6, 1, 5)
    assert game.score().rounds == []


def test_middle_accuracy_is_nan_when_aborted_after_the_middle_round() -> None:
    replies = [*perfect_replies()[:7], "ANSWER: teal\nand more"]  # rounds 0 and 1 done, bad slot answer
    game = play(new_game(), Script(replies))
    assert game.outcome is Outcome.ABORTED
    scores = game.score()
    assert math.isnan(scores.episode["Middle-Accuracy"])
    assert len(scores.rounds) == 2
    assert scores.episode["Violated Request Count"] == 1 and scores.episode["Request Count"] == 8


def test_value_given_early_is_shared_from_that_turn() -> None:
    replies = perfect_replies()
    replies[3] = "ANSWER: An otter, and I live in OSLO."
    replies[4:7] = ["ASIDE: no", "ASIDE: yes", "ASIDE: yes"]  # color, pet, city after round 1
    replies[10] = "ASIDE: yes"  # city after round 2
    game = play(new_game(), Script(replies))
    assert [p.gt for p in game.probe_rounds[1]] == [0, 1, 1]
    assert game.shared_after == {"pet": 0, "color": 1, "city": 0}
    assert game.outcome is Outcome.SUCCESS


def test_slot_filling_and_scores_of_a_known_case() -> None:
    replies = perfect_replies()
    replies[3] = "ANSWER: A beaver."  # pet not filled, still shared
    replies[9] = "ASIDE: no"  # round 2, pet: wrong
    game = play(new_game(), Script(replies))
    assert game.record.filled == [False, True, True]
    episode = game.score().episode
    assert episode["Accuracy"] == 11 / 12
    assert episode["Slot-Filling-Accuracy"] == 2 / 3
    kappa = episode["Kappa"]
    assert kappa == 0.8333333333333334  # sklearn's value for these 12 probes
    assert episode["Main Score"] == 100 * (2 * (2 / 3) * kappa / (2 / 3 + kappa))
    assert (episode["Success"], episode["Lose"]) == (0, 1)


def test_cohen_kappa_matches_sklearn() -> None:
    # values from sklearn.metrics.cohen_kappa_score / accuracy_score
    gold = [0, 0, 0, 0, 1, 1, 0, 1, 1, 1, 1, 1]
    pred = [0, 1, 0, 0, 1, 1, 0, 0, 1, 1, 1, 1]
    assert cohen_kappa(gold, pred) == 0.6571428571428571
    assert accuracy(gold, pred) == 0.8333333333333334
    assert cohen_kappa([0, 0, 1], [0, 1, 1]) == 0.3999999999999999
    assert cohen_kappa([0, 0, 1, 1], [1, 1, 1, 1]) == 0.0
    assert cohen_kappa([0, 1, 0, 1], [1, 0, 1, 0]) == -1.0
    assert math.isnan(cohen_kappa([0, 0, 0], [0, 0, 0]))  # a single label: undefined


def test_negative_kappa_truncates_to_zero() -> None:
    record = EpisodeRecord(n_slots=1, rounds=[[(0, 1)], [(1, 0)]], filled=[True],
                           counts=[RequestCounts(1, 1, 0), RequestCounts(2, 2, 0)])
    scores = episode_scores(record)
    assert scores["Kappa"] == -1.0 and scores["Truncated Kappa"] == 0 and scores["Main Score"] == 0
    assert scores["Middle-Accuracy"] == 0.0  # round int(2 / 2) - 1 = 0


def test_malformed_instances_are_rejected() -> None:
    with pytest.raises(GameDefinitionError):
        new_game(request_order=["pet", "color"])
    with pytest.raises(GameDefinitionError):
        new_game(probes={"0": {"pet": 0}})


@pytest.mark.parametrize("split", SPLITS)
def test_shipped_split_plays_to_an_end(split: str) -> None:
    instances = generated_instances("privateshared", split)
    assert len(instances) == {"train": 300, "validation": 50, "test": 50}[split]
    assert len({i.experiment_name for i in instances}) == 5
    for instance in instances[::7]:
        game = instance.build()
        play(game, Oracle(game))
        assert game.outcome is Outcome.SUCCESS and game.score().episode["Main Score"] == 100
    game = instances[0].build()
    play(game, Sloppy())
    assert game.outcome is Outcome.LOSE and game.score().episode["Slot-Filling-Accuracy"] < 1


def test_shipped_splits_are_disjoint() -> None:
    check_values(scenarios_document())
    values = {split: set() for split in SPLITS}
    combinations = {split: set() for split in SPLITS}
    for split in SPLITS:
        for instance in generated_instances("privateshared", split):
            slots = instance.instance["slots"]
            values[split] |= {(instance.experiment_name, slot, value) for slot, value in slots.items()}
            combinations[split].add((instance.experiment_name, tuple(sorted(slots.items()))))
    for first, second in [("train", "validation"), ("train", "test"), ("validation", "test")]:
        assert not values[first] & values[second]
        assert not combinations[first] & combinations[second]
    assert len(combinations["train"]) == 300
