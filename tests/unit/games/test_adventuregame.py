"""Adventuregame: the PDDL parser, the command grammar, action execution (preconditions, effects, failure
types), abort / lose / success, clembench's scores and NaNs, the planning variant, our generated instances,
and — with the shared data — official instances, parity fixtures and held-out instances."""

from __future__ import annotations

import asyncio
import json
import math
from pathlib import Path

import pytest

from playpen_games.engine import GameDefinitionError, Outcome
from playpen_games.engine.runner import EpisodeStatus, Reply, Request, play_episode
from playpen_games.games.adventuregame import AdventureGame, definitions, generator, pddl, scoring
from playpen_games.games.adventuregame.interpreter import Interpreter
from playpen_games.games.adventuregame.scoring import TurnRecord
from playpen_games.instances import SPLITS, GameInstance, load_instance_file
from playpen_games.instances.generated import generated_instances, shipped_file
from playpen_games.registry import game_spec
from playpen_games.replay import fixture_instance, replay_fixture

GAME = "adventuregame"
PACKAGED = game_spec(GAME).resources().packaged / "definitions"
OUR_DEFINITIONS = {"action_definitions": ["playpen_home_actions.json"],
                   "room_definitions": ["playpen_home_rooms.json"],
                   "entity_definitions": ["playpen_home_entities.json"],
                   "domain_definitions": ["playpen_home_domain.json"]}
LIMITED = {**OUR_DEFINITIONS, "action_definitions": ["playpen_home_actions_invlimit.json"],
           "domain_definitions": ["playpen_home_domain_invlimit.json"]}

# A small home: kitchen <-> hallway; the pantry is unreachable. An apple in the closed refrigerator, a plate
# on the table, a book on the hallway floor, a banana on the shelf in the hallway.
TOY_STATE = [
    "type(player1,player)", "type(inventory,inventory)", "at(player1,kitchen1)",
    "room(kitchen1,kitchen)", "room(hallway1,hallway)", "room(pantry1,pantry)",
    "type(kitchen1floor1,floor)", "type(hallway1floor1,floor)", "type(pantry1floor1,floor)",
    "exit(kitchen1,hallway1)", "exit(hallway1,kitchen1)",
    "type(table1,table)", "at(table1,kitchen1)",
    "type(refrigerator1,refrigerator)", "at(refrigerator1,kitchen1)", "closed(refrigerator1)",
    "type(shelf1,shelf)", "at(shelf1,hallway1)",
    "type(apple1,apple)", "at(apple1,kitchen1)", "in(apple1,refrigerator1)",
    "type(plate1,plate)", "at(plate1,kitchen1)", "on(plate1,table1)",
    "type(book1,book)", "at(book1,hallway1)", "on(book1,hallway1floor1)",
    "type(banana1,banana)", "at(banana1,hallway1)", "on(banana1,shelf1)",
]
TOY_GOALS = ["on(apple1,table1)", "on(book1,table1)"]
OPTIMAL = ["open refrigerator", "take apple", "put apple on table", "go hallway", "take book", "go kitchen",
           "put book on table"]


def toy_instance(**changes) -> dict:
    instance = {"game_id": 0, "variant": "basic", "prompt": "Deliver the apple and the book to the table.\n\n",
                "initial_state": TOY_STATE, "goal_state": TOY_GOALS, "max_turns": 50, "optimal_turns": 7,
                **OUR_DEFINITIONS}
    return {**instance, **changes}


def interpreter(**changes) -> Interpreter:
    instance = toy_instance(**changes)
    return Interpreter(definitions.load(instance, game_spec(GAME).resources()), instance)


def new_game(**changes) -> AdventureGame:
    return AdventureGame({"name": "toy"}, toy_instance(**changes), game_spec(GAME).resources())


def play(game: AdventureGame, replies: list[str]):
    class Script:
        async def respond(self, request: Request) -> Reply:
            return Reply(replies.pop(0))

    result = asyncio.run(play_episode(game, {"Adventurer": Script()}, episode_id="t"))
    assert result.status is EpisodeStatus.COMPLETED, result.error
    return result


def failure_of(it: Interpreter, command: str) -> tuple[str, str] | None:
    result = it.process(command)
    return (result.failure.phase, result.failure.kind) if result.failure else None


# ------------------------------------------------------------------------------------------- PDDL parser


