"""The world state: a set of facts, and what the player perceives of it.

A fact is a tuple `(predicate, arg, ...)`: `("at", "plate1", "kitchen1")`, `("closed", "refrigerator1")`,
`("itemcount", "inventory", 0)`. Instances are named `<type><n>` (`plate1`); each room has a floor
`<room>floor1`; the player is `player1` and carries things `in` the `inventory`.

The initial state of an instance is completed the way clembench completes it: trait facts for every typed
instance, a floor in every room, `accessible` for what can be reached (on a support, in an open container or
the inventory, or anything that needs no support), numeric functions of the domain set to 0 where missing.

Descriptions are ours: what the room holds (entities of hidden types and things in closed containers are
left out), the states of what is listed, the passages; the inventory; a container's contents; an entity
examined. Listing order follows the definitions, so the same world always reads the same.
"""

from __future__ import annotations

from collections.abc import Iterable

from playpen_games.games.adventuregame.definitions import Definitions

Fact = tuple
PLAYER = "player1"
INVENTORY = "inventory"
_DIGITS = tuple("0123456789")


def parse_fact(text: str) -> Fact:
    """`on(plate1,table1)` -> ("on", "plate1", "table1"); everything after the first comma is one argument."""
    predicate, _, rest = text.strip().partition("(")
    if not rest.endswith(")"):
        raise ValueError(f"not a fact: {text!r}")
    inner = rest[:-1]
    if "," in inner:
        first, second = inner.split(",", 1)
        return predicate, first, second
    return predicate, inner


def format_fact(fact: Fact) -> str:
    return f"{fact[0]}({','.join(str(arg) for arg in fact[1:])})"


def is_instance_id(value: object) -> bool:
    return isinstance(value, str) and value.endswith(_DIGITS)


def _with_article(name: str) -> str:
    return f"{'an' if name[:1] in 'aeiou' else 'a'} {name}"


def _type_word(instance: str) -> str:
    return instance.rstrip("0123456789")


