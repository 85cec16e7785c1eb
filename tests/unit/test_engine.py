"""The engine's turn loop, histories, re-prompts and failure handling, on a tiny game made for the test."""

from __future__ import annotations

import asyncio

import pytest

from playpen_games.engine import (
    DialogueGame,
    GameDefinitionError,
    Outcome,
    ParseError,
    RuleViolation,
    Scores,
    TurnStatus,
)
from playpen_games.engine.runner import EpisodeStatus, Reply, ReplyError, play_episode


class Countdown(DialogueGame):
    """Asker says `NUMBER: n`; Checker says `OK` or `NO`. n must go down by one each round (else a rule
    violation); `NUMBER: 0` wins; a reply without the prefix is re-prompted once, then aborts."""

    name = "countdown"
    roles = ("Asker", "Checker", "Echo")
    programmatic_roles = frozenset({"Echo"})

    def setup(self) -> None:
        self.expected = int(self.instance["start"])
        self.reprompted = False
        self.add_player("Asker", initial_prompt="RULES", context="start")
        self.add_player("Checker")
        self.add_player("Echo", responder=lambda messages: f"echo {messages[-1]['content']}")

    def parse(self, role: str, reply: str):
        if role == "Asker":
            if not reply.startswith("NUMBER: "):
                raise ParseError("no NUMBER: prefix")
            return int(reply.removeprefix("NUMBER: "))
        return reply

    def advance(self, role: str, parsed) -> None:
        if role == "Asker":
            if parsed != self.expected:
                raise RuleViolation(f"expected {self.expected}")
            self.expected -= 1
            if parsed == 0:
                self.outcome = Outcome.SUCCESS
                return
            self.set_context("Checker", f"is {parsed} right?")
        elif role == "Checker":
            self.set_context("Echo", parsed)
        else:
            self.set_context("Asker", "next")

    def on_parse_error(self, role: str, error: ParseError) -> None:
        if not self.reprompted:
            self.reprompted = True
            self.reprompt(role, "Use the format NUMBER: <n>")
        else:
            super().on_parse_error(role, error)

    def score(self) -> Scores:
        return Scores(episode={"Aborted": int(self.outcome is Outcome.ABORTED), **self.request_totals()})


class Script:
    def __init__(self, *replies: str):
        self.replies = list(replies)

    async def respond(self, request):
        if not self.replies:
            raise ReplyError("script exhausted")
        return Reply(self.replies.pop(0))


def run(game: DialogueGame, **scripts: Script):
    return asyncio.run(play_episode(game, scripts, episode_id="e1"))


def test_turn_order_histories_and_programmatic_players() -> None:
    game = Countdown({"name": "x"}, {"game_id": 1, "start": 1})
    result = run(game, Asker=Script("NUMBER: 1", "NUMBER: 0"), Checker=Script("OK"))
    assert result.status is EpisodeStatus.COMPLETED and game.outcome is Outcome.SUCCESS
    assert [t.role for t in game.turns] == ["Asker", "Checker", "Echo", "Asker"]
    assert [t.round for t in game.turns] == [0, 0, 0, 1]
    # The initial prompt is merged into the first context, and each player keeps its own history.
    assert game.turns[0].messages == [{"role": "user", "content": "RULES\n\nstart"}]
    assert game.turns[3].messages == [
        {"role": "user", "content": "RULES\n\nstart"}, {"role": "assistant", "content": "NUMBER: 1"},
        {"role": "user", "content": "next"}]
    assert game.turns[2].reply == "echo OK" and game.turns[2].programmatic
    assert game.players["Checker"].history[-1] == {"role": "assistant", "content": "OK"}


def test_reprompt_keeps_the_turn_and_counts_a_violated_request() -> None:
    game = Countdown({"name": "x"}, {"game_id": 1, "start": 0})
    run(game, Asker=Script("zero", "NUMBER: 0"))
    assert [t.status for t in game.turns] == [TurnStatus.PARSE_ERROR, TurnStatus.OK]
    assert game.turns[1].messages[-1]["content"] == "Use the format NUMBER: <n>"
    assert game.outcome is Outcome.SUCCESS
    totals = game.request_totals()
    assert (totals["Request Count"], totals["Parsed Request Count"], totals["Violated Request Count"]) == (2, 1, 1)


def test_second_parse_error_aborts_and_rule_violation_loses() -> None:
    aborted = Countdown({"name": "x"}, {"game_id": 1, "start": 3})
    run(aborted, Asker=Script("three", "still three"))
    assert aborted.outcome is Outcome.ABORTED and aborted.score().episode["Aborted"] == 1
    lost = Countdown({"name": "x"}, {"game_id": 1, "start": 3})
    run(lost, Asker=Script("NUMBER: 2"))
    assert lost.outcome is Outcome.LOSE
    assert lost.turns[-1].status is TurnStatus.RULE_VIOLATION and "expected 3" in lost.turns[-1].error


def test_a_failing_responder_is_an_infrastructure_failure_with_no_scores() -> None:
    game = Countdown({"name": "x"}, {"game_id": 1, "start": 2})
    result = run(game, Asker=Script("NUMBER: 2"), Checker=Script())
    assert result.status is EpisodeStatus.INFRA_FAILURE
    assert result.scores is None and "script exhausted" in result.error
    assert game.outcome is Outcome.RUNNING  # never counted as a loss


def test_oversize_reply_is_refused_before_the_game_sees_it() -> None:
    game = Countdown({"name": "x"}, {"game_id": 1, "start": 2})
    result = asyncio.run(play_episode(game, {"Asker": Script("NUMBER: 2" + " " * 50)}, episode_id="e",
                                      max_reply_chars=20))
    assert result.status is EpisodeStatus.INFRA_FAILURE and "limit of 20" in result.error
    assert game.turns == []


def test_malformed_instance_is_a_definition_error() -> None:
    with pytest.raises(GameDefinitionError, match="malformed instance"):
        Countdown({"name": "x"}, {"game_id": 1})


def test_step_after_the_end_is_refused() -> None:
    game = Countdown({"name": "x"}, {"game_id": 1, "start": 0})
    game.step("NUMBER: 0")
    with pytest.raises(RuntimeError, match="after the game ended"):
        game.step("NUMBER: 0")