def _atoms(condition) -> int:
    if isinstance(condition, (pddl.Atom, pddl.Compare)):
        return 1
    if isinstance(condition, pddl.Not):
        return _atoms(condition.inner)
    return sum(_atoms(item) for item in condition.items)


def _check_definition_folder(folder: Path) -> int:
    parsed = 0
    for path in sorted(folder.glob("*.json")):
        document = json.loads(path.read_text())
        if isinstance(document, dict) and "pddl_domain" in document:
            domain = pddl.parse_domain(document["pddl_domain"])
            kinds = dict(domain.types)
            assert {"room", "entity", "receptacle"} <= set(kinds), path.name
            assert "inventory" in kinds["receptacle"]
            parsed += 1
        elif isinstance(document, list) and document and "pddl" in document[0]:
            for action in document:
                schema = pddl.parse_action(action["pddl"])
                assert schema.name == action["type_name"]
                # every precondition atom has its message, every parameter its binding and message
                assert _atoms(schema.precondition) == len(action["failure_feedback"]["precondition"]), schema.name
                variables = {f"?{v}" for v, _ in schema.parameters}
                assert variables == set(action["pddl_parameter_mapping"]), schema.name
                assert len(action["failure_feedback"]["parameters"]) == len(variables), schema.name
                parsed += 1
    return parsed


def test_pddl_parser_reads_every_packaged_definition() -> None:
    assert _check_definition_folder(PACKAGED) == 2 + 2 * 7


def test_pddl_parser_reads_every_clembench_definition(clembench: Path) -> None:
    assert _check_definition_folder(clembench / GAME / "resources" / "definitions") == 2 + 2 * 7


def test_pddl_trees() -> None:
    schema = pddl.parse_action("""(:action PUT
        :parameters (?e - movable ?t - receptacle ?i - inventory)
        :precondition (and (in ?e ?i) (or (and (container ?t) (open ?t)) (support ?t)) (not (at ?t inventory))
                           (< (itemcount ?i) 2.5))
        :effect (and (not (in ?e ?i)) (when (support ?t) (on ?e ?t)) (decrease (itemcount ?i) 1)
                     (forall (?c - takeable) (when (in ?c ?t) (accessible ?c)))))""")
    assert schema.name == "put"
    assert schema.parameters == (("e", "movable"), ("t", "receptacle"), ("i", "inventory"))
    first, either, negated, limit = schema.precondition.items
    assert first == pddl.Atom("in", (pddl.Var("e"), pddl.Var("i")))
    assert isinstance(either, pddl.Or) and isinstance(either.items[0], pddl.And)
    assert negated == pddl.Not(pddl.Atom("at", (pddl.Var("t"), "inventory")))
    assert limit == pddl.Compare("<", pddl.FunctionTerm("itemcount", pddl.Var("i")), 2.5)
    delete, when, change, forall = schema.effect.items
    assert isinstance(delete, pddl.Delete) and isinstance(when, pddl.When)
    assert change == pddl.Change("decrease", pddl.FunctionTerm("itemcount", pddl.Var("i")), 1)
    assert forall.variables == (("c", "takeable"),)
    domain = pddl.parse_domain("(define (domain d) (:types a b - room c - entity a - thing) "
                               "(:functions (count ?x - c)))")
    assert dict(domain.types) == {"room": ("a", "b"), "entity": ("c",), "thing": ("a",)}
    assert domain.functions == (("count", "c"),)


@pytest.mark.parametrize("text", ["(:action X :parameters (?a - b) :precondition (and (p ?a)))",
                                  "(define (domain d) (:types a - ))", "(and (p ?a))", ""])
def test_malformed_pddl_is_a_definition_error(text: str) -> None:
    with pytest.raises(GameDefinitionError):
        pddl.parse_action(text)


# ------------------------------------------------------------------------------------------- commands


def test_command_grammar_reads_arguments_prepositions_and_adjectives() -> None:
    grammar = interpreter().definitions.grammar
    command = grammar.read("put the round table back onto the side table")
    assert (command.kind, command.args, command.preposition) == ("put", ("table", "side table"), "onto")
    assert command.adjectives == (("round",), ())
    assert grammar.read("go to living room").args == ("living room",)
    assert grammar.read("look at the plate").kind == "examine"
    unknown = grammar.read("eat the apple now")
    assert (unknown.kind, unknown.args) == ("unknown", ("eat",))


