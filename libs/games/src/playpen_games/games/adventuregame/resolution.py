"""Resolution, the second phase of a command: the parsed command against the world, by its action's PDDL.

- arguments are bound to variables (`arg1`, `arg2`; for a missing second argument, `arg1_receptacle` is
  what the first one is on or in) and checked against the parameter types: the first argument of the wrong
  domain type (`take table`) fails with that parameter's message and type (`domain_trait_type_mismatch`).
  This is the order of clembench 2.0 (the benchmark runs) and of clp-research/clembench a717f23, our
  reference; the later clembench/clembench v3.0 refactor checks the preconditions first;
- every precondition atom is evaluated in order (no short-circuit). If they fail, the message and type
  are those of the first failed atom, found by clembench's walk over the top-level `and` (into one level of
  `or` / `and`). A variable left unbound gives `take_non_takeable_object` instead;
- otherwise the effects are applied in order and the success message is rendered. The facts the effects
  deleted are reported with the success, as clembench reports them (a deleted fact that did not hold
  counts too): the exploration tracking (exploration.py) forgets them.
A type word in an atom (`table`) stands for the instance of that type. clembench takes whichever instance
a set iteration yields first; where a type has several instances (`floor`: one per room) we take the one
in the player's room, else the first by name. Likewise, a thing that is on two holders at once (clembench's
PUT does not require carrying the thing, so it can be put somewhere while still lying elsewhere) is taken
from the first holder by name, where clembench picks one at random.

Messages are the templates of the action definitions, filled with the words for each argument.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from playpen_games.games.adventuregame import pddl
from playpen_games.games.adventuregame.definitions import ActionType, Definitions
from playpen_games.games.adventuregame.world import INVENTORY, PLAYER, Fact, World, is_instance_id

PARSING, RESOLUTION = "parsing", "resolution"


@dataclass(frozen=True)
class Failure:
    phase: str
    kind: str
    message: str


@dataclass(frozen=True)
class Intent:
    """A parsed command: the action, its arguments as type names, the preposition used."""

    action: str
    arg1: str | None = None
    arg2: str | None = None
    preposition: str | None = None


@dataclass(frozen=True)
class Resolved:
    """A successful action: its message and the facts its effects deleted, in order."""

    feedback: str
    removed: tuple[Fact, ...] = ()


@dataclass
class _Effects:
    added: list[Fact] = field(default_factory=list)
    removed: list[Fact] = field(default_factory=list)


@dataclass
class _Check:
    """One evaluated precondition node: leaves carry their position among all atoms."""

    kind: str  # atom | and | or | not
    fulfilled: bool
    index: int = -1
    children: list[_Check] = field(default_factory=list)


class Resolver:
    def __init__(self, definitions: Definitions, world: World):
        self.definitions = definitions
        self.world = world

    def resolve(self, intent: Intent) -> Resolved | Failure:
        action = self.definitions.actions[intent.action]
        bound: dict[str, str | None] = {}
        for variable, declared in action.schema.parameters:
            bound[variable] = self._bind(action.sources(variable), intent)
            value = bound[variable]
            if value and not self._has_type(value, declared):
                template, kind = action.parameter_feedback[action.binding_index(variable)]
                return Failure(RESOLUTION, kind, _render(template, self._display({variable: value})).capitalize())
        counter = [-1]
        check = self._check(action.schema.precondition, bound, counter)
        if not check.fulfilled:
            if any(value is None for value in bound.values()):
                return Failure(RESOLUTION, "take_non_takeable_object", "You cannot do that.")
            index = _feedback_index(check)
            if not 0 <= index < len(action.precondition_feedback):
                return Failure(RESOLUTION, "world_state_discrepancy", "That is not possible right now.")
            template, kind = action.precondition_feedback[index]
            return Failure(RESOLUTION, kind, _render(template, self._display(bound)).capitalize())
        effects = _Effects()
        self._apply(action.schema.effect, bound, effects)
        return Resolved(self._success_feedback(action, intent, bound, effects.added), tuple(effects.removed))

    # ------------------------------------------------------------------ binding and grounding

    def _bind(self, sources: tuple[str, ...], intent: Intent) -> str | None:
        if not sources:
            return None
        match sources[0]:
            case "arg1":
                return intent.arg1
            case "arg2":
                if intent.arg2 is not None:
                    return intent.arg2
                if len(sources) > 1 and sources[1] == "arg1_receptacle":
                    place = self.world.where(f"{intent.arg1}1")  # one instance per type, as in clembench
                    return place[1] if place else None
                return None
            case "current_player_room":
                return self.world.player_room()
            case "player":
                return PLAYER
            case "inventory":
                return INVENTORY
            case "current_room_floor":
                return f"{self.world.player_room()}floor1"
        return None

    def _has_type(self, value: str, declared: str) -> bool:
        actual = self.world.type_of(value) if is_instance_id(value) else value
        return self.definitions.is_subtype(actual, declared)

    def _instance_for(self, type_word: str) -> str | None:
        candidates = self.world.instances_of(type_word)
        if not candidates:
            return None
        room = self.world.player_room()
        here = [c for c in candidates if ("at", c, room) in self.world.facts]
        return (here or candidates)[0]

    def _ground(self, atom: pddl.Atom, bound: dict[str, str | None], resolve_types: bool) -> Fact:
        args = [bound.get(a.name) if isinstance(a, pddl.Var) else a for a in atom.args]
        if resolve_types and atom.predicate not in ("type", "room"):
            for position, arg in enumerate(args):
                if arg and not arg.endswith((*"0123456789", INVENTORY)):
                    instance = self._instance_for(arg)
                    for variable, value in bound.items():  # the variable now stands for the instance
                        if value == arg:
                            bound[variable] = instance
                    args[position] = instance
        return (atom.predicate, *args)

    def _quantity(self, quantity: pddl.Quantity, bound: Mapping[str, str | None]) -> float:
        if isinstance(quantity, pddl.FunctionTerm):
            return self._function_value(quantity, bound)[1]
        return quantity

    def _function_value(self, term: pddl.FunctionTerm, bound: Mapping[str, str | None]) -> tuple[str | None, float]:
        holder = bound.get(term.arg.name) if isinstance(term.arg, pddl.Var) else term.arg
        for fact in self.world.facts:
            if fact[0] == term.function and fact[1] == holder:
                return holder, fact[2]
        return holder, 0

    # ------------------------------------------------------------------ preconditions

    def _check(self, condition: pddl.Condition, bound: dict[str, str | None], counter: list[int]) -> _Check:
        match condition:
            case pddl.Atom():
                fact = self._ground(condition, bound, resolve_types=True)
                counter[0] += 1
                return _Check("atom", None in fact or fact in self.world.facts, counter[0])
            case pddl.Compare(op=op, left=left, right=right):
                holds = _compare(op, self._quantity(left, bound), self._quantity(right, bound))
                counter[0] += 1
                return _Check("atom", holds, counter[0])
            case pddl.Not(inner=inner):
                child = self._check(inner, bound, counter)
                return _Check("not", not child.fulfilled, children=[child])
            case pddl.And(items=items):
                children = [self._check(item, bound, counter) for item in items]
                return _Check("and", all(c.fulfilled for c in children), children=children)
            case pddl.Or(items=items):
                children = [self._check(item, bound, counter) for item in items]
                return _Check("or", any(c.fulfilled for c in children), children=children)
        raise TypeError(f"not a condition: {condition!r}")

    # ------------------------------------------------------------------ effects

    def _apply(self, effect: pddl.Effect, bound: dict[str, str | None], effects: _Effects) -> None:
        match effect:
            case pddl.And(items=items):
                for item in items:
                    self._apply(item, bound, effects)
            case pddl.Atom():
                fact = self._ground(effect, bound, resolve_types=False)
                if None not in fact:
                    self.world.facts.add(fact)
                    effects.added.append(fact)
            case pddl.Delete(atom=atom):
                fact = self._ground(atom, bound, resolve_types=False)
                if None not in fact:
                    self.world.facts.discard(fact)
                    effects.removed.append(fact)
            case pddl.When(condition=condition, effect=inner):
                if self._check(condition, bound, [-1]).fulfilled:
                    self._apply(inner, bound, effects)
            case pddl.ForAll(variables=variables, effect=inner):
                self._for_all(list(variables), inner, bound, effects)
            case pddl.Change(op=op, target=target, value=value):
                holder, current = self._function_value(target, bound)
                amount = self._quantity(value, bound)
                self.world.facts.discard((target.function, holder, current))
                effects.removed.append((target.function, holder, current))
                new = {"increase": current + amount, "decrease": current - amount, "assign": amount}[op]
                self.world.facts.add((target.function, holder, new))
                effects.added.append((target.function, holder, new))

    def _for_all(self, variables: list[tuple[str, str]], effect: pddl.Effect, bound: dict[str, str | None],
                 effects: _Effects) -> None:
        if not variables:
            self._apply(effect, bound, effects)
            return
        (variable, type_name), rest = variables[0], variables[1:]
        members = {f[1] for f in self.world.facts if f[0] == type_name and len(f) == 2}
        members |= {i for i, t in self.world.instance_types.items() if self.definitions.is_subtype(t, type_name)}
        for member in sorted(members):
            self._for_all(rest, effect, {**bound, variable: member}, effects)

    # ------------------------------------------------------------------ feedback

    def _display(self, bound: Mapping[str, str | None]) -> dict[str, Any]:
        """The words for each bound value: an instance's name, a type's surface string."""
        return {k: (self.world.name_of(v) if is_instance_id(v) else self.definitions.surface(v)) if v else v
                for k, v in bound.items()}

    def _success_feedback(self, action: ActionType, intent: Intent, bound: Mapping[str, str | None],
                          added: list[Fact]) -> str:
        template = action.success_feedback
        values = self._display(bound)
        if "room_desc" in template:
            values["room_desc"] = self.world.room_description()
        if "inventory_desc" in template:
            values["inventory_desc"] = self.world.inventory_description()
        if "prep" in template:
            values["prep"] = intent.preposition or next((f[0] for f in added if f[0] in ("in", "on")), "")
        if "container_content" in template:
            opened = next((f[1] for f in added if f[0] == "open"), None)
            values["container_content"] = self.world.container_description(opened) if opened else ""
        if "arg1_desc" in template and intent.arg1:
            values["arg1_desc"] = self.world.entity_description(intent.arg1)
        if "arg2_desc" in template and intent.arg2:
            values["arg2_desc"] = self.world.entity_description(intent.arg2)
        return _render(template, values).strip()


_SLOT = re.compile(r"\{\{\s*(\w+)\s*\}\}")


def _render(template: str, values: Mapping[str, Any]) -> str:
    return _SLOT.sub(lambda m: "" if values.get(m.group(1)) is None else str(values[m.group(1)]), template)


def _compare(op: str, left: float, right: float) -> bool:
    return {"<": left < right, "<=": left <= right, ">": left > right, ">=": left >= right, "=": left == right}[op]


def _first_failed_leaf(check: _Check) -> int:
    """The atom a failed node reports: itself, the atom under a `not`, or its first failed atom in order."""
    if check.kind == "atom":
        return check.index
    if check.kind == "not":
        inner = check.children[0]
        return inner.index if inner.kind == "atom" else _first_failed_leaf(inner)
    for child in check.children:
        if not child.fulfilled:
            return _first_failed_leaf(child)
    return -1


def _feedback_index(root: _Check) -> int:
    """Which precondition message to give, found the way clembench walks its trace of the top-level `and`."""
    for item in root.children:
        if item.fulfilled:
            continue
        if item.kind == "or":
            for alternative in item.children:
                if alternative.kind == "and":
                    for part in alternative.children:
                        if not part.fulfilled:
                            return _first_failed_leaf(part)
                elif alternative.kind == "atom" and not alternative.fulfilled:
                    return alternative.index
            continue
        if item.kind == "and":
            return _first_failed_leaf(next(part for part in item.children if not part.fulfilled))
        return _first_failed_leaf(item)
    return _first_failed_leaf(root)
