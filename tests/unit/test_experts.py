"""Builtin expert players: they play every model-backed role of the training games in the right format,
win most episodes, never read what their role may not know, and are deterministic per episode id."""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import functools
import random
from collections.abc import Callable

import pytest

from playpen.gamemaster.v1 import gamemaster_pb2 as gm
from playpen_common.errors import InvalidArgument
from playpen_gamemaster.metrics import GameMasterMetrics
from playpen_gamemaster.plan import build_plan
from playpen_gamemaster.service import GameMasterServicer
from playpen_gamemaster.settings import GameMasterSettings
from playpen_games import experts
from playpen_games.engine import DialogueGame, TurnStatus
from playpen_games.engine.runner import EpisodeResult, EpisodeStatus, Reply, Request, play_episode
from playpen_games.experts import ExpertResponder, experts_of, has_expert
from playpen_games.games.imagegame import expert as imagegame_expert
from playpen_games.games.referencegame import expert as referencegame_expert
from playpen_games.games.wordle import expert as wordle_expert
from playpen_games.games.wordle.feedback import letter_feedback
from playpen_games.instances import GameInstance
from playpen_games.instances.catalog import InstanceCatalog
from playpen_games.instances.generated import generated_instances
from playpen_games.registry import TRAINING_GAMES, game_class

# Success rates measured on 20 validation instances (see README, "Games"); the floors leave some room.
SUCCESS_FLOOR = {"taboo": 0.75, "wordle": 0.9, "wordle_withclue": 0.9, "wordle_withcritic": 0.9,
                 "referencegame": 0.95, "imagegame": 0.95, "privateshared": 0.95}
# Official clembench instances word their prompts differently (and taboo targets include names the
# clue table and lexicon do not know).
CLEMBENCH_FLOOR = {"taboo": 0.4, "wordle": 0.9, "wordle_withclue": 0.8, "wordle_withcritic": 0.9,
                   "referencegame": 0.95, "imagegame": 0.95, "privateshared": 0.95}