@pytest.mark.parametrize(("command", "failure"), [
    ("take 2 apples", ("parsing", "lark_exception")),
    ("", ("parsing", "lark_exception")),
    ("put plate", ("parsing", "malformed_command")),
    ("eat the apple", ("parsing", "undefined_action_verb")),
    ("take the unicorn", ("parsing", "undefined_repr_str")),
    ("put plate on unicorn", ("parsing", "undefined_repr_str")),
    ("take kitchen", ("parsing", "manipulating_room")),
    ("open the hallway", ("parsing", "manipulating_room")),
    ("take plate from hallway", ("parsing", "other_room_argument")),
    ("take apple from inventory", ("parsing", "taking_from_inventory")),
])
def test_parsing_phase_failures(command: str, failure: tuple[str, str]) -> None:
    assert failure_of(interpreter(), command) == failure


def test_taking_a_carried_thing_from_the_inventory_is_a_resolution_failure() -> None:
    it = interpreter()
    assert failure_of(it, "take plate") is None
    assert failure_of(it, "take plate from inventory") == ("resolution", "taking_from_inventory")


def test_trailing_punctuation_and_case_are_ignored() -> None:
    assert failure_of(interpreter(), "Take The Plate!") is None
    assert failure_of(interpreter(), "DONE.") is None


# ------------------------------------------------------------------------------------------- actions


def test_closed_container_hides_its_contents_until_opened() -> None:
    it = interpreter()
    assert "apple" not in it.world.room_description()
    assert failure_of(it, "take apple") == ("resolution", "entity_not_accessible")
    opened = it.process("open the refrigerator")
    assert opened.succeeded and "apple" in opened.feedback
    assert ("open", "refrigerator1") in it.world.facts and ("closed", "refrigerator1") not in it.world.facts
    assert ("accessible", "apple1") in it.world.facts
    assert failure_of(it, "open refrigerator") == ("resolution", "entity_state_mismatch")
    assert failure_of(it, "take apple") is None
    assert ("in", "apple1", "inventory") in it.world.facts and ("in", "apple1", "refrigerator1") not in it.world.facts
    assert failure_of(it, "take apple") == ("resolution", "entity_already_inventory")


def test_closing_makes_contents_unreachable_again() -> None:
    it = interpreter()
    for command in ("open refrigerator", "take plate", "put plate in refrigerator", "close refrigerator"):
        assert failure_of(it, command) is None, command
    assert ("accessible", "plate1") not in it.world.facts
    assert failure_of(it, "take plate") == ("resolution", "entity_not_accessible")
    assert failure_of(it, "put apple in refrigerator") == ("resolution", "entity_not_accessible")


def test_put_needs_the_thing_carried_and_an_open_container() -> None:
    it = interpreter()
    assert failure_of(it, "put plate on table") == ("resolution", "entity_not_accessible")
    assert failure_of(it, "take plate") is None
    assert failure_of(it, "put plate in refrigerator") == ("resolution", "entity_state_mismatch")
    assert failure_of(it, "put plate on shelf") == ("resolution", "entity_not_accessible")  # in the hallway
    assert failure_of(it, "put plate on apple") == ("resolution", "domain_trait_type_mismatch")
    result = it.process("put plate on the floor")
    assert result.succeeded and ("on", "plate1", "kitchen1floor1") in it.world.facts  # this room's floor


def test_go_moves_the_player_and_what_it_carries() -> None:
    it = interpreter()
    assert failure_of(it, "go to the kitchen") == ("resolution", "going_to_current_room")
    assert failure_of(it, "go pantry") == ("resolution", "no_exit_to")
    assert failure_of(it, "go to the table") == ("resolution", "domain_trait_type_mismatch")
    it.process("take plate")
    result = it.process("go to the hallway")
    assert result.succeeded and result.feedback.startswith("You are in the hallway.")
    assert it.world.player_room() == "hallway1"
    assert ("at", "plate1", "hallway1") in it.world.facts and ("at", "plate1", "kitchen1") not in it.world.facts
    assert ("at", "table1", "kitchen1") in it.world.facts


def test_wrong_domain_type_is_reported_before_preconditions_as_in_clembench_2() -> None:
    it = interpreter()
    assert failure_of(it, "take table") == ("resolution", "domain_trait_type_mismatch")
    assert failure_of(it, "take shelf") == ("resolution", "domain_trait_type_mismatch")  # not even here
    assert failure_of(it, "open plate") == ("resolution", "domain_trait_type_mismatch")


