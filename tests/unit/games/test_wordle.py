"""Wordle, wordle_withclue and wordle_withcritic on small hand-made instances, plus the shipped generated splits."""

from __future__ import annotations

import asyncio
import math
from typing import Any

import pytest

from playpen_games.engine import Outcome
from playpen_games.engine.runner import EpisodeResult, EpisodeStatus, Reply, Request, play_episode
from playpen_games.games.wordle import Wordle, WordleWithClue, WordleWithCritic
from playpen_games.games.wordle.feedback import letter_feedback, render
from playpen_games.instances import SPLITS
from playpen_games.instances.generated import generated_instances

WORDS = ["pasta", "crane", "slate", "tamps", "audio", "chest", "linen", "eerie", "speed", "abide", "sniff"]
WORDLE_GAMES = ("wordle", "wordle_withclue", "wordle_withcritic")


def experiment(*, retries: int = 2, turns: int = 6) -> dict[str, Any]:
    return {
        "name": "tiny",
        "common_config": {"n_turns": turns, "max_word_length": 5,
                          "max_retry_per_error": {"NOT_VALID_WORD_FOR_GAME": retries}},
        "guesser_prompt": "RULES",
        "guesser_critic_prompt": "CRITIC RULES",
        "lang_keywords": {
            "max_word_length": 5, "clue_lang": "clue:", "guess_lang": "guess:", "guess_word_lang": "<word>",
            "explanation_lang": "explanation:", "explanataion_details_lang": "<why>",
            "guess_feedback_lang": "guess_feedback:", "agreement_lang": "agreement:", "agreement_word_lang": "<yes|no>",
            "guess_agreement_lang": "guess_agreement:", "agreement_explanation_lang": "agreement_explanation:",
            "agreement_match_keywords_lang": ["yes", "no"],
            "error_prompt_text": {"NOT_VALID_WORD_FOR_GAME": "Unknown word.", "INVALID_FORMAT": "Format:",
                                  "RETRY": "Again."},
            "official_words_list": list(WORDS),
        },
    }


INSTANCE = {"game_id": 1, "target_word": "pasta", "target_word_clue": "noodles", "target_word_difficulty": "easy"}


def guess(word: str, why: str = "because") -> str:
    return f"explanation: {why}\nguess: {word}"


def verdict(agreement: str) -> str:
    return f"explanation: hmm\nagreement: {agreement}"


class Script:
    def __init__(self, replies: list[str]):
        self.replies, self.requests = list(replies), []

    async def respond(self, request: Request) -> Reply:
        self.requests.append(request)
        return Reply(self.replies.pop(0))


def play(game_class: type[Wordle], guesses: list[str], verdicts: list[str] = (), *,
         exp: dict | None = None, instance: dict | None = None) -> tuple[EpisodeResult, dict[str, Script]]:
    game = game_class(exp or experiment(), instance or INSTANCE)
    scripts = {"Guesser": Script(guesses), "Critic": Script(list(verdicts))}
    result = asyncio.run(play_episode(game, scripts, episode_id="test"))
    assert result.status is EpisodeStatus.COMPLETED, result.error
    assert all(not s.replies for s in scripts.values()), "replies left over"
    return result, scripts


def nan(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)


# ---------------------------------------------------------------- letter feedback


@pytest.mark.parametrize(("guessed", "target", "expected"), [
    ("tamps", "pasta", "t<yellow> a<green> m<red> p<yellow> s<yellow>"),
    ("eerie", "crane", "e<red> e<red> r<yellow> i<red> e<green>"),  # greens are assigned before yellows
    ("speed", "abide", "s<red> p<red> e<yellow> e<red> d<yellow>"),  # a letter is yellow only once per copy
    ("pasta", "pasta", "p<green> a<green> s<green> t<green> a<green>"),
])
def test_feedback_letters(guessed: str, target: str, expected: str) -> None:
    assert render(letter_feedback(guessed, target)) == expected


# ---------------------------------------------------------------- format and word checks


@pytest.mark.parametrize("reply", [
    "Explanation: x\nguess: pasta",  # the explanation keyword is case-sensitive
    " explanation: x\nguess: pasta",  # nothing may precede it
    "explanation: x\n\nguess: pasta",  # a blank line counts as a line
    "explanation: x\nguess: pasta\n<|im_end|>",
    "explanation: my guess: maybe\nguess: pasta",  # the guess keyword twice
    "explanation: no guess at all",
    "explanation: x\nguess: past",  # four letters
    "explanation: x\nguess: pa5ta",
    "explanation: x\nguess: big cat",
])
def test_malformed_guess_aborts_at_once(reply: str) -> None:
    result, _ = play(Wordle, [reply])
    scores = result.scores.episode
    assert result.outcome is Outcome.ABORTED
    assert (scores["Aborted"], scores["Lose"], scores["Success"]) == (1, 0, 0)
    assert (scores["Request Count"], scores["Parsed Request Count"], scores["Violated Request Count"]) == (1, 0, 1)
    assert nan(scores["Main Score"]) and nan(scores["Guess Repetitions"])
    assert len(result.scores.rounds) == 1 and all(nan(v) for v in result.scores.rounds[0].values())


