"""The text-adventure interpreter: reads a command, checks it against the world, changes the world.

A command goes through two phases, as in clembench, and can fail in either; every failure has a phase and
a type, which the scores count.

Parsing (the words): trailing `.`/`!` dropped, lowercased, read with the command grammar.
- `lark_exception`: not a sentence of the grammar at all (digits, punctuation, nothing).
- `malformed_command`: it starts with a known verb but fits none of that verb's patterns (`put book`).
- `undefined_action_verb` / `undefined_action`: no known verb.
- `undefined_repr_str`: an argument names no entity or room type.
- `manipulating_room`: take / put / open / close with a room as the first argument.
- `taking_from_inventory`: `take X from inventory` (a resolution failure when X is carried already).
- `other_room_argument`: a room as the second argument that is not where the player is. (clembench compares
  the room's type name with the current room's surface words, so `living room` always counts as another
  room, even inside it.)

Resolution (the world): see resolution.py.

Goals are the goal facts holding after the last successful action (clembench keeps them across failed
actions, and across the plan try-outs of the planning variant, which only restore the world).

Every command, the plan try-outs' included, also updates what the player knows (exploration.py); a
command's result carries clembench's exploration metrics for its turn.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from playpen_games.games.adventuregame.commands import UNKNOWN, CommandNotUnderstood
from playpen_games.games.adventuregame.definitions import Definitions
from playpen_games.games.adventuregame.exploration import Exploration
from playpen_games.games.adventuregame.resolution import PARSING, RESOLUTION, Failure, Intent, Resolver
from playpen_games.games.adventuregame.world import INVENTORY, Fact, World, parse_fact

__all__ = ["PARSING", "RESOLUTION", "Failure", "Intent", "Interpreter", "Result"]
ROOM_VERBS = ("take", "put", "open", "close")


@dataclass(frozen=True)
class Result:
    feedback: str
    goals: frozenset[Fact]  # the goal facts the game master is told hold now (see module docstring)
    action: str | None = None  # the action type, for a successful action
    failure: Failure | None = None
    exploration: Mapping[str, float | int] | None = None  # this turn's exploration metrics

    @property
    def succeeded(self) -> bool:
        return self.failure is None


class Interpreter:
    def __init__(self, definitions: Definitions, instance: Mapping[str, Any]):
        self.definitions = definitions
        self.world = World(definitions, instance["initial_state"])
        self.goal_facts = frozenset(parse_fact(text) for text in instance["goal_state"])
        self.goals_achieved: frozenset[Fact] = frozenset()
        self.resolver = Resolver(definitions, self.world)
        self.exploration = Exploration(self.world, definitions, self.goal_facts)

    # ------------------------------------------------------------------ the two phases

    def process(self, command: str) -> Result:
        result, intent = self._run(command)
        action = None if isinstance(intent, Failure) else self.definitions.actions[intent.action]
        return replace(result, exploration=self.exploration.metrics(action))

    def _run(self, command: str) -> tuple[Result, Intent | Failure]:
        intent = self.read(command)
        if isinstance(intent, Failure):
            self.exploration.track()
            return Result(intent.message, self.goals_achieved, failure=intent), intent
        outcome = self.resolver.resolve(intent)
        if isinstance(outcome, Failure):
            self.exploration.track()
            return Result(outcome.message, self.goals_achieved, failure=outcome), intent
        self.goals_achieved = frozenset(self.goal_facts & self.world.facts)
        self.exploration.track(outcome.removed)
        return Result(outcome.feedback, self.goals_achieved, action=intent.action), intent

    def try_plan(self, commands: Iterable[str]) -> int:
        """How many commands of a plan succeed, in order, before the first failure; the world is restored."""
        saved = set(self.world.facts)
        succeeded = 0
        for command in commands:
            if not self._run(command)[0].succeeded:
                break
            succeeded += 1
        self.world.facts = saved
        self.exploration.after_plan(succeeded)
        return succeeded

    def read(self, command: str) -> Intent | Failure:
        text = command[:-1] if command.endswith((".", "!")) else command
        text = text.lower()
        actions, surface = self.definitions.actions, self.definitions.surface_types
        try:
            parsed = self.definitions.grammar.read(text)
        except CommandNotUnderstood:
            return Failure(PARSING, "lark_exception", "I do not understand that command.")
        if parsed.kind == UNKNOWN and parsed.args[0] in actions:
            return Failure(PARSING, "malformed_command", f"I do not understand how you want to {parsed.args[0]}.")
        if parsed.kind not in actions:
            if parsed.args:
                return Failure(PARSING, "undefined_action_verb", f"I do not know how to '{parsed.args[0]}'.")
            return Failure(PARSING, "undefined_action", "I do not understand that command.")
        if parsed.kind == "done":
            return Intent("done")
        arg1 = arg2 = None
        if parsed.args:
            word = parsed.args[0]
            if word not in surface:
                return Failure(PARSING, "undefined_repr_str", f"There is no such thing as a '{word}' here.")
            arg1 = surface[word]
            if arg1 not in self.definitions.entity_types:
                if arg1 not in self.definitions.room_types:
                    return Failure(PARSING, "undefined_argument_type", f"'{word}' is not something you can use.")
                if parsed.kind in ROOM_VERBS:
                    return Failure(PARSING, "manipulating_room", f"You cannot {parsed.kind} a whole room.")
        if len(parsed.args) > 1:
            word = parsed.args[1]
            if parsed.kind == "take" and word == INVENTORY:
                if any(self.world.type_of(item) == arg1 for item in self.world.inventory()):
                    return Failure(RESOLUTION, "taking_from_inventory", f"You already carry the {parsed.args[0]}.")
                return Failure(PARSING, "taking_from_inventory", "Things in your inventory are already yours.")
            if word not in surface:
                return Failure(PARSING, "undefined_repr_str", f"There is no such thing as a '{word}' here.")
            arg2 = surface[word]
            if arg2 in self.definitions.room_types:
                here = self.definitions.surface(self.world.type_of(self.world.player_room()))
                if arg2 != here:
                    return Failure(PARSING, "other_room_argument", f"You are not in the {word}.")
        return Intent(parsed.kind, arg1, arg2, parsed.preposition)
