"""MatchIt ASCII: turn order, tags, decisions, request counting and clembench's score keys; parity replay,
official and held-out instances (shared data); our generated splits and grids."""

from __future__ import annotations

import asyncio
import json
import math
import random
from pathlib import Path

import pytest

from playpen_games.engine import GameDefinitionError, Outcome, TurnStatus
from playpen_games.engine.runner import EpisodeStatus, Reply, Request, play_episode
from playpen_games.games.matchit_ascii import MatchItAscii, generator, grids
from playpen_games.games.matchit_ascii.protocol import first_word
from playpen_games.instances import SPLITS, GameInstance, load_instance_file
from playpen_games.instances.generated import generated_instances, shipped_file
from playpen_games.registry import game_spec
from playpen_games.replay import replay_fixture

A, B = "Player A", "Player B"
GRID_A, GRID_B = "X X\n▢ ▢", "X ▢\n▢ X"


def new_game(solution: str = "different grids", decision_turn: int = 3) -> MatchItAscii:
    experiment = generator.experiment_settings("toy", solution)
    return MatchItAscii(experiment, {"game_id": 0, "grid_a": GRID_A, "grid_b": GRID_B,
                                     "decision_turn": decision_turn})


def dialogue(decision_turn: int = 3, decision_a: str = "DECISION: different grids",
             decision_b: str = "DECISION: different grids") -> list[tuple[str, str]]:
    """(role, reply) in the order the game asks, for a complete episode."""
    steps = [(A, "DESCRIPTION: a top row"), (B, "DESCRIPTION: a diagonal"), (B, "QUESTION: Is row 1 full?")]
    for round_index in range(1, decision_turn + 1):
        steps += [(A, f"ANSWER: A{round_index}"), (A, f"QUESTION: Q-A{round_index}?"), (B, f"ANSWER: B{round_index}")]
        steps.append((B, decision_b if round_index == decision_turn else f"QUESTION: Q-B{round_index}?"))
    return [*steps, (A, decision_a)]


def play(steps: list[tuple[str, str]], **kwargs) -> MatchItAscii:
    game = new_game(**kwargs)
    for role, reply in steps:
        assert not game.done, "the game ended before all replies were used"
        assert game.current_player.role == role
        game.step(reply)
    return game


def counts(game: MatchItAscii) -> tuple[int, int, int]:
    episode = game.score().episode
    return episode["Request Count"], episode["Parsed Request Count"], episode["Violated Request Count"]


# ------------------------------------------------------------------ rules


@pytest.mark.parametrize("decision_turn", [1, 3, 5])
def test_complete_episode_follows_clembench_turn_order(decision_turn: int) -> None:
    steps = dialogue(decision_turn)
    game = play(steps, decision_turn=decision_turn)
    assert game.outcome is Outcome.SUCCESS and len(game.turns) == len(steps) == 4 * decision_turn + 4
    scores = game.score()
    assert scores.episode == {"Violated Request Count": 0, "Parsed Request Count": len(steps),
                              "Request Count": len(steps), "Aborted": 0, "Success": 1, "Lose": 0,
                              "Main Score": 100, "Player Score": 100}
    assert [r["Request Count"] for r in scores.rounds] == [3] + [4] * decision_turn + [1]
    assert [t.round for t in game.turns][-2:] == [decision_turn, decision_turn + 1]


def test_prompts_pass_descriptions_questions_and_answers_on() -> None:
    game = play(dialogue())
    texts = generator.TEXTS
    prompt = [t.messages[-1]["content"] for t in game.turns]
    assert prompt[0].endswith(f"Here is your grid:\n{GRID_A}") and prompt[1].endswith(GRID_B)
    assert prompt[2] == f"{texts['desc_intro']}DESCRIPTION: a top row\n{texts['q_reprompt']}"
    assert prompt[3] == f"{texts['desc_intro']}DESCRIPTION: a diagonal\nQUESTION: Is row 1 full?{texts['a_request']}"
    assert prompt[4] == texts["q_reprompt"]
    assert prompt[5] == f"ANSWER: A1\nQUESTION: Q-A1?{texts['a_request']}"
    assert prompt[7] == f"ANSWER: B1\nQUESTION: Q-B1?{texts['a_request']}"
    assert prompt[14] == texts["d_reprompt"]  # B, after its last answer
    assert prompt[15] == f"ANSWER: B3\n{texts['d_reprompt']}"  # A
    assert [m["role"] for m in game.turns[2].messages] == ["user", "assistant", "user"]  # B's follow-up
    assert len(game.turns[15].messages) == 15  # A's whole history: 7 exchanges and the decision prompt


@pytest.mark.parametrize(("decision_a", "decision_b", "player_score"), [
    ("DECISION: same grid", "DECISION: different grids", 50), ("DECISION: different grids", "DECISION: same grid", 50),
    ("DECISION: same grid", "DECISION: same grid", 0)])
