"""Textmapworld, textmapworld_specificroom and textmapworld_graphreasoning: reply formats, moves, the turn
limit, scores (efficiency, loops, graph similarity), official and held-out instances, our generated splits,
and the recorded v2.0 episodes."""

from __future__ import annotations

import asyncio
import itertools
import json
import math
import random
from pathlib import Path

import pytest

from playpen_games.engine import Outcome
from playpen_games.engine.runner import EpisodeStatus, Reply, Request, play_episode
from playpen_games.games.textmapworld import generator, graphs, prompts, scoring
from playpen_games.games.textmapworld.game import MAX_TURNS, TextMapWorld
from playpen_games.instances import SPLITS, GameInstance, load_instance_file
from playpen_games.instances.generated import generated_instances
from playpen_games.registry import game_class, game_spec
from playpen_games.replay import replay_fixture

from ...conftest import shared_dir

GAMES = ("textmapworld", "textmapworld_specificroom", "textmapworld_graphreasoning")
CLEMBENCH_FOLDERS = {"textmapworld": "textmapworld_main", "textmapworld_specificroom": "textmapworld_specificroom",
                     "textmapworld_graphreasoning": "textmapworld_graphreasoning"}
EXPERIMENT = {
    "name": "toy",
    "Prompt": "Start in $INITIAL_ROOM$ ($INITIAL_DIRECTIONS$), find $GOAL$.",
    "Player2_positive_answer": "Now in $ANOTHER_ROOM$: $DIRECTIONS$.",
    "Player2_negative_answer": "Still in $SAME_ROOM$: $DIRECTIONS$.",
    "Move_Construction": prompts.MOVE_PATTERN,
    "Stop_Construction": prompts.STOP_PATTERN,
    "Response_Construction": prompts.REPLY_PATTERN,
}


def line_map(start: str = "X", **extra) -> dict:
    """W - X - Y - Z from west to east, in clembench's string-literal form."""
    rooms = ["W", "X", "Y", "Z"]
    exits = {"W": [("east", "X")], "X": [("west", "W"), ("east", "Y")], "Y": [("west", "X"), ("east", "Z")],
             "Z": [("west", "Y")]}
    return {
        "game_id": 7, "Game_Type": "named_graph", "Ambiguity": None, "Current_Position": start,
        "Graph_Nodes": str(rooms), "Graph_Edges": str([("W", "X"), ("X", "Y"), ("Y", "Z")]),
        "Directions": str([(r, [d for d, _ in exits[r]]) for r in rooms]),
        "Moves": str([{"node": r, "node_moves": exits[r]} for r in rooms]),
        "Loop_Reminder": False, "Max_Turns_Reminder": False, **extra,
    }


def new_game(game: str = "textmapworld", **instance):
    return game_class(game)(EXPERIMENT, line_map(**instance))


class Script:
    def __init__(self, replies: list[str]):
        self.replies, self.requests = list(replies), []

    async def respond(self, request: Request) -> Reply:
        self.requests.append(request)
        return Reply(self.replies.pop(0))


class Explorer:
    """Walks a depth-first tour of the whole map (or the shortest way to the target), then says DONE."""

    def __init__(self, game: TextMapWorld, draw: bool = False):
        self.draw, self.commands, self.known = draw, self.plan(game), [game.map.start]

    @staticmethod
    def plan(game: TextMapWorld) -> list[str]:
        room_map = game.map
        step = {r: {d: room_map.destination(r, d) for d in room_map.exits_of(r)} for r in room_map.rooms}
        back = {"north": "south", "south": "north", "east": "west", "west": "east"}
        if game.target is not None:
            paths, queue = {room_map.start: []}, [room_map.start]
            for room in queue:
                for way, nxt in step[room].items():
                    if nxt not in paths:
                        paths[nxt] = [*paths[room], way]
                        queue.append(nxt)
            return [*paths[game.target], "DONE"]
        seen, commands = {room_map.start}, []

        def visit(room):
            for way, nxt in step[room].items():
                if nxt not in seen:
                    seen.add(nxt)
                    commands.append(way)
                    visit(nxt)
                    if len(seen) < len(room_map.rooms):
                        commands.append(back[way])
        visit(room_map.start)
        return [*commands, "DONE"]

    async def respond(self, request: Request) -> Reply:
        command = self.commands.pop(0)
        if not self.draw:
            return Reply(command if command == "DONE" else f"GO: {command}")
        action = command if command == "DONE" else f"GO: {command}"
        graph = {"nodes": self.known, "edges": {"north": [], "south": [], "east": [], "west": []}}
        return Reply(json.dumps({"action": action, "graph": graph}))