class World:
    def __init__(self, definitions: Definitions, initial_state: Iterable[str]):
        self.definitions = definitions
        self.facts: set[Fact] = {parse_fact(text) for text in initial_state}
        self._complete()
        self.instance_types = {f[1]: f[2] for f in self.facts if f[0] == "type"}
        self.room_types = {f[1]: f[2] for f in self.facts if f[0] == "room"}

    def _complete(self) -> None:
        entity_types = self.definitions.entity_types
        added: set[Fact] = set()
        for fact in self.facts:
            if fact[0] == "type":
                added.update((trait, fact[1]) for trait in entity_types[fact[2]].get("traits", []))
            elif fact[0] == "room":
                added.update({("type", f"{fact[1]}floor1", "floor"), ("at", f"{fact[1]}floor1", fact[1])})
        self.facts |= added
        supported = {f[1] for f in self.facts if f[0] in ("on", "in")}
        for fact in list(self.facts):
            if fact[0] == "at" and ("needs_support", fact[1]) in self.facts and fact[1] not in supported:
                # clembench names this floor without its number, so such a thing is on no real floor
                added.add(("on", fact[1], f"{fact[2]}floor"))
        open_things = {f[1] for f in self.facts if f[0] == "open"}
        for fact in self.facts:
            if fact[0] == "in" and ("container", fact[2]) in self.facts and fact[2] in open_things:
                added.add(("accessible", fact[1]))
            if fact[0] == "in" and fact[2] == INVENTORY:
                added.add(("accessible", fact[1]))
            if fact[0] == "on" and ("support", fact[2]) in self.facts:
                added.add(("accessible", fact[1]))
            if (fact[0] == "type" and ("needs_support", fact[1]) not in self.facts
                    and fact[2] not in ("floor", "player")):
                added.add(("accessible", fact[1]))
        added.add(("accessible", INVENTORY))
        self.facts |= added
        for function, argument_type in self.definitions.functions:
            for fact in [f for f in self.facts if f[0] == function]:
                self.facts.discard(fact)
                value = fact[2]
                self.facts.add((function, fact[1], float(value) if "." in str(value) else int(value)))
            holders = {f[1] for f in self.facts if f[0] == "type" and f[2] == argument_type}
            if argument_type == INVENTORY:
                holders.add(INVENTORY)
            known = {f[1] for f in self.facts if f[0] == function}
            self.facts.update((function, holder, 0) for holder in holders - known)

    # ------------------------------------------------------------------ lookups

    def type_of(self, instance: str) -> str:
        return self.instance_types.get(instance) or self.room_types.get(instance) or _type_word(instance)

    def name_of(self, instance: str) -> str:
        """The words for an instance: its adjectives, then its type's surface string."""
        adjectives = sorted(f[2] for f in self.facts if f[0] == "adj" and f[1] == instance)
        return " ".join([*adjectives, self.definitions.surface(self.type_of(instance))])

    def instances_of(self, type_name: str) -> list[str]:
        return sorted(f[1] for f in self.facts if f[0] in ("type", "room") and f[2] == type_name)

    def player_room(self) -> str:
        return next(f[2] for f in self.facts if f[0] == "at" and f[1] == PLAYER)

    def inventory(self) -> list[str]:
        return self._ordered(f[1] for f in self.facts if f[0] == "in" and f[2] == INVENTORY)

    def contents(self, holder: str, relation: str) -> list[str]:
        return self._ordered(f[1] for f in self.facts if f[0] == relation and f[2] == holder)

    def where(self, thing: str) -> tuple[str, str] | None:
        """(relation, holder) for a thing that is `on` or `in` something."""
        found = sorted((f[0], f[2]) for f in self.facts if f[0] in ("on", "in") and f[1] == thing)
        return found[0] if found else None

    def _ordered(self, instances: Iterable[str]) -> list[str]:
        order = {name: index for index, name in enumerate(self.definitions.entity_types)}
        return sorted(set(instances), key=lambda i: (order.get(self.type_of(i), len(order)), i))

    def _hidden(self, instance: str) -> bool:
        return bool(self.definitions.entity_types.get(self.type_of(instance), {}).get("hidden"))

    def visible_things(self) -> list[str]:
        room = self.player_room()
        visible = []
        for thing in self._ordered(f[1] for f in self.facts if f[0] == "at" and f[2] == room and f[1] != PLAYER):
            if self._hidden(thing):
                continue
            place = self.where(thing)
            if place and place[0] == "in" and (place[1] == INVENTORY or ("open", place[1]) not in self.facts):
                continue
            visible.append(thing)
        return visible

    # ------------------------------------------------------------------ descriptions

    def _listing(self, instances: list[str]) -> str:
        names = [_with_article(self.name_of(i)) for i in instances]
        return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"

    def room_description(self) -> str:
        room = self.player_room()
        parts = [f"You are in the {self.name_of(room)}."]
        things = self.visible_things()
        if things:
            parts.append(f"Here you see {self._listing(things)}.")
        for thing in things:
            if ("closed", thing) in self.facts:
                parts.append(f"The {self.name_of(thing)} is closed.")
            elif ("open", thing) in self.facts:
                parts.append(f"The {self.name_of(thing)} is open.")
            place = self.where(thing)
            if place:
                parts.append(f"The {self.name_of(thing)} is {place[0]} the {self.name_of(place[1])}.")
        exits = sorted((f[2] for f in self.facts if f[0] == "exit" and f[1] == room),
                       key=lambda r: (list(self.definitions.room_types).index(self.type_of(r))
                                      if self.type_of(r) in self.definitions.room_types else 99, r))
        if exits:
            names = [f"the {self.name_of(r)}" for r in exits]
            joined = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"
            parts.append(f"From here you can go to {joined}.")
        return " ".join(parts)

    def inventory_description(self) -> str:
        carried = self.inventory()
        return f"You are carrying {self._listing(carried)}." if carried else "You are carrying nothing."

    def container_description(self, container: str) -> str:
        inside = self.contents(container, "in")
        if not inside:
            return f"The {self.name_of(container)} is empty."
        return f"Inside the {self.name_of(container)} you see {self._listing(inside)}."

    def entity_description(self, type_name: str) -> str:
        if type_name == INVENTORY:
            return self.inventory_description()
        instances = self.instances_of(type_name)
        if not instances:
            return f"You see nothing special about the {self.definitions.surface(type_name)}."
        thing = instances[0]
        name = self.name_of(thing)
        parts = [f"It is {_with_article(name)}."]
        if ("openable", thing) in self.facts:
            state = "open" if ("open", thing) in self.facts else "closed"
            parts.append(f"It can be opened and closed; now it is {state}.")
        if ("takeable", thing) in self.facts:
            parts.append("You can pick it up.")
        place = self.where(thing)
        if place and ("needs_support", thing) in self.facts:
            holder = "your inventory" if place[1] == INVENTORY else f"the {self.name_of(place[1])}"
            parts.append(f"It is {place[0]} {holder}.")
        if ("container", thing) in self.facts:
            if ("closed", thing) in self.facts:
                parts.append("It is closed, so you cannot see inside.")
            else:
                inside = self.contents(thing, "in")
                parts.append(f"Inside it you see {self._listing(inside)}." if inside else "It is empty.")
        if ("support", thing) in self.facts:
            on_top = self.contents(thing, "on")
            parts.append(f"On it you see {self._listing(on_top)}." if on_top else "There is nothing on it.")
        return " ".join(parts)