def test_examine_describes_things_and_the_inventory() -> None:
    it = interpreter()
    assert "nothing" in it.process("examine inventory").feedback
    table = it.process("examine the table")
    assert table.succeeded and "plate" in table.feedback
    assert failure_of(it, "examine book") == ("resolution", "entity_not_accessible")


def test_inventory_limit_counts_what_is_carried() -> None:
    it = interpreter(**LIMITED)
    assert failure_of(it, "take plate") is None
    it.process("open refrigerator")
    assert failure_of(it, "take apple") is None
    assert ("itemcount", "inventory", 2) in it.world.facts
    it.process("go hallway")
    assert failure_of(it, "take book") == ("resolution", "inventory_limit_exceeded")
    assert failure_of(it, "put plate on floor") is None
    assert ("itemcount", "inventory", 1) in it.world.facts
    assert failure_of(it, "take book") is None


def test_goals_count_after_successful_actions_only() -> None:
    it = interpreter()
    results = [it.process(command) for command in OPTIMAL]
    assert all(r.succeeded for r in results)
    assert [len(r.goals) for r in results] == [0, 0, 1, 1, 1, 1, 2]
    assert it.goals_achieved == it.goal_facts


def test_plan_try_out_restores_the_world_but_not_the_reported_goals() -> None:
    it = interpreter()
    it.process("open refrigerator")
    before = set(it.world.facts)
    assert it.try_plan(["take apple", "put apple on table", "fly away", "go hallway"]) == 2
    assert it.world.facts == before
    # as in clembench: a failed command reports the goals the last successful action left, here the plan's
    failed = it.process("fly away")
    assert not failed.succeeded and len(failed.goals) == 1
    assert len(it.process("examine table").goals) == 0


# ------------------------------------------------------------------------------------------- the game


def test_first_message_is_the_prompt_and_the_room() -> None:
    game = new_game()
    context = game.players["Adventurer"].context
    assert context.startswith("Deliver the apple and the book to the table.\n\nYou are in the kitchen.")
    assert "From here you can go to the hallway." in context


def test_success_with_done_after_every_goal() -> None:
    game = new_game()
    result = play(game, [f"> {c}" for c in OPTIMAL] + ["> done"])
    scores = result.scores.episode
    assert game.outcome is Outcome.SUCCESS
    assert (scores["Main Score"], scores["Success"], scores["Lose"], scores["Aborted"]) == (100.0, 1, 0, 0)
    assert (scores["turns_over_par"], scores["turn_ratio"]) == (1, 1 - 1 / 43)
    assert scores["finish_speed"] == pytest.approx(1 / 43)
    assert (scores["hallucination_count"], scores["successful_actions"], scores["Request Count"]) == (0, 8, 8)
    assert [r["goal_score"] for r in result.scores.rounds] == [0, 0, 1, 0, 0, 0, 1, 0]


def test_early_done_is_a_hallucinated_finish_and_a_loss() -> None:
    result = play(new_game(), ["> take plate", "> go kitchen", "> done"])
    scores = result.scores.episode
    assert (scores["Success"], scores["Lose"], scores["Aborted"], scores["Main Score"]) == (0, 1, 0, 0.0)
    assert scores["hallucination_count"] == 1
    assert scores["action_resolution_fail"] == scores["going_to_current_room"] == 1
    assert scores["successful_actions"] == 2
    assert math.isnan(scores["turns_over_par"]) and math.isnan(scores["finish_speed"])


# clembench marks an episode finished once every goal holds and never clears the mark (master.py,
# AdventureGameMaster.finished); Success and the speed scores come from the mark, the Main Score from the
# goals holding at the end, and the speed scores count every turn played.


def test_done_after_undoing_a_goal_is_still_a_success() -> None:
    game = new_game()
    result = play(game, [f"> {c}" for c in OPTIMAL] + ["> take book", "> done"])
    scores = result.scores.episode
    assert game.outcome is Outcome.SUCCESS
    assert (scores["Success"], scores["Lose"], scores["Aborted"], scores["hallucination_count"]) == (1, 0, 0, 0)
    assert (scores["achieved_goal_ratio"], scores["Main Score"]) == (0.5, 50.0)
    assert (scores["turns_over_par"], scores["turn_ratio"]) == (2, 1 - 2 / 43)  # 9 turns, optimal 7, max 50
    assert scores["finish_speed"] == pytest.approx(2 / 43)
    assert [r["goal_score"] for r in result.scores.rounds][-2:] == [-1, 0]