def test_wrong_decisions_lose(decision_a: str, decision_b: str, player_score: int) -> None:
    game = play(dialogue(decision_a=decision_a, decision_b=decision_b))
    assert game.outcome is Outcome.LOSE
    episode = game.score().episode
    assert (episode["Success"], episode["Lose"], episode["Main Score"]) == (0, 1, 0)
    assert episode["Player Score"] == player_score


@pytest.mark.parametrize("reply", ["DECISION: Same Grid.", "DECISION: same grid\n", "DECISION: same grid..\n\n",
                                   "\nDECISION: same grid"])
def test_decision_normalisation(reply: str) -> None:
    assert play(dialogue(decision_a=reply, decision_b=reply), solution="same grid").outcome is Outcome.SUCCESS


@pytest.mark.parametrize("reply", ["DECISION: same grid \n<end_of_turn>", "DECISION: same grid<|im_end|>",
                                   "DECISION: same  grid", "DECISION: maybe", "DECISION: same grid. Sure."])
def test_decision_with_other_content_aborts_and_counts_twice(reply: str) -> None:
    steps = dialogue(decision_b=reply)[:-1]
    game = play(steps, solution="same grid")
    assert game.outcome is Outcome.ABORTED and game.turns[-1].status is TurnStatus.RULE_VIOLATION
    assert counts(game) == (len(steps) + 1, len(steps), 1)
    episode = game.score().episode
    assert (episode["Aborted"], episode["Success"], episode["Lose"]) == (1, 0, 0)
    assert math.isnan(episode["Main Score"]) and math.isnan(episode["Player Score"])


@pytest.mark.parametrize(("index", "reply"), [
    (0, "Description: a row"), (0, "**DESCRIPTION:** a row"), (0, "I see a row.\nDESCRIPTION: a row"),
    (2, "DESCRIPTION: again"), (3, "QUESTION: Is it? ANSWER: no"), (4, "ANSWER: and more"),
    (14, "decision: different grids"), (15, "ANSWER: different")])
def test_wrong_tag_aborts(index: int, reply: str) -> None:
    steps = dialogue()
    game = play([*steps[:index], (steps[index][0], reply)])
    assert game.outcome is Outcome.ABORTED and game.turns[-1].status is TurnStatus.PARSE_ERROR
    assert counts(game) == (index + 1, index, 1)


@pytest.mark.parametrize("reply", ["", "  \n\n "])
def test_empty_reply_aborts(reply: str) -> None:
    game = play([(A, reply)])
    assert game.outcome is Outcome.ABORTED and counts(game) == (1, 0, 1)
    assert game.current_round.has("invalid content")


def test_text_after_the_first_line_is_free() -> None:
    assert first_word("\n\nDESCRIPTION:\nX X ▢") == "DESCRIPTION:"
    assert first_word("  QUESTION: a?\nmore") == "QUESTION:"
    assert first_word("DESCRIPTION:\tX") == "DESCRIPTION:\tX"
    game = play([(A, "DESCRIPTION:\nX X\n▢ ▢<|im_end|>"), (B, "DESCRIPTION: same\n\nreally")])
    assert not game.done


def test_malformed_instances_are_rejected() -> None:
    with pytest.raises(GameDefinitionError):
        new_game(decision_turn=0)
    with pytest.raises(GameDefinitionError):
        MatchItAscii({**generator.experiment_settings("toy", "same grid"), "flags": {"description": "D:"}},
                     {"game_id": 0, "grid_a": GRID_A, "grid_b": GRID_B, "decision_turn": 3})


# ------------------------------------------------------------------ players for whole episodes


class Oracle:
    """Replies with the tag the game expects and decides right (it reads the solution: a test double)."""

    def __init__(self, game: MatchItAscii):
        self.game = game

    async def respond(self, request: Request) -> Reply:
        kind = self.game.expected(request.role)
        flag = self.game.protocol.flags[kind]
        if kind == "decision":
            return Reply(f"{flag} {self.game.protocol.solution}")
        return Reply(f"{flag} something about my grid")


class Junk:
    """Seeded replies: right and wrong tags, decisions, empty ones."""

    def __init__(self, seed: int):
        self.rng = random.Random(seed)

    async def respond(self, request: Request) -> Reply:
        return Reply(self.rng.choice(["DESCRIPTION: x", "QUESTION: y?", "ANSWER: z", "DECISION: same grid",
                                      "DECISION: different grids", "DECISION: unsure", "", "hello"]))


def run(game: MatchItAscii, responder) -> MatchItAscii:
    result = asyncio.run(play_episode(game, {A: responder, B: responder}, episode_id="t"))
    assert result.status is EpisodeStatus.COMPLETED, result.error
    assert game.done and result.scores is not None
    return game