def play(game, responder):
    result = asyncio.run(play_episode(game, {"PathGuesser": responder}, episode_id="t"))
    assert result.status is EpisodeStatus.COMPLETED, result.error
    return game


# ------------------------------------------------------------------ reply formats and moves


def test_replies_must_be_exactly_one_command() -> None:
    for reply in ["GO: east", "go:east", "GO:  East", "GO: east\n", "GO:\neast"]:
        game = play(new_game(), Script([reply, "DONE"]))
        assert game.outcome is Outcome.LOSE and game.moves == [("X", "Y")], reply
    for reply in ["DONE", "done", "DONE\n"]:
        assert play(new_game(), Script([reply])).stopped, reply
    for reply in ["GO: east\n<end_of_turn>", "\nGO: east", "GO: east.", "Go east", "GO: east\n\n", "GO: up",
                  "DONE\nGO: east", "I am DONE", ""]:
        game = play(new_game(), Script([reply]))
        assert game.outcome is Outcome.ABORTED and not game.stopped, reply
        assert math.isnan(game.score().episode["Main Score"])


def test_describer_moves_the_guesser_or_keeps_it_in_place() -> None:
    script = Script(["GO: north", "GO: EAST", "DONE"])
    game = play(new_game(), script)
    prompts = [r.messages[-1]["content"] for r in script.requests]
    assert prompts[0] == "Start in X (west, east), find $GOAL$."
    assert prompts[1] == "Still in X: west, east."
    assert prompts[2] == "Now in Y: west, east."
    assert game.moves == [("X", "Y")]  # the refused move is not a move
    describer_turns = [t for t in game.turns if t.role == "PathDescriber"]
    assert [t.programmatic for t in describer_turns] == [True, True]
    assert [t.messages[-1]["content"] for t in describer_turns] == ["GO: north", "GO: EAST"]