def test_format_break_after_every_goal_aborts_with_speed_scores() -> None:
    scores = play(new_game(), [f"> {c}" for c in OPTIMAL] + ["All done!"]).scores.episode
    assert (scores["Aborted"], scores["Success"], scores["Lose"], scores["turn_limit_loss"]) == (1, 0, 0, 0)
    assert math.isnan(scores["Main Score"]) and scores["achieved_goal_ratio"] == 1.0
    assert (scores["turns_over_par"], scores["turn_ratio"]) == (1, 1 - 1 / 43)  # the invalid turn counts
    assert scores["finish_speed"] == pytest.approx(1 / 43)
    assert scores["hallucination_count"] == 1


def test_turn_limit_after_every_goal_aborts_with_speed_scores() -> None:
    game = new_game(max_turns=9)
    scores = play(game, [f"> {c}" for c in OPTIMAL] + ["> look around", "> examine inventory"]).scores.episode
    assert game.outcome is Outcome.ABORTED
    assert (scores["Aborted"], scores["Success"], scores["Lose"], scores["turn_limit_loss"]) == (1, 0, 0, 1)
    assert math.isnan(scores["Main Score"])
    assert (scores["turns_over_par"], scores["turn_ratio"], scores["finish_speed"]) == (2, 0.0, 1.0)


def test_reaching_every_goal_on_the_last_allowed_turn_sets_the_mark() -> None:
    scores = play(new_game(max_turns=8), ["> look around"] + [f"> {c}" for c in OPTIMAL]).scores.episode
    assert (scores["Aborted"], scores["turn_limit_loss"], scores["Success"]) == (1, 1, 0)
    assert (scores["turns_over_par"], scores["turn_ratio"], scores["finish_speed"]) == (1, 0.0, 1.0)


def test_a_format_break_on_the_last_allowed_turn_is_no_turn_limit_loss() -> None:
    scores = play(new_game(max_turns=3), ["> take plate", "> go hallway", "oops"]).scores.episode
    assert (scores["Aborted"], scores["turn_limit_loss"], scores["Violated Request Count"]) == (1, 0, 1)
    assert math.isnan(scores["turns_over_par"]) and math.isnan(scores["finish_speed"])


def test_missing_command_tag_aborts() -> None:
    scores = play(new_game(), ["> take plate", "I think I am done here."]).scores.episode
    assert (scores["Aborted"], scores["Success"], scores["Lose"]) == (1, 0, 0)
    assert math.isnan(scores["Main Score"]) and scores["achieved_goal_ratio"] == 0.0
    assert scores["Violated Request Count"] == scores["Parsed Request Count"] == scores["hallucination_count"] == 1
    assert scores["Request Success Ratio"] == 0.5


def test_only_the_first_line_is_the_command() -> None:
    game = new_game()
    play(game, ["> take plate\nand then some thoughts", "> done"])
    assert game.records[0].failure is None


def test_turn_limit_aborts_even_on_a_done() -> None:
    result = play(new_game(max_turns=3), ["> take plate", "> go hallway", "> done"])
    scores = result.scores.episode
    assert (scores["Aborted"], scores["turn_limit_loss"], scores["Lose"], scores["Success"]) == (1, 1, 0, 0)
    assert math.isnan(scores["Main Score"])


def test_planning_variant_needs_a_plan_unless_done() -> None:
    scores = play(new_game(variant="plan"), ["> take plate\nNext actions: go hallway", "> go hallway"]).scores.episode
    assert scores["Aborted"] == 1 and scores["Violated Request Count"] == 1
    assert [r["next_actions_missing"] for r in play(new_game(variant="plan"), ["> take plate"]).scores.rounds] == [1]
    first_done = play(new_game(variant="plan"), ["> done"]).scores.episode  # clembench would crash here
    assert (first_done["Lose"], first_done["plan_average_viability_ratio"]) == (1, 0.0)


def test_planning_scores() -> None:
    replies = [
        "> open refrigerator\nNext actions: take apple, put apple on table, dance",  # 2 of 3 viable
        "> take apple\nNext actions: fly, put apple on table",  # follows the first plan; none viable
        "> put apple on table\nNext actions: go hallway",  # 'fly' was planned: not followed
        "> go hallway\nnot done yet",  # no plan: the last one stays current (and is no longer viable)
        "> done",
    ]
    result = play(new_game(variant="plan"), replies)
    rounds = result.scores.rounds
    assert [r["plan_command_success_ratio"] for r in rounds] == [2 / 3, 0.0, 1.0, 0.0, 0.0]
    assert [r["plan_followed"] for r in rounds] == [0, 1, 0, 0, 0]
    scores = result.scores.episode
    assert scores["plan_followed_ratio"] == pytest.approx(1 / 5)
    assert scores["plan_average_viability_ratio"] == pytest.approx((2 / 3 + 1) / 5)
    assert scores["bad_plan_follow_ratio"] == 0.0 and scores["bad_plan_dismiss_ratio"] == 1.0
    assert (scores["Lose"], scores["Main Score"]) == (1, 50.0)