def spread(instances: list[GameInstance], count: int) -> list[GameInstance]:
    """`count` instances taken evenly over the list, so that every experiment is represented."""
    step = max(1, len(instances) // count)
    return instances[::step][:count]


def model_roles(game: str) -> list[str]:
    cls = game_class(game)
    return [role for role in cls.roles if role not in cls.programmatic_roles]


def play(game: DialogueGame, episode_id: str, responder=None) -> EpisodeResult:
    responder = responder or ExpertResponder()
    roles = {role: responder for role in model_roles(game.name)}
    return asyncio.run(play_episode(game, roles, episode_id=episode_id))


def bad_expert_turns(result: EpisodeResult) -> list[str]:
    return [f"{t.role}: {t.status.value}: {t.error}: {t.reply!r}" for t in result.turns
            if not t.programmatic and t.status is not TurnStatus.OK]


def success_rate(instances: list[GameInstance]) -> float:
    wins = 0
    for k, instance in enumerate(instances):
        result = play(instance.build(), f"test:{instance.instance_id}:{k}")
        assert result.status is EpisodeStatus.COMPLETED, result.error
        assert not bad_expert_turns(result), bad_expert_turns(result)
        assert all(t.generation is None for t in result.turns)
        wins += result.outcome.value == "success"
    return wins / len(instances)


def test_every_model_role_of_every_training_game_has_an_expert() -> None:
    for game in TRAINING_GAMES:
        assert set(experts_of(game)) == set(model_roles(game)), game
    assert not has_expert("privateshared", "Questioner")  # played by the game itself
    assert not has_expert("taboo", "Referee") and not has_expert("no-such-game", "Guesser")


@pytest.mark.parametrize("game", TRAINING_GAMES)
def test_expert_vs_expert_plays_validation_instances_well(game: str) -> None:
    instances = spread(generated_instances(game, "validation"), 20)
    assert success_rate(instances) >= SUCCESS_FLOOR[game]


@pytest.mark.parametrize("game", TRAINING_GAMES)
def test_expert_vs_expert_plays_official_clembench_instances(game: str, clembench) -> None:
    instances = spread(InstanceCatalog(clembench).instances(game, "clembench"), 10)
    assert success_rate(instances) >= CLEMBENCH_FLOOR[game]


# ------------------------------------------------------------------ determinism and variety


def replies(result: EpisodeResult) -> list[tuple[str, str]]:
    return [(t.role, t.reply) for t in result.turns if not t.programmatic]


@pytest.mark.parametrize("game", TRAINING_GAMES)
def test_the_same_episode_id_replays_identically(game: str) -> None:
    instance = generated_instances(game, "validation")[3]
    first = play(instance.build(), "run:group:0")
    again = play(instance.build(), "run:group:0")
    assert replies(first) == replies(again)


@pytest.mark.parametrize("game", ["taboo", "wordle", "wordle_withclue", "referencegame", "imagegame",
                                  "privateshared"])
def test_the_episodes_of_a_group_differ(game: str) -> None:
    instance = generated_instances(game, "validation")[5]
    plays = {tuple(replies(play(instance.build(), f"run:group:{k}"))) for k in range(8)}
    assert len(plays) >= 2


# ------------------------------------------------------------------ no hidden information


class Tampering:
    """Asks the expert twice per turn — with the real game, and with a copy whose hidden fields were
    changed — and records any turn where the replies differ."""

    def __init__(self, hide: Callable[[DialogueGame], None], roles: set[str]):
        self.hide, self.roles, self.differences, self.checked = hide, roles, [], 0
        self.expert = ExpertResponder()

    async def respond(self, request: Request) -> Reply:
        reply = await self.expert.respond(request)
        if request.role in self.roles:
            tampered = copy.deepcopy(request.game_state)
            self.hide(tampered)
            other = await self.expert.respond(dataclasses.replace(request, game_state=tampered))
            self.checked += 1
            if other.text != reply.text:
                self.differences.append((request.role, reply.text, other.text))
        return reply


def _other_wordle_target(game) -> None:
    other = next(w for w in sorted(game.settings.words) if w != game.target and w[0] != game.target[0])
    game.target = other
    game.instance["target_word"] = other


def _swap_reference_target(game) -> None:
    wrong = next(label for label in ("first", "second", "third") if label not in game.rules.labels)
    game.rules = dataclasses.replace(game.rules, labels=(wrong,))
    game.instance["target_grid_name"] = [wrong]
    for key in ("player_1_target_grid", "player_1_second_grid", "player_1_third_grid"):
        game.instance[key] = "X X X X X\n" * 5


def _blank_image_target(game) -> None:
    game.target = "\n".join(" ".join("Z" for _ in range(5)) for _ in range(5))
    game.instance["target_grid"] = game.target


def _other_taboo_target(game) -> None:
    game.target, game.related = "zeppelin", ["airship", "balloon", "blimp"]
    game.instance["target_word"], game.instance["related_word"] = game.target, game.related


def _scramble_privateshared_truth(game) -> None:
    game.shared_after = dict.fromkeys(game.shared_after, 0)
    for probe in game.current_probes:
        probe.gt = 1 - probe.gt


HIDDEN = [
    ("wordle", {"Guesser"}, _other_wordle_target),
    ("wordle_withclue", {"Guesser"}, _other_wordle_target),
    ("wordle_withcritic", {"Guesser", "Critic"}, _other_wordle_target),
    ("referencegame", {"Instruction Follower"}, _swap_reference_target),
    ("imagegame", {"Instruction Follower"}, _blank_image_target),
    ("taboo", {"Guesser"}, _other_taboo_target),
    ("privateshared", {"Answerer"}, _scramble_privateshared_truth),
]


@pytest.mark.parametrize(("game", "roles", "hide"), HIDDEN, ids=[h[0] for h in HIDDEN])
def test_experts_never_read_what_their_role_does_not_know(game: str, roles: set[str], hide) -> None:
    for k, instance in enumerate(spread(generated_instances(game, "validation"), 4)):
        tampering = Tampering(hide, roles)
        play(instance.build(), f"hidden:{k}", tampering)
        assert tampering.checked > 0
        assert tampering.differences == []


def test_the_wordle_guesser_depends_only_on_the_feedback() -> None:
    """Two different targets that give the same feedback to the same guesses get the same replies."""
    instance = generated_instances("wordle", "validation")[0]
    game = instance.build()
    result = play(game, "same-feedback")
    history = [(g, wordle_expert.marks_code(m)) for g, m in zip(game.committed, game.feedbacks, strict=True)]
    twins = [w for w in wordle_expert.consistent(game.settings.words, history[:2]) if w != game.target]
    if not twins:
        pytest.skip("no other word shares the first two feedbacks")
    twin_instance = dataclasses.replace(instance, instance={**instance.instance, "target_word": twins[0]})
    twin = play(twin_instance.build(), "same-feedback")
    assert replies(twin)[:2] == replies(result)[:2]


# ------------------------------------------------------------------ pieces of the experts


def test_the_solver_computes_the_games_feedback() -> None:
    rng = random.Random(0)
    words = sorted(generated_instances("wordle", "validation")[0].experiment["lang_keywords"]["official_words_list"])
    pairs = [(rng.choice(words), rng.choice(words)) for _ in range(3000)]
    pairs += [("speed", "erase"), ("eerie", "there"), ("allee", "eagle"), ("sassy", "asses")]
    for guess, target in pairs:
        assert wordle_expert.feedback_code(guess, target) == wordle_expert.marks_code(letter_feedback(guess, target))


def test_the_critic_explains_a_conflict_with_the_feedback() -> None:
    history = [("crane", wordle_expert.marks_code(letter_feedback("crane", "cloud")))]
    assert wordle_expert.conflict("cloud", history) is None
    assert "c at position 1" in wordle_expert.conflict("stone", history)
    assert "no more r" in wordle_expert.conflict("cords", history)


@pytest.mark.parametrize(("command", "cells"), [
    ("Command: fill row 2 with M", {(1, c) for c in range(5)}),
    ("Command: fill the third column with M", {(r, 2) for r in range(5)}),
    ("Command: put an M in the top left corner", {(0, 0)}),
    ("Command: put M in row 2, columns 2 to 4", {(1, 1), (1, 2), (1, 3)}),
    ("Command: put M in column 5, rows 1 to 2", {(0, 4), (1, 4)}),
    ("Command: place an M at row 4, column 1", {(3, 0)}),
    ("Command: fill rows 1, 3 and 5 with M", {(r, c) for r in (0, 2, 4) for c in range(5)}),
    ("Command: fill the diagonal from the top right to the bottom left with M", {(i, 4 - i) for i in range(5)}),
    ("Command: put M in the middle cell", {(2, 2)}),
    ("Command: fill the whole grid with M", {(r, c) for r in range(5) for c in range(5)}),
])
def test_the_imagegame_follower_reads_common_commands(command: str, cells: set) -> None:
    drawing = imagegame_expert.apply(command, [[imagegame_expert.EMPTY] * 5 for _ in range(5)])
    assert {(r, c) for r in range(5) for c in range(5) if drawing[r][c] == "M"} == cells


def test_the_imagegame_follower_keeps_its_drawing_for_an_unreadable_command() -> None:
    before = [["A", "▢"], ["▢", "▢"]]
    assert imagegame_expert.apply("Command: make it prettier", before) == before
    assert imagegame_expert.apply("Command: remove the letter in row 1, column 1", before)[0][0] == "▢"


def test_the_referencegame_follower_reads_the_givers_phrasings_and_plain_ones() -> None:
    grid = referencegame_expert.read_grid("X X X X X\n▢ ▢ ▢ ▢ X\nX ▢ X ▢ X\n▢ ▢ ▢ ▢ ▢\nX □ X X X")
    for expression in ("Expression: the grid where the top row is completely filled",
                       "Expression: the grid in which row 2 reads ▢ ▢ ▢ ▢ X",
                       "Expression: the one in which there is an X in row 3, column 3 and an empty cell in row 5, "
                       "column 2", "Expression: the grid where the fourth row is empty"):
        facts = referencegame_expert.read_facts(expression)
        assert facts and all(fact.holds(grid) for fact in facts), expression


# ------------------------------------------------------------------ the game master's wiring


@pytest.fixture
def servicer() -> GameMasterServicer:
    return GameMasterServicer(GameMasterSettings(), GameMasterMetrics())


def plan_for(servicer: GameMasterServicer, **fields):
    request = gm.PlayEpisodesRequest(split="validation", instances_per_game=1, **fields)
    responder = functools.partial(servicer._responder, servicer._channels.lease())
    return build_plan(request, servicer._catalog, responder, server_concurrency=4, max_episodes=100)


def test_a_builtin_expert_is_bound_to_every_role_and_labelled_expert(servicer) -> None:
    plan = plan_for(servicer, default_player=gm.PlayerConfig(builtin="expert"))
    assert {job.instance.game for job in plan.jobs()} == set(TRAINING_GAMES)
    for job in plan.jobs():
        assert set(job.policies.values()) == {"expert"}
        assert all(isinstance(r, ExpertResponder) for r in job.responders.values())


def test_a_role_without_an_expert_is_refused_before_any_episode(servicer, monkeypatch) -> None:
    real = experts.experts_of
    monkeypatch.setattr(experts, "experts_of", lambda game: {} if game == "taboo" else real(game))
    from playpen_gamemaster import service
    monkeypatch.setattr(service, "experts_of", experts.experts_of)
    monkeypatch.setattr(service, "has_expert", lambda game, role: role in experts.experts_of(game))
    with pytest.raises(InvalidArgument, match=r"no builtin expert for role 'Describer' of taboo"):
        plan_for(servicer, games=["taboo"], default_player=gm.PlayerConfig(builtin="expert"))
    with pytest.raises(InvalidArgument, match=r"unknown builtin player 'oracle'.*expert"):
        plan_for(servicer, games=["wordle"], default_player=gm.PlayerConfig(builtin="oracle"))
