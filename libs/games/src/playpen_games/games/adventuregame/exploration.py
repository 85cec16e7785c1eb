"""What the Adventurer has come to know of the world, turn by turn: clembench's exploration metrics.

Perceived now (after a command): where the player is; the `at`/`in`/`on`/`open`/`closed` facts of the
things it can see in its room (not of hidden types, not in a closed container or the inventory); the
`at`/`in` facts of what it carries and the inventory's item count; the passages out of its room.

Known: what was perceived at the start; after each command (successful or not) what is perceived now and
was not known before is added, then the facts the command's effects deleted are forgotten (so a `go`
forgets where the player was, but not what it saw there). Each step appends a copy to a history.

Per turn (clembench logs these six for every turn whose answer had the `>`, none for a format error):
- `epistemic_action` / `pragmatic_action`: the flags of the command's action in the action definitions;
  0 for a command that failed parsing;
- `effective_epistemic_gain_amount`: for an epistemic action, how many facts are known now that were not
  in the previous history entry; otherwise 0;
- `known_entities_ratio`: known `at` facts / instances with a `type` fact (the floors included, which
  are hidden and so never perceived). It counts facts, not things: a thing known in two places (the
  player after a plan try-out, see below) counts twice;
- `visited_rooms_ratio`: rooms the player is at in any history entry / rooms;
- `known_goal_entities_ratio`: known `at` facts whose thing is named in a goal fact / the distinct things
  named in the goal facts.
They are not aggregated per episode.

The planning variant's try-outs run through the same tracking. Afterwards clembench drops as many history
entries as plan commands succeeded and makes the last remaining entry the known state again. When the
try-out ended with a failed command (which also appended an entry), that drops one entry too few: what the
first planned command revealed stays known, and stays in the history. We do the same.

clembench: `track_exploration`, `get_current_perceived`, `get_exploration_info` and
`execute_plan_sequence` in adventuregame/if_wrapper.py; the turn scores in `AdventureGameScorer`
(adventuregame/master.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from playpen_games.games.adventuregame.definitions import ActionType, Definitions
from playpen_games.games.adventuregame.world import INVENTORY, PLAYER, Fact, World

KEYS = ("epistemic_action", "pragmatic_action", "effective_epistemic_gain_amount", "known_entities_ratio",
        "visited_rooms_ratio", "known_goal_entities_ratio")
_SEEN_PREDICATES = ("open", "closed", "at", "in", "on")
_CARRIED_PREDICATES = ("at", "in")


def _visible(world: World, definitions: Definitions, room: str) -> set[str]:
    facts = world.facts
    visible = set()
    for thing in {f[1] for f in facts if f[0] == "at" and f[2] == room and f[1] != PLAYER}:
        if "hidden" in definitions.entity_types.get(world.type_of(thing), {}):  # the key, whatever its value
            continue
        holders = [f[2] for f in facts if f[0] == "in" and f[1] == thing]
        if not holders or any(h != INVENTORY and ("open", h) in facts and ("closed", h) not in facts
                              for h in holders):
            visible.add(thing)
    return visible


def perceived(world: World, definitions: Definitions) -> set[Fact]:
    facts = world.facts
    room = world.player_room()
    visible = _visible(world, definitions, room)
    carried = {f[1] for f in facts if f[0] == "in" and f[2] == INVENTORY}
    found = set()
    for fact in facts:
        if len(fact) < 2:
            continue
        if ((fact[0] == "at" and fact[1] == PLAYER)
                or (fact[1] in visible and fact[0] in _SEEN_PREDICATES)
                or (fact[1] in carried and fact[0] in _CARRIED_PREDICATES)
                or (fact[0] == "itemcount" and fact[1] == INVENTORY)
                or (fact[0] == "exit" and fact[1] == room)):
            found.add(fact)
    return found


def _ratio(numerator: int, denominator: int) -> float:
    return numerator / denominator if denominator else float("nan")


class Exploration:
    def __init__(self, world: World, definitions: Definitions, goal_facts: Iterable[Fact]):
        self.world = world
        self.definitions = definitions
        self.goal_facts = frozenset(goal_facts)
        self.known = perceived(world, definitions)
        self.history: list[set[Fact]] = [set(self.known)]

    def track(self, removed: Iterable[Fact] = ()) -> None:
        """After a command: learn what is newly perceived, forget what its effects deleted."""
        self.known = self.known | (perceived(self.world, self.definitions) - self.history[-1])
        self.known -= set(removed)
        self.history.append(set(self.known))

    def after_plan(self, succeeded: int) -> None:
        """Undo a plan try-out the way clembench does (see the module docstring)."""
        if succeeded:
            del self.history[-succeeded:]
            self.known = set(self.history[-1])

    def metrics(self, action: ActionType | None) -> Mapping[str, float | int]:
        facts = self.world.facts
        epistemic = action is not None and action.epistemic
        gain = len(self.known - self.history[-2]) if epistemic else 0
        known_at = {f for f in self.known if f[0] == "at"}
        entities = {f[1] for f in facts if f[0] == "type"}
        rooms = {f[1] for f in facts if f[0] == "room"}
        visited = {f[2] for entry in self.history for f in entry if f[0] == "at" and f[1] == PLAYER}
        goal_things = {arg for goal in self.goal_facts for arg in goal[1:3]}
        known_goal = {f for f in known_at if any(f[1] in goal for goal in self.goal_facts)}
        return {
            "epistemic_action": int(epistemic),
            "pragmatic_action": int(action is not None and action.pragmatic),
            "effective_epistemic_gain_amount": gain,
            "known_entities_ratio": _ratio(len(known_at), len(entities)),
            "visited_rooms_ratio": _ratio(len(visited), len(rooms)),
            "known_goal_entities_ratio": _ratio(len(known_goal), len(goal_things)),
        }