def test_guess_keyword_ignores_case_and_padding() -> None:
    result, _ = play(Wordle, ["explanation: x\nGUESS:   Pasta  \n\n"])
    assert result.outcome is Outcome.SUCCESS
    assert result.scores.episode["Main Score"] == 100


def test_unknown_word_is_reprompted_without_using_a_turn() -> None:
    result, scripts = play(Wordle, [guess("zzzzz"), guess("qqqqq"), guess("pasta")])
    scores = result.scores.episode
    assert result.outcome is Outcome.SUCCESS
    assert len(result.game.rounds) == 1 and scores["Main Score"] == 100
    assert (scores["Request Count"], scores["Parsed Request Count"], scores["Violated Request Count"]) == (3, 3, 0)
    retry = scripts["Guesser"].requests[1].messages[-1]["content"]
    assert retry.startswith("Unknown word. Again.\n\nFormat:\nexplanation: <why>\nguess: <word>")


def test_unknown_word_beyond_the_retry_limit_aborts() -> None:
    result, _ = play(Wordle, [guess("zzzzz")] * 3, exp=experiment(retries=2))
    scores = result.scores.episode
    assert result.outcome is Outcome.ABORTED
    assert (scores["Request Count"], scores["Parsed Request Count"], scores["Violated Request Count"]) == (3, 3, 0)
    assert scores["Request Success Ratio"] == 1.0 and nan(scores["Main Score"])


def test_retry_limit_counts_per_guess() -> None:
    replies = [guess("zzzzz"), guess("zzzzz"), guess("crane"), guess("zzzzz"), guess("zzzzz"), guess("pasta")]
    result, _ = play(Wordle, replies, exp=experiment(retries=2))
    assert result.outcome is Outcome.SUCCESS and len(result.game.rounds) == 2


# ---------------------------------------------------------------- scores


@pytest.mark.parametrize(("turns", "plain", "variant"), [
    (1, 100, 100.0), (2, 100, 50.0), (3, 100, 33.33), (4, 50, 25.0), (5, 30, 20.0), (6, 20, 16.67)])
def test_main_score_by_rounds(turns: int, plain: int, variant: float) -> None:
    replies = [guess("crane")] * (turns - 1) + [guess("pasta")]
    assert play(Wordle, replies)[0].scores.episode["Main Score"] == plain
    assert play(WordleWithClue, replies)[0].scores.episode["Main Score"] == variant


def test_six_wrong_guesses_lose_and_count_repetitions() -> None:
    result, _ = play(Wordle, [guess(w) for w in ["crane", "slate", "crane", "audio", "crane", "chest"]])
    scores = result.scores.episode
    assert result.outcome is Outcome.LOSE
    assert (scores["Aborted"], scores["Lose"], scores["Success"], scores["Main Score"]) == (0, 1, 0, 0)
    assert (scores["Guess Repetitions"], scores["repeats guess"], scores["total guess repetitions"]) == (2, 1, 2)


def test_round_scores_closeness_and_strategy() -> None:
    result, _ = play(Wordle, [guess("crane"), guess("pasta")])
    # crane: only 'a' (yellow) -> 3; pasta reuses the yellow 'a' and no red letter -> +10
    assert result.scores.rounds == [{"Closeness Score": 3, "Strategy Score": 0},
                                    {"Closeness Score": 25, "Strategy Score": 10}]
    solved_at_once, _ = play(Wordle, [guess("pasta")])
    assert solved_at_once.scores.rounds == [{"Closeness Score": 25, "Strategy Score": 100}]
    aborted, _ = play(Wordle, [guess("crane"), guess("oops!")])
    assert aborted.scores.rounds == [{"Closeness Score": 3, "Strategy Score": 0}]


def test_clue_precedes_the_first_guess() -> None:
    _, scripts = play(WordleWithClue, [guess("crane"), guess("pasta")])
    first, second = (r.messages[-1]["content"] for r in scripts["Guesser"].requests)
    assert first == "RULES\n\nclue: noodles"
    assert second.startswith("guess_feedback: c<red> r<red> a<yellow> n<red> e<red>\n\nFormat:")


def test_legacy_instance_structure_plays() -> None:
    legacy = {"name": "old",
              "common_config": {"max_word_length": 5, "max_attempts_per_game": 6, "max_retry_per_error": 1},
              "english_words": WORDS, "guesser_prompt": [{"role": "user", "content": "OLD RULES"}],
              "guesser_critic_prompt": []}
    result, scripts = play(Wordle, [guess("zzzzz"), guess("zzzzz")], exp=legacy)
    assert result.outcome is Outcome.ABORTED  # the plain-number retry limit (1) applies
    assert scripts["Guesser"].requests[0].messages[-1]["content"] == "OLD RULES"