def test_twenty_rounds_without_done_abort() -> None:
    game = play(new_game(), Script(["GO: east", "GO: west"] * (MAX_TURNS // 2)))
    assert game.outcome is Outcome.ABORTED and game.turns_limit and len(game.rounds) == MAX_TURNS
    episode = game.score().episode
    assert (episode["Aborted"], episode["Success"], episode["Lose"]) == (1, 0, 0)
    assert all(math.isnan(episode[k]) for k in ("moves", "efficiency", "turns_limit", "Main Score"))
    game = play(new_game(), Script(["GO: east", "GO: west"] * (MAX_TURNS // 2 - 1) + ["GO: north", "DONE"]))
    assert game.outcome is Outcome.LOSE and game.score().episode["moves"] == MAX_TURNS - 2


# ------------------------------------------------------------------ scores


def test_efficiency_exploration_and_main_score_of_a_walk() -> None:
    # Walks never re-enter a room while a fresh one is next door, so from X the only shortest tour of
    # {W, Y} is X-W-X-Y: X->Y is not efficient; Y->X is not either (Y-Z-Y-X-W is shorter); X->W is.
    game = play(new_game(), Script(["GO: east", "GO: west", "GO: west", "DONE"]))
    assert game.outcome is Outcome.LOSE
    episode = game.score().episode
    assert [r["efficient_move"] for r in game.score().rounds] == [0, 0, 1]
    assert episode["efficiency"] == pytest.approx(100 / 3) and episode["exploration"] == 75
    assert episode["Main Score"] == pytest.approx(2 * (100 / 3) * 75 / (100 / 3 + 75))
    assert (episode["moves"], episode["valid_moves"], episode["invalid_moves"]) == (3, 3, 0)
    assert (episode["number_visited"], episode["seen"], episode["loops"], episode["stopped"]) == (3, 4, 0, 1)
    assert (episode["Aborted"], episode["Success"], episode["Lose"], episode["turns_limit"]) == (0, 0, 1, 0)


def test_full_tour_succeeds() -> None:
    game = play(new_game(start="W"), Script(["GO: east"] * 3 + ["DONE"]))
    episode = game.score().episode
    assert game.outcome is Outcome.SUCCESS and episode["Main Score"] == 100 and episode["Success"] == 1
    game = play(new_game(start="W"), Script(["DONE"]))
    assert game.score().episode["Main Score"] == 0 and game.score().episode["efficiency"] == 0


def test_loops_count_windows_of_four_positions() -> None:
    back_and_forth = ["GO: east", "GO: west"] * 2 + ["DONE"]
    assert play(new_game(), Script(back_and_forth)).score().episode["loops"] == 2
    # specificroom starts a fresh window after every loop
    game = play(new_game("textmapworld_specificroom", Specific_Room="X"), Script(back_and_forth))
    assert game.score().episode["loops"] == 1


def test_first_steps_of_shortest_tours() -> None:
    adjacency = {"W": ["X"], "X": ["W", "Y"], "Y": ["X", "Z"], "Z": ["Y"]}
    assert scoring.first_steps_of_shortest_tours(adjacency, "X", {"X"}) == {("X", "W")}
    assert scoring.first_steps_of_shortest_tours(adjacency, "W", {"W", "X"}) == {("W", "X")}
    assert scoring.first_steps_of_shortest_tours(adjacency, "Y", {"X", "Y"}) == {("Y", "Z")}
    assert scoring.first_steps_of_shortest_tours(adjacency, "Z", set(adjacency)) == {("Z", "Y")}


def test_specificroom_scores_the_room_it_stops_in() -> None:
    game = play(new_game("textmapworld_specificroom", Specific_Room="Z"), Script(["GO: east", "GO: east", "DONE"]))
    episode = game.score().episode
    assert game.outcome is Outcome.SUCCESS and episode["Main Score"] == 100
    assert episode["efficiency"] == 50 and episode["old_benchscore"] == pytest.approx(2 * 50 * 75 / 125)
    assert game.turns[0].messages[-1]["content"] == "Start in X (west, east), find Z."
    game = play(new_game("textmapworld_specificroom", Specific_Room="Z"), Script(["GO: east", "DONE"]))
    assert game.outcome is Outcome.LOSE and game.score().episode["Main Score"] == 0
    game = play(new_game("textmapworld_specificroom", Specific_Room="x"), Script(["DONE"]))  # names ignore case
    assert game.outcome is Outcome.SUCCESS
    game = play(new_game("textmapworld_specificroom", Specific_Room="Y"), Script(["GO: East", "DONE"]))
    assert game.outcome is Outcome.SUCCESS  # the direction is read in lower case, unlike in graphreasoning


# ------------------------------------------------------------------ graphreasoning


def drawn(action: str, nodes: list[str], edges: dict | None = None) -> str:
    edges = edges or {"north": [], "south": [], "east": [], "west": []}
    return json.dumps({"action": action, "graph": {"nodes": nodes, "edges": edges}})


def test_graphreasoning_reads_one_object_per_reply() -> None:
    pretty = json.dumps({"action": "GO: east", "graph": {"nodes": ["X"], "edges": {"east": []}}}, indent=2)
    game = play(new_game("textmapworld_graphreasoning"), Script([pretty, drawn("DONE", [])]))
    assert game.stopped and game.moves[0] == ("X", "Y")
    tuples = '{"action": "GO: east", "graph": {"nodes": ["X"], "edges": {"east": [("X", "Y")]}}}'
    assert play(new_game("textmapworld_graphreasoning"), Script([tuples, drawn("DONE", [])])).stopped
    game = play(new_game("textmapworld_graphreasoning"), Script([drawn("GO: East", ["X"]), drawn("DONE", [])]))
    assert game.moves == [] and game.stopped  # the direction is read as written: East is no exit
    for reply in [f"```json\n{drawn('GO: east', ['X'])}\n```", drawn("GO: east", ["X"]) + "<|im_end|>", "DONE",
                  '{"action": "GO: east", "graph": {"nodes": [], "edges": {"east": [true]}}}',
                  drawn("GO: east GO: west", []), drawn("DONE GO: east", [])]:
        game = play(new_game("textmapworld_graphreasoning"), Script([reply]))
        assert game.outcome is Outcome.ABORTED, reply


def test_graphreasoning_logs_the_last_move_again_on_done() -> None:
    true_map = {"north": [], "south": [], "east": [["W", "X"], ["X", "Y"], ["Y", "Z"]], "west": []}
    game = play(new_game("textmapworld_graphreasoning", start="W"),
                Script([drawn("GO: east", ["w", "X", "Y", "Z"], true_map), drawn("DONE", ["nothing"])]))
    assert game.moves == [("W", "X"), ("W", "X")]
    episode = game.score().episode
    assert (episode["moves"], episode["valid_moves"], episode["efficiency"]) == (2, 2, 50)
    assert episode["graph_similarity"] == 100  # the graph sent with the last move, not with DONE
    assert episode["exploration"] == 50 and episode["Main Score"] == 50 and game.outcome is Outcome.LOSE
    plain = play(new_game(start="W"), Script(["GO: east", "DONE"])).score().episode
    assert (plain["moves"], plain["efficiency"], plain["Main Score"]) == (1, 100, pytest.approx(200 / 3))


def test_graphreasoning_done_at_once_scores_a_move_from_nowhere() -> None:
    episode = play(new_game("textmapworld_graphreasoning"), Script([drawn("DONE", [])])).score().episode
    assert (episode["moves"], episode["efficiency"], episode["graph_similarity"], episode["Main Score"]) == (1, 0, 0, 0)


def brute_force_distance(first: graphs.Graph, second: graphs.Graph) -> int:
    """Graph edit distance with unit costs by trying every partial one-to-one mapping of rooms."""
    a, b = sorted(first.nodes), sorted(second.nodes)
    best = math.inf
    for k in range(min(len(a), len(b)) + 1):
        for sources in itertools.combinations(a, k):
            for targets in itertools.permutations(b, k):
                f = dict(zip(sources, targets, strict=True))
                kept = sum(1 for e in first.edges
                           if all(n in f for n in e) and frozenset(f[n] for n in e) in second.edges)
                best = min(best, len(a) + len(b) - 2 * k + len(first.edges) + len(second.edges) - 2 * kept)
    return best


def test_graph_edit_distance_is_exact() -> None:
    rng = random.Random(4)
    for _ in range(150):
        pair = []
        for _side in range(2):
            nodes = [f"r{i}" for i in range(rng.randint(0, 5))]
            edges = [tuple(rng.sample(nodes, 2)) for _ in range(rng.randint(0, 6))] if len(nodes) > 1 else []
            pair.append(graphs.Graph.of(nodes, edges))
        assert graphs.edit_distance(*pair) == brute_force_distance(*pair)


def test_graph_similarity() -> None:
    real = graphs.real_map(["A", "B", "C"], [("A", "B"), ("B", "C")])
    same = {"nodes": ["a", "B", "c"], "edges": {"east": [("A", "b")], "x": [["b", "c"]]}}
    assert graphs.graph_similarity(real, same) == 100
    # nothing drawn: 3 rooms and 2 passages to insert
    assert graphs.graph_similarity(real, {"nodes": [], "edges": {}}) == pytest.approx(
        100 * (1 - 2 * (1 / (1 + math.exp(-2.5)) - 0.5)))
    for unreadable in [None, "text", {"nodes": [1], "edges": {}}, {"nodes": [], "edges": []}, {"nodes": ["a"]}]:
        assert graphs.graph_similarity(real, unreadable) == 0


# ------------------------------------------------------------------ instances


def test_malformed_maps_are_rejected() -> None:
    from playpen_games.engine import GameDefinitionError

    with pytest.raises(GameDefinitionError):
        new_game(start="Q")
    with pytest.raises(GameDefinitionError):
        new_game(Graph_Edges=str([("W", "X"), ("X", "Y")]))  # Z cut off; Y's east exit leads along no edge
    with pytest.raises(GameDefinitionError):
        new_game("textmapworld_specificroom", Specific_Room="Attic")
    with pytest.raises(GameDefinitionError):
        new_game(Graph_Nodes="['W', 'X'")


class Junk:
    def __init__(self, seed: int, game: str):
        self.rng, self.json = random.Random(seed), game.endswith("graphreasoning")

    async def respond(self, request: Request) -> Reply:
        way = self.rng.choice(["north", "south", "east", "west", "up"])
        options = [f"GO: {way}"] * 12 + ["DONE", "DONE\n<end_of_turn>", "go somewhere", ""]
        if self.json:
            options = [drawn(f"GO: {way}", ["a"], {"north": [["a", "b"]]})] * 12 + [drawn("DONE", []), f"GO: {way}"]
        return Reply(self.rng.choice(options))


def play_junk(instance: GameInstance, seed: int) -> Outcome:
    game = instance.build()
    result = asyncio.run(play_episode(game, {"PathGuesser": Junk(seed, instance.game)}, episode_id=str(seed)))
    assert result.status is EpisodeStatus.COMPLETED, result.error
    assert result.scores is not None and "Main Score" in result.scores.episode
    return game.outcome


@pytest.mark.parametrize("game", GAMES)
def test_every_official_instance_file_loads_and_plays(game: str, clembench: Path) -> None:
    files = sorted((clembench / "textmapworld" / CLEMBENCH_FOLDERS[game] / "in").glob("*.json"))
    assert len(files) >= 2  # the current file and v1.6 (plus unnamed-graph ones for textmapworld)
    assert game_spec(game).clembench_instances(clembench, "1.6").is_file()
    for path in files:
        instances = load_instance_file(game, path)
        assert len(instances) >= 30, path
        official = instances[0].instance  # our own instances speak the same protocol
        assert (official["Move_Construction"], official["Stop_Construction"]) == (prompts.MOVE_PATTERN,
                                                                                  prompts.STOP_PATTERN)
        assert official.get("Response_Construction", prompts.REPLY_PATTERN) == prompts.REPLY_PATTERN
        outcomes = {play_junk(instance, seed) for seed, instance in enumerate(instances)}
        assert Outcome.ABORTED in outcomes and outcomes - {Outcome.ABORTED}, path


def test_held_out_instances_play_without_engine_errors(shared: Path) -> None:
    files = sorted((shared / "holdout-instances").glob("textmapworld*/*.json"))
    assert {p.parent.name for p in files} == set(GAMES)
    for path in files:
        held_out = json.loads(path.read_text())
        instance = GameInstance(held_out["game"], held_out["experiment"], held_out["instance"], "holdout", str(path))
        for seed in range(5):
            play_junk(instance, seed)
        game = instance.build()
        play(game, Explorer(game, draw=instance.game.endswith("graphreasoning")))
        assert game.outcome is Outcome.SUCCESS, path


# ------------------------------------------------------------------ our generated instances


@pytest.mark.parametrize("game", GAMES)
@pytest.mark.parametrize("split", SPLITS)
def test_generated_split_builds_and_plays(game: str, split: str) -> None:
    instances = generated_instances(game, split)
    per_experiment = generator.PER_EXPERIMENT[game][split]
    assert len(instances) == per_experiment * len(generator.EXPERIMENTS[game])
    for index, instance in enumerate(instances):
        built = instance.build()
        if index % 9 == 0:
            play(built, Explorer(built, draw=game.endswith("graphreasoning")))
            assert built.outcome is Outcome.SUCCESS
            episode = built.score().episode
            assert episode["Main Score"] == 100 if game == "textmapworld_specificroom" else episode["Main Score"] > 0
        elif index % 9 == 1:
            play_junk(instance, index)
    prompt = instances[0].build().players["PathGuesser"].prompt()[-1]["content"]
    assert "$" not in prompt and instances[0].instance["Current_Position"] in prompt


@pytest.mark.parametrize("game", GAMES)
def test_generated_splits_share_no_map_and_no_room(game: str) -> None:
    def layout(instance: GameInstance) -> frozenset:
        coordinates = instance.instance["Coordinates"]
        return frozenset(frozenset((tuple(coordinates[a]), tuple(coordinates[b])))
                         for a, b in instance.instance["Graph_Edges"])

    layouts = {split: {layout(i) for i in generated_instances(game, split)} for split in SPLITS}
    rooms = {split: {r for i in generated_instances(game, split) for r in i.instance["Graph_Nodes"]}
             for split in SPLITS}
    for first, second in itertools.combinations(SPLITS, 2):
        assert not layouts[first] & layouts[second]
        assert not rooms[first] & rooms[second]
    assert generator.generate(game, "test", 2025) == generator.generate(game, "test", 2025)


# ------------------------------------------------------------------ the recorded v2.0 episodes

FIXTURES = sorted(p for game in GAMES for p in (shared_dir() / "parity" / game).glob("*.json"))


@pytest.mark.parametrize("fixture_path", FIXTURES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_recorded_episode_replays_to_its_scores(fixture_path: Path, clembench: Path) -> None:
    outcome = replay_fixture(json.loads(fixture_path.read_text()), clembench, name=fixture_path.name)
    assert not outcome.divergence, outcome.divergence
    assert not outcome.mismatches, outcome.mismatches


def test_parity_fixtures_are_present(shared: Path) -> None:
    assert {p.parent.name for p in FIXTURES} == set(GAMES)
