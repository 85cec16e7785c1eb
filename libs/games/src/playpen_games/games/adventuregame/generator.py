"""Playpen's own adventures: new homes and delivery tasks sampled over our own home definitions.

clembench authors its adventures with an answer-set solver and by hand; what we can generate cheaply and
honestly is the same kind of task over our own definitions (`data/definitions/playpen_home_*.json`: the
same six rooms and household things as clembench's home, our own PDDL, grammar and wording):

- a floor plan: a random spanning tree over the passages the room definitions allow, plus each other
  allowed passage with probability 0.35 (passages go both ways);
- furniture: every furniture type once, in one of its standard rooms; openable furniture starts closed;
- small things: every takeable type once, in one of its standard rooms, on or in a piece of furniture
  there, or on the floor;
- the task: deliver three things. `easy`: all three onto the table; `hard`: each to a different piece of
  furniture (on a support, into a container), none already there;
- the start room, at random.

The shortest solution is found by breadth-first search over the rooms, the three things' places and the
containers opened so far (take, put, open, go; with `invlimittwo` at most two things carried), and is
replayed through the interpreter before an adventure is kept. Adventures need 5 to 30 actions, as in
clembench's generation settings. Each adventure is played in the four experiments of its difficulty
(basic / planning, with and without the inventory limit), like clembench's instance sets.

Disjoint splits: an adventure's split is decided by a hash of its task (which things go where), so no
task occurs in two splits (test: hash % 10 == 0, validation: 1, train: the rest).
"""

from __future__ import annotations

import hashlib
import random
from collections import deque
from dataclasses import dataclass
from typing import Any

from playpen_games.engine import GameResources
from playpen_games.games.adventuregame import definitions
from playpen_games.games.adventuregame.interpreter import Interpreter
from playpen_games.games.adventuregame.world import format_fact

GAME = "adventuregame"
ENTITIES, ROOMS = "playpen_home_entities.json", "playpen_home_rooms.json"
ACTIONS = {False: "playpen_home_actions.json", True: "playpen_home_actions_invlimit.json"}
DOMAINS = {False: "playpen_home_domain.json", True: "playpen_home_domain_invlimit.json"}
ADVENTURES = {"train": 24, "validation": 6, "test": 6}  # per difficulty
SPLIT_OF_HASH = {0: "test", 1: "validation"}
MAX_TURNS = 50
OPTIMAL_RANGE = (5, 30)
EXTRA_PASSAGE = 0.35

PROMPT = """\
You are playing a text adventure. I describe what you perceive, and you act by writing one command, \
starting with ">".
{reply_format}
{limit}Your task: {task}

When you have completed the task, write "> done" to end the game.

"""
BASIC_FORMAT = "Answer with the command only, for example:\n> open the cupboard\n"
PLANNING_FORMAT = """\
On the line after your command, write the commands you plan to give next, separated by commas, after \
"Next actions:". For example:
> open the cupboard
Next actions: take the apple, go to the kitchen
"""
LIMIT = "You can carry at most two things at a time.\n\n"


@dataclass(frozen=True)
class Adventure:
    exits: tuple[tuple[str, str], ...]  # room type pairs, both directions
    furniture: tuple[tuple[str, str], ...]  # (type, room type)
    things: tuple[tuple[str, str, str], ...]  # (type, relation, holder instance id)
    start: str
    goals: tuple[tuple[str, str, str], ...]  # (relation, thing type, furniture type)

    def task_key(self) -> str:
        return ";".join(f"{r}:{t}:{f}" for r, t, f in sorted(self.goals))


class _Home:
    """The definitions the generator samples from."""

    def __init__(self) -> None:
        data = GameResources.of_package(__package__, GAME)
        self.entities = {e["type_name"]: e for e in data.packaged_json(f"definitions/{ENTITIES}")}
        self.rooms = {r["type_name"]: r for r in data.packaged_json(f"definitions/{ROOMS}")}
        self.passages = sorted({tuple(sorted((a, b))) for a, room in self.rooms.items()
                                for b in room["exit_targets"] if a in self.rooms[b]["exit_targets"]})
        self.furniture = [t for t, e in self.entities.items() if not e.get("hidden")
                          and {"support", "container"} & set(e.get("traits", []))]
        self.takeable = [t for t, e in self.entities.items() if "takeable" in e.get("traits", [])]

    def has(self, type_name: str, trait: str) -> bool:
        return trait in self.entities.get(type_name, {}).get("traits", [])