def play_oracle(item: GameInstance) -> MatchItAscii:
    game = item.build()
    return run(game, Oracle(game))


# ------------------------------------------------------------------ shared data


def test_parity_fixtures_replay_to_official_scores(shared: Path, clembench: Path) -> None:
    fixtures = sorted((shared / "parity" / "matchit_ascii").glob("*.json"))
    assert fixtures
    for path in fixtures:
        outcome = replay_fixture(json.loads(path.read_text(encoding="utf-8")), clembench, name=path.name)
        assert outcome.matches, (path.name, outcome.divergence, outcome.mismatches)


def test_every_official_instance_file_loads_and_plays(clembench: Path) -> None:
    spec = game_spec("matchit_ascii")
    assert spec.clembench_instances(clembench).name == "instances.json"
    assert spec.clembench_instances(clembench, "1.6").name == "instances_v1.6.json"
    files = sorted((clembench / "matchit_ascii" / "in").glob("*.json"))
    assert len(files) >= 2
    for path in files:
        instances = load_instance_file("matchit_ascii", path)
        assert instances, path
        for item in instances:
            game = play_oracle(item)
            assert game.outcome is Outcome.SUCCESS, item.instance_id
            assert len(game.turns) == 4 * int(item.instance["decision_turn"]) + 4


def test_holdout_instances_play_without_engine_errors(shared: Path) -> None:
    files = sorted((shared / "holdout-instances" / "matchit_ascii").glob("*.json"))
    assert files
    for path in files:
        data = json.loads(path.read_text(encoding="utf-8"))
        item = GameInstance("matchit_ascii", data["experiment"], data["instance"], "holdout", str(path))
        assert play_oracle(item).outcome is Outcome.SUCCESS
        for seed in range(20):
            run(item.build(), Junk(seed))


# ------------------------------------------------------------------ our instances


@pytest.mark.parametrize("split", SPLITS)
def test_shipped_split_plays_to_an_end(split: str) -> None:
    instances = generated_instances("matchit_ascii", split)
    assert len(instances) == 4 * generator.PER_EXPERIMENT[split]
    assert {i.experiment_name for i in instances} == set(generator.EXPERIMENTS)
    for item in instances:
        assert play_oracle(item).score().episode["Main Score"] == 100
    run(instances[0].build(), Junk(0))


def read_grid(text: str) -> grids.Grid:
    return tuple(mark == grids.FILLED for mark in text.split())


def test_pairs_are_of_their_kind() -> None:
    for item in generated_instances("matchit_ascii", "train"):
        first, second = read_grid(item.instance["grid_a"]), read_grid(item.instance["grid_b"])
        name = item.experiment_name
        assert (first == second) == (name == "same_grid")
        assert (item.experiment["solution"] == "same grid") == (name == "same_grid")
        if name == "similar_grid_1":
            assert any(t(first) == second for t in grids.SIMILAR_TRANSFORMS)
        elif name == "similar_grid_2":
            assert grids.distance(first, second) == 2
        elif name == "different_grid":
            assert grids.distance(first, second) >= generator.DIFFERENT_MIN_CELLS
            assert grids.orbit_key(first) != grids.orbit_key(second)


def test_splits_share_no_grid_orbit() -> None:
    orbits = {split: {grids.orbit_key(read_grid(i.instance[key])) for i in generated_instances("matchit_ascii", split)
                      for key in ("grid_a", "grid_b")} for split in SPLITS}
    assert not orbits["train"] & orbits["validation"] and not orbits["train"] & orbits["test"]
    assert not orbits["validation"] & orbits["test"]


def test_grid_transforms() -> None:
    grid = grids.from_glyph("##### #.... ###.. #.... #....")  # an F: no symmetry at all
    assert grids.render(grid).splitlines()[2] == "X X X ▢ ▢"
    assert grids.rotate_counterclockwise(grids.rotate_clockwise(grid)) == grid
    assert grids.mirror_left_right(grids.mirror_left_right(grid)) == grid
    assert len(grids.orbit(grid)) == 8 and grids.orbit_key(grids.mirror_top_bottom(grid)) == grids.orbit_key(grid)
    assert grids.distance(grid, grids.flip_cells(grid, [0, 24])) == 2
    ell = grids.from_glyph("#.... #.... #.... #.... #####")  # mirrored on its diagonal: 4 images
    assert len(grids.orbit(ell)) == 4


def test_shipped_files_are_what_the_generator_makes() -> None:
    shipped = json.loads(shipped_file("matchit_ascii", "test").read_text(encoding="utf-8"))
    assert generator.generate("test", 2025) == shipped
    assert generator.generate("test", 7) != shipped