# ---------------------------------------------------------------- critic variant


def test_critic_round_and_only_the_final_guess_counts() -> None:
    result, scripts = play(WordleWithCritic, [guess("pasta"), guess("crane"), guess("crane"), guess("pasta")],
                           [verdict("yes"), verdict("no")])
    scores = result.scores.episode
    requests = sorted(scripts["Guesser"].requests + scripts["Critic"].requests, key=lambda r: r.turn_index)
    order = [r.role for r in requests]
    assert order == ["Guesser", "Critic", "Guesser", "Guesser", "Critic", "Guesser"]
    assert result.outcome is Outcome.SUCCESS and scores["Main Score"] == 50.0  # the right first guess was dropped
    assert scores["Request Count"] == 6 and scores["Guess Repetitions"] == 0
    assert scores["Repetition-Guesser-On-Critic-Agreement"] == 0.0
    assert scores["Non-Repetition-Guesser-On-Critic-Agreement"] == 1.0
    assert scores["Non-Repetition-Guesser-On-Critic-Disagreement"] == 1.0
    assert [r["Change-Of-Opinion"] for r in result.scores.rounds] == [1, 1]
    critic_view = scripts["Critic"].requests[0].messages[-1]["content"]
    assert critic_view.startswith("CRITIC RULES\n\n")
    assert critic_view.endswith("clue: noodles\nexplanation: because\nguess: pasta")


def test_critic_shares_are_zero_without_such_verdicts() -> None:
    result, _ = play(WordleWithCritic, [guess("slate"), guess("slate")] * 5 + [guess("slate"), guess("pasta")],
                     [verdict("yes")] * 6)
    scores = result.scores.episode
    assert scores["Repetition-Guesser-On-Critic-Agreement"] == 0.83  # 5 of 6 kept, rounded to 2 decimals
    assert scores["Repetition-Guesser-On-Critic-Disagreement"] == 0  # no 'no' verdict at all
    assert scores["Main Score"] == 16.67 and scores["Guess Repetitions"] == 4


@pytest.mark.parametrize("bad_verdict", [
    "explanation: x\nagreement: maybe", "agreement: yes", "explanation: x\nagreement: Yes."])
def test_invalid_critic_reply_aborts(bad_verdict: str) -> None:
    result, _ = play(WordleWithCritic, [guess("crane")], [bad_verdict])
    scores = result.scores.episode
    assert result.outcome is Outcome.ABORTED
    assert (scores["Request Count"], scores["Parsed Request Count"], scores["Violated Request Count"]) == (2, 1, 1)
    assert nan(scores["Main Score"]) and nan(scores["Repetition-Guesser-On-Critic-Agreement"])


def test_unknown_word_reprompts_apply_to_both_guesses_of_a_round() -> None:
    replies = [guess("zzzzz"), guess("crane"), guess("qqqqq"), guess("pasta")]
    result, _ = play(WordleWithCritic, replies, [verdict("no")])
    assert result.outcome is Outcome.SUCCESS and len(result.game.rounds) == 1
    assert result.scores.episode["Parsed Request Count"] == 5


# ---------------------------------------------------------------- shipped generated instances


class Stubborn:
    """A trivial player: always the same known word that is not the target, or always `yes`."""

    def __init__(self, role: str, word: str):
        self.reply = verdict("yes") if role == "Critic" else guess(word)

    async def respond(self, request: Request) -> Reply:
        return Reply(self.reply)


@pytest.mark.parametrize("game", WORDLE_GAMES)
@pytest.mark.parametrize("split", SPLITS)
def test_generated_split_loads_and_plays(game: str, split: str) -> None:
    instances = generated_instances(game, split)
    assert len(instances) == {"train": 300, "validation": 50, "test": 50}[split]
    assert len({i.experiment_name for i in instances}) >= 3
    for instance in {i.experiment_name: i for i in instances}.values():
        built = instance.build()
        word = next(w for w in sorted(built.settings.words) if w != built.target)
        responders = {role: Stubborn(role, word) for role in built.roles}
        result = asyncio.run(play_episode(built, responders, episode_id=instance.instance_id))
        assert result.status is EpisodeStatus.COMPLETED and result.outcome is Outcome.LOSE
        assert result.scores.episode["Main Score"] == 0 and len(built.rounds) == 6
        assert built.target in built.settings.words and built.target not in built.instance["target_word_clue"]


def test_generated_splits_have_disjoint_targets() -> None:
    targets = {split: {i.instance["target_word"] for game in WORDLE_GAMES for i in generated_instances(game, split)}
               for split in SPLITS}
    assert not targets["train"] & targets["validation"]
    assert not targets["train"] & targets["test"]
    assert not targets["validation"] & targets["test"]