def sample_adventure(home: _Home, rng: random.Random, hard: bool) -> Adventure:
    exits = _floor_plan(home, rng)
    furniture = {t: rng.choice(home.entities[t]["standard_locations"]) for t in home.furniture}
    things = []
    for thing in home.takeable:
        room = rng.choice(home.entities[thing]["standard_locations"])
        holder = rng.choice([f"{f}1" for f, r in furniture.items() if r == room] + [f"{room}1floor1"])
        relation = "in" if home.has(holder[:-1], "container") else "on"
        things.append((thing, relation, holder))
    placed = {t: h for t, _, h in things}
    chosen = rng.sample(home.takeable, 3)
    if hard:
        targets = rng.sample([f for f in home.furniture if f"{f}1" not in {placed[t] for t in chosen}], 3)
    else:
        targets = ["table"] * 3
    goals = tuple(("in" if home.has(f, "container") else "on", t, f) for t, f in zip(chosen, targets, strict=True))
    return Adventure(tuple(exits), tuple(sorted(furniture.items())), tuple(things),
                     rng.choice(sorted(home.rooms)), goals)


def _floor_plan(home: _Home, rng: random.Random) -> list[tuple[str, str]]:
    passages = list(home.passages)
    rng.shuffle(passages)
    group = {room: room for room in home.rooms}

    def root(room: str) -> str:
        while group[room] != room:
            room = group[room]
        return room

    chosen = []
    for a, b in passages:
        if root(a) != root(b):
            group[root(a)] = root(b)
            chosen.append((a, b))
        elif rng.random() < EXTRA_PASSAGE:
            chosen.append((a, b))
    return sorted(chosen)


def initial_state(home: _Home, adventure: Adventure) -> list[str]:
    facts = [("type", "player1", "player"), ("type", "inventory", "inventory"),
             ("at", "player1", f"{adventure.start}1")]
    for room in home.rooms:
        facts += [("room", f"{room}1", room), ("type", f"{room}1floor1", "floor"), ("at", f"{room}1floor1", f"{room}1")]
    for a, b in adventure.exits:
        facts += [("exit", f"{a}1", f"{b}1"), ("exit", f"{b}1", f"{a}1")]
    rooms = {}
    for furniture, room in adventure.furniture:
        facts += [("type", f"{furniture}1", furniture), ("at", f"{furniture}1", f"{room}1")]
        rooms[f"{furniture}1"] = f"{room}1"
        if home.has(furniture, "openable"):
            facts.append(("closed", f"{furniture}1"))
    for thing, relation, holder in adventure.things:
        room = rooms.get(holder, holder.removesuffix("floor1"))  # a floor: <room>1floor1
        facts += [("type", f"{thing}1", thing), ("at", f"{thing}1", room), (relation, f"{thing}1", holder)]
    return [format_fact(f) for f in facts]


def solve(home: _Home, adventure: Adventure, limit: bool) -> list[list[str]] | None:
    """A shortest action sequence reaching the goals, as [action, instance ids...] steps; None if none."""
    room_of = {f"{f}1": f"{r}1" for f, r in adventure.furniture}
    room_of |= {f"{r}1floor1": f"{r}1" for r in home.rooms}
    neighbours: dict[str, list[str]] = {}
    for a, b in adventure.exits:
        neighbours.setdefault(f"{a}1", []).append(f"{b}1")
        neighbours.setdefault(f"{b}1", []).append(f"{a}1")
    goal_things = [f"{t}1" for _, t, _ in adventure.goals]
    targets = {f"{t}1": f"{f}1" for _, t, f in adventure.goals}
    start_places = {f"{t}1": h for t, _, h in adventure.things}
    containers = {h for h in room_of if h[:-1] in home.entities and home.has(h[:-1], "container")}
    relevant = sorted(({start_places[t] for t in goal_things} | set(targets.values())) & containers)

    start = (f"{adventure.start}1", tuple(start_places[t] for t in goal_things), frozenset())
    parents: dict[Any, Any] = {start: None}
    queue = deque([start])
    while queue:
        state = queue.popleft()
        room, places, opened = state
        if all(places[i] == targets[t] for i, t in enumerate(goal_things)):
            steps = []
            while parents[state] is not None:
                state, step = parents[state]
                steps.append(step)
            return steps[::-1]
        carried = sum(p == "inventory" for p in places)
        moves = [(("go", r), (r, places, opened)) for r in sorted(neighbours.get(room, []))]
        moves += [(("open", c), (room, places, opened | {c}))
                  for c in relevant if room_of[c] == room and c not in opened]
        for i, thing in enumerate(goal_things):
            place = places[i]
            if place == "inventory":
                for holder in (targets[thing], f"{room}floor1"):
                    if room_of[holder] == room and (holder not in containers or holder in opened):
                        moves.append((("put", thing, holder), (room, _replace(places, i, holder), opened)))
            elif (room_of[place] == room and (place not in containers or place in opened)
                  and not (limit and carried >= 2)):
                moves.append((("take", thing), (room, _replace(places, i, "inventory"), opened)))
        for step, following in moves:
            if following not in parents:
                parents[following] = (state, list(step))
                queue.append(following)
    return None