def test_following_a_plan_that_is_not_viable_counts() -> None:
    replies = ["> take plate\nNext actions: go pantry", "> go pantry\nNext actions: go hallway", "> done"]
    scores = play(new_game(variant="plan"), replies).scores.episode
    assert scores["bad_plan_follow_ratio"] == pytest.approx(1 / 3)
    assert scores["bad_plan_dismiss_ratio"] == pytest.approx(2 / 3)


# ------------------------------------------------------------------------------------------- exploration

# The toy world has 12 `type` facts (player, inventory, 3 floors, table, refrigerator, shelf, apple, plate, book,
# banana), 3 rooms, and its goals name 3 things (apple, book, table).
EXPLORATION_KEYS = ("epistemic_action", "pragmatic_action", "effective_epistemic_gain_amount",
                    "known_entities_ratio", "visited_rooms_ratio", "known_goal_entities_ratio")


def _metrics(result) -> tuple:
    return tuple(result.exploration[key] for key in EXPLORATION_KEYS)


def test_exploration_metrics_follow_what_the_player_perceives() -> None:
    it = interpreter()
    # in the kitchen: where the player is, table, refrigerator (closed), plate (on the table), the exit;
    # the apple in the closed refrigerator and the hidden floor are not perceived
    assert it.exploration.known == {
        ("at", "player1", "kitchen1"), ("at", "table1", "kitchen1"), ("at", "refrigerator1", "kitchen1"),
        ("closed", "refrigerator1"), ("at", "plate1", "kitchen1"), ("on", "plate1", "table1"),
        ("exit", "kitchen1", "hallway1")}
    # open (epistemic, pragmatic): + open, + the apple's at and in, - closed: gain 3; at facts: player,
    # table, refrigerator, plate, apple = 5 of 12; rooms 1 of 3; goal things known: table, apple = 2 of 3
    assert _metrics(it.process("open refrigerator")) == (1, 1, 3, 5 / 12, 1 / 3, 2 / 3)
    # take (pragmatic only): no gain counted; the apple's `in refrigerator` is forgotten
    assert _metrics(it.process("take apple")) == (0, 1, 0, 5 / 12, 1 / 3, 2 / 3)
    assert ("in", "apple1", "refrigerator1") not in it.exploration.known
    # go: + player, shelf, book (at, on floor), banana (at, on shelf), carried apple's new at, exit = 8;
    # the player's and the apple's kitchen `at` are forgotten, what was seen in the kitchen is not
    assert _metrics(it.process("go hallway")) == (1, 1, 8, 8 / 12, 2 / 3, 1.0)
    assert ("at", "plate1", "kitchen1") in it.exploration.known
    assert ("at", "player1", "kitchen1") not in it.exploration.known
    assert _metrics(it.process("fly")) == (0, 0, 0, 8 / 12, 2 / 3, 1.0)  # not parsed: no action flags
    assert _metrics(it.process("go pantry")) == (1, 1, 0, 8 / 12, 2 / 3, 1.0)  # failed, but an epistemic action
    assert _metrics(it.process("examine book")) == (1, 0, 0, 8 / 12, 2 / 3, 1.0)
    assert len(it.exploration.history) == 7


def test_exploration_metrics_are_round_scores_of_answered_turns_only() -> None:
    result = play(new_game(), ["> open refrigerator", "> done"])
    assert [tuple(r[k] for k in EXPLORATION_KEYS) for r in result.scores.rounds] == [
        (1, 1, 3, 5 / 12, 1 / 3, 2 / 3), (0, 1, 0, 5 / 12, 1 / 3, 2 / 3)]
    aborted = play(new_game(), ["> open refrigerator", "I give up."]).scores
    assert all(k in aborted.rounds[0] for k in EXPLORATION_KEYS)
    assert not any(k in aborted.rounds[1] for k in EXPLORATION_KEYS)  # clembench logs none for a format error
    assert not any(k in aborted.episode for k in EXPLORATION_KEYS)  # not aggregated