def _replace(places: tuple[str, ...], index: int, value: str) -> tuple[str, ...]:
    return (*places[:index], value, *places[index + 1:])


def command_for(home: _Home, step: list[str], containers: set[str]) -> str:
    words = {t: e["repr_str"] for t, e in home.entities.items()} | {r: d["repr_str"] for r, d in home.rooms.items()}

    def name(instance: str) -> str:
        return "floor" if instance.endswith("floor1") else words[instance[:-1]]

    if step[0] == "put":
        return f"put {name(step[1])} {'in' if step[2] in containers else 'on'} {name(step[2])}"
    return f"{step[0]} {name(step[1])}"


def task_text(home: _Home, adventure: Adventure) -> str:
    parts = [f"the {home.entities[t]['repr_str']} {r} the {home.entities[f]['repr_str']}"
             for r, t, f in adventure.goals]
    return f"Put {parts[0]}, {parts[1]} and {parts[2]}."


def split_of(adventure: Adventure) -> str:
    digest = int(hashlib.sha256(adventure.task_key().encode()).hexdigest(), 16)
    return SPLIT_OF_HASH.get(digest % 10, "train")


def instance_for(home: _Home, adventure: Adventure, game_id: int, planning: bool, limit: bool,
                 steps: list[list[str]]) -> dict[str, Any]:
    containers = {f"{t}1" for t in home.entities if home.has(t, "container")}
    prompt = PROMPT.format(reply_format=PLANNING_FORMAT if planning else BASIC_FORMAT,
                           limit=LIMIT if limit else "", task=task_text(home, adventure))
    return {
        "game_id": game_id, "variant": "plan" if planning else "basic", "prompt": prompt,
        "initial_state": initial_state(home, adventure),
        "goal_state": [f"{r}({t}1,{f}1)" for r, t, f in adventure.goals],
        "max_turns": MAX_TURNS, "optimal_turns": len(steps), "optimal_solution": steps,
        "optimal_commands": [command_for(home, step, containers) for step in steps],
        "action_definitions": [ACTIONS[limit]], "room_definitions": [ROOMS], "entity_definitions": [ENTITIES],
        "domain_definitions": [DOMAINS[limit]],
    }


def _verified(instance: dict[str, Any]) -> bool:
    interpreter = Interpreter(definitions.load(instance, GameResources.of_package(__package__, GAME)), instance)
    return (all(interpreter.process(c).succeeded for c in instance["optimal_commands"])
            and interpreter.goals_achieved == interpreter.goal_facts)


def generate(split: str, seed: int) -> dict[str, Any]:
    home = _Home()
    rng = random.Random(f"{GAME}/{seed}")
    experiments: dict[str, list[dict[str, Any]]] = {}
    for hard in (False, True):
        difficulty = "hard" if hard else "easy"
        kept: list[tuple[Adventure, dict[bool, list[list[str]]]]] = []
        seen: set[Adventure] = set()
        while len(kept) < ADVENTURES[split]:
            adventure = sample_adventure(home, rng, hard)
            if adventure in seen or split_of(adventure) != split:
                continue
            seen.add(adventure)
            solutions = {limit: solve(home, adventure, limit) for limit in (False, True)}
            if all(s is not None and OPTIMAL_RANGE[0] <= len(s) <= OPTIMAL_RANGE[1] for s in solutions.values()):
                kept.append((adventure, solutions))  # type: ignore[arg-type]
        for planning in (False, True):
            for limit in (False, True):
                name = (f"home_deliver_three_{'planning' if planning else 'basic'}_{difficulty}"
                        f"{'_invlimittwo' if limit else ''}")
                instances = [instance_for(home, adventure, game_id, planning, limit, solutions[limit])
                             for game_id, (adventure, solutions) in enumerate(kept)]
                for instance in instances:
                    if not _verified(instance):
                        raise AssertionError(f"{name} {instance['game_id']}: the optimal solution does not replay")
                experiments[name] = instances
    order = sorted(experiments, key=lambda n: ("invlimittwo" in n, "hard" in n, "planning" in n))
    return {"experiments": [{"name": name, "game_instances": experiments[name]} for name in order]}