def test_plan_try_out_that_fails_keeps_what_its_first_command_revealed() -> None:
    # clembench drops one history entry per successful planned command, but the failed one added an entry too:
    # the state after `go hallway` survives the try-out
    leaky = play(new_game(variant="plan"), ["> examine table\nNext actions: go hallway, fly",
                                            "> examine plate\nNext actions: done", "> done"]).scores.rounds
    assert tuple(leaky[0][k] for k in EXPLORATION_KEYS) == (1, 0, 0, 4 / 12, 1 / 3, 1 / 3)
    # known now: the hallway (player, shelf, book, banana) and the kitchen (table, refrigerator, plate, and the
    # player again, which is the one fact gained): 8 at facts; the hallway counts as visited
    assert tuple(leaky[1][k] for k in EXPLORATION_KEYS) == (1, 0, 1, 8 / 12, 2 / 3, 2 / 3)
    clean = play(new_game(variant="plan"), ["> examine table\nNext actions: go hallway",
                                            "> examine plate\nNext actions: done", "> done"]).scores.rounds
    assert tuple(clean[1][k] for k in EXPLORATION_KEYS) == (1, 0, 0, 4 / 12, 1 / 3, 1 / 3)


# ------------------------------------------------------------------------------------------- scoring


def test_scoring_edge_cases() -> None:
    turns = [TurnRecord(), TurnRecord(invalid_format="command_tag_missing", hallucination=True)]
    aborted = scoring.score(scoring.Episode(turns, finished=False, turn_limit_reached=False, goals_reached=2,
                                            goal_count=3, optimal_turns=5, max_turns=5)).episode
    assert aborted["Aborted"] == 1 and math.isnan(aborted["Main Score"])
    assert aborted["achieved_goal_ratio"] == pytest.approx(2 / 3)
    success = scoring.score(scoring.Episode([TurnRecord()] * 5, finished=True, turn_limit_reached=False,
                                            goals_reached=3, goal_count=3, optimal_turns=5, max_turns=5)).episode
    assert success["turns_over_par"] == 0 and math.isnan(success["turn_ratio"])  # no range of turns to rate
    assert set(scoring.FAILURE_TYPES) <= set(success)


# ------------------------------------------------------------------------------------------- our instances


def test_shipped_instances_are_solvable_and_splits_share_no_task() -> None:
    tasks = {}
    for split in SPLITS:
        assert shipped_file(GAME, split).is_file()
        instances = generated_instances(GAME, split)
        assert len({i.experiment_name for i in instances}) == 8
        tasks[split] = {tuple(sorted(i.instance["goal_state"])) for i in instances}
    assert not tasks["train"] & tasks["validation"] and not tasks["train"] & tasks["test"]
    assert not tasks["validation"] & tasks["test"]


@pytest.mark.parametrize("split", ["validation", "test"])
def test_shipped_instances_play_their_optimal_solution_to_success(split: str) -> None:
    for gi in generated_instances(GAME, split):
        commands = gi.instance["optimal_commands"]
        plan = "\nNext actions: done" if gi.instance["variant"] == "plan" else ""
        scores = play(gi.build(), [f"> {c}{plan}" for c in commands] + ["> done"]).scores.episode
        assert (scores["Success"], scores["Main Score"], scores["turns_over_par"]) == (1, 100.0, 1), gi.instance_id


def test_generator_reproduces_the_shipped_validation_split() -> None:
    shipped = json.loads(shipped_file(GAME, "validation").read_text())
    assert generator.generate("validation", 2025) == shipped


# ------------------------------------------------------------------------------------------- shared data


def test_official_instances_load_and_build(clembench: Path) -> None:
    files = sorted((clembench / GAME / "in").glob("instances*.json"))
    assert files
    for path in files:
        instances = load_instance_file(GAME, path)
        assert len({i.experiment_name for i in instances}) == 8
        for gi in instances:
            game = gi.build()
            assert game.players["Adventurer"].context.startswith(gi.instance["prompt"])


def test_official_optimal_solutions_reach_the_goals(clembench: Path) -> None:
    instances = load_instance_file(GAME, clembench / GAME / "in" / "instances.json")
    reached = 0
    for gi in [i for i in instances if i.experiment_name == "home_deliver_three_basic_easy"]:
        it = gi.build().interpreter
        assert all(it.process(command).succeeded for command in gi.instance["optimal_commands"]), gi.instance_id
        reached += it.goals_achieved == it.goal_facts
    assert reached == 16


def test_parity_fixtures_replay_to_their_official_scores(shared: Path, clembench: Path) -> None:
    fixtures = sorted((shared / "parity" / GAME).glob("*.json"))
    assert fixtures
    for path in fixtures:
        outcome = replay_fixture(json.loads(path.read_text()), clembench, name=path.name)
        assert not outcome.divergence, (path.name, outcome.divergence)
        assert not outcome.mismatches, (path.name, outcome.mismatches)


# The exploration turn scores of two recorded v2.0 episodes, from their scores.json in clembench-runs (CC-BY 4.0;
# the fixtures keep only episode scores): (epistemic, pragmatic, gain, known entities, visited rooms, known goal).
RECORDED_EXPLORATION = {
    "claude37_planningeasy_0.json": [
        (0, 1, 0, 4 / 29, 1 / 6, 0.25), (1, 1, 0, 5 / 29, 1 / 3, 0.25), (1, 1, 10, 8 / 29, 0.5, 0.5),
        (0, 1, 0, 8 / 29, 0.5, 0.5), (1, 1, 11, 14 / 29, 2 / 3, 1.0), *[(0, 1, 0, 14 / 29, 2 / 3, 1.0)] * 5],
    "gpt4o_basiceasy_10.json": [
        (1, 1, 10, 10 / 29, 1 / 3, 0.75), (0, 1, 0, 10 / 29, 1 / 3, 0.75), (1, 1, 2, 10 / 29, 1 / 3, 0.75),
        (0, 1, 0, 10 / 29, 1 / 3, 0.75), (1, 1, 9, 13 / 29, 0.5, 1.0), (0, 1, 0, 13 / 29, 0.5, 1.0),
        (1, 1, 4, 13 / 29, 0.5, 1.0), *[(0, 1, 0, 13 / 29, 0.5, 1.0)] * 5],
}


@pytest.mark.parametrize("name", sorted(RECORDED_EXPLORATION))
def test_exploration_metrics_match_the_recorded_run(shared: Path, clembench: Path, name: str) -> None:
    fixture = json.loads((shared / "parity" / GAME / name).read_text())
    game = fixture_instance(fixture, clembench).build()
    for reply in fixture["responses"]["Adventurer"]:
        game.step(reply)
    got = [tuple(r[k] for k in EXPLORATION_KEYS) for r in game.score().rounds]
    assert got == [pytest.approx(row) for row in RECORDED_EXPLORATION[name]]


class _Cycling:
    """Answers with the given replies over and over."""

    def __init__(self, replies: list[str]):
        self.replies, self.asked = replies, 0

    async def respond(self, request: Request) -> Reply:
        self.asked += 1
        return Reply(self.replies[(self.asked - 1) % len(self.replies)])


JUNK = [["> go north", "> take the unicorn", "> examine 3 things", "> put", "> look around\nNext actions: a, b"],
        ["Let me think."], ["> done"], ["> open fridge, then eat\nNext actions: > take, done"]]


@pytest.mark.parametrize("replies", JUNK, ids=["failures", "no-tag", "done", "odd"])
def test_holdout_instances_play_without_engine_errors(shared: Path, clembench: Path, replies: list[str]) -> None:
    holdouts = sorted((shared / "holdout-instances" / GAME).glob("*.json"))
    assert holdouts
    for path in holdouts:
        fixture = json.loads(path.read_text())
        gi = GameInstance(GAME, fixture["experiment"], fixture["instance"], "holdout", str(path), clembench / GAME)
        result = asyncio.run(play_episode(gi.build(), {"Adventurer": _Cycling(replies)}, episode_id=path.stem))
        assert result.status is EpisodeStatus.COMPLETED, result.error
        assert result.game.outcome.is_terminal and len(result.turns) <= fixture["instance"]["max_turns"]
        assert set(scoring.FAILURE_TYPES) <= set(result.scores.episode)


def test_unsupported_or_missing_definitions_are_definition_errors() -> None:
    with pytest.raises(GameDefinitionError, match="event"):
        new_game(event_definitions=[{"type_name": "storm"}])
    with pytest.raises(GameDefinitionError, match="not found"):
        new_game(action_definitions=["no_such_actions.json"])
    with pytest.raises(GameDefinitionError):
        new_game(initial_state=[*TOY_STATE, "type(cat1,cat)"])  # a type no definition knows
