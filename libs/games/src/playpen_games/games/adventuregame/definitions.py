"""The definitions an adventure is built from: entity and room types, the domain, the actions.

An instance names its definition files (`action_definitions`, `room_definitions`, `entity_definitions`,
`domain_definitions`; a list entry may also be the definition itself, as an object). Files are looked up
among the definitions this project ships (`data/definitions/`, used by our own instances), then in the
clembench game folder's `resources/definitions/` (official instances). The core command grammar comes from
the same place as the action files: ours, or the clembench folder's `resources/grammar_core.json`.

- Entity types: `type_name`, `repr_str` (the words the player uses), optional `traits` (container,
  support, openable, takeable, movable, needs_support: each becomes a fact `trait(instance)` and a domain
  type), `hidden` (never listed in descriptions), `possible_adjs`.
- Room types: `type_name`, `repr_str`, `exit_targets`, `standard_content`.
- Domain: a PDDL domain with `:types` (subtypes per supertype) and optional `:functions`.
- Actions: `type_name`, `lark` (grammar snippet), `pddl`, `pddl_parameter_mapping` (how each variable is
  bound: `arg1`, `arg2`, `arg1_receptacle`, `current_player_room`, `player`, `inventory`,
  `current_room_floor`), `failure_feedback` (per parameter and per precondition atom, in order: a message
  template and the failure type) and `success_feedback` (a template).

Not supported (not used by the v2 instances): clembench 3's events and pre-parsed domain objects.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from playpen_games.engine import GameDefinitionError, GameResources
from playpen_games.games.adventuregame import pddl
from playpen_games.games.adventuregame.commands import CommandGrammar, CoreGrammar

PACKAGED_FOLDER = "definitions"
PACKAGED_CORE_GRAMMAR = "definitions/command_grammar.json"
CLEMBENCH_FOLDER = Path("resources") / "definitions"
CLEMBENCH_CORE_GRAMMAR = Path("resources") / "grammar_core.json"


@dataclass(frozen=True)
class ActionType:
    name: str
    schema: pddl.ActionSchema
    bindings: tuple[tuple[str, tuple[str, ...]], ...]  # (variable without "?", sources), in file order
    parameter_feedback: tuple[tuple[str, str], ...]  # (template, failure type) per binding
    precondition_feedback: tuple[tuple[str, str], ...]  # (template, failure type) per precondition atom
    success_feedback: str
    epistemic: bool
    pragmatic: bool

    def sources(self, variable: str) -> tuple[str, ...]:
        return dict(self.bindings).get(variable, ())

    def binding_index(self, variable: str) -> int:
        return [name for name, _ in self.bindings].index(variable)


@dataclass(frozen=True)
class Definitions:
    entity_types: Mapping[str, Mapping[str, Any]]
    room_types: Mapping[str, Mapping[str, Any]]
    surface_types: Mapping[str, str]  # the words for a type ("side table") -> its type name
    actions: Mapping[str, ActionType]
    types: Mapping[str, tuple[str, ...]]  # supertype -> subtypes, trait types included
    supertypes: Mapping[str, tuple[str, ...]]
    functions: tuple[tuple[str, str], ...]  # (function, argument type) from the domain
    grammar: CommandGrammar

    def surface(self, type_name: str) -> str:
        found = self.entity_types.get(type_name) or self.room_types.get(type_name)
        return str(found["repr_str"]) if found else type_name

    def is_subtype(self, type_name: str, of: str) -> bool:
        return type_name == of or of in self.supertypes.get(type_name, ())


def load(instance: Mapping[str, Any], resources: GameResources) -> Definitions:
    names = {key: _names(instance, key) for key in
             ("entity_definitions", "room_definitions", "action_definitions", "domain_definitions")}
    if instance.get("event_definitions"):
        raise GameDefinitionError("adventuregame: event definitions (clembench 3's potion adventures) are not "
                                  "supported")
    if not names["action_definitions"] or not names["domain_definitions"]:
        raise GameDefinitionError("adventuregame: the instance names no action or domain definitions")
    first_action = next((n for n in names["action_definitions"] if isinstance(n, str)), None)
    from_clembench = first_action is not None and not (resources.packaged / PACKAGED_FOLDER / first_action).is_file()
    key = json.dumps(names, sort_keys=True)
    return _load(key, resources.packaged, resources.clembench_game_dir, from_clembench)


def _names(instance: Mapping[str, Any], key: str) -> list[Any]:
    value = instance.get(key, [])
    if not isinstance(value, list):
        raise GameDefinitionError(f"adventuregame: {key} must be a list")
    return value


@lru_cache(maxsize=32)
def _load(key: str, packaged: Path, clembench_dir: Path | None, from_clembench: bool) -> Definitions:
    names = json.loads(key)

    def documents(kind: str) -> list[Any]:
        found: list[Any] = []
        for entry in names[kind]:
            if isinstance(entry, dict):
                found.append(entry)
                continue
            document = _read(str(entry), packaged, clembench_dir)
            found.extend(document if isinstance(document, list) else [document])
        return found

    entity_types = {str(e["type_name"]): e for e in documents("entity_definitions")}
    room_types = {str(r["type_name"]): r for r in documents("room_definitions")}
    surface_types = {str(d["repr_str"]): name for name, d in [*entity_types.items(), *room_types.items()]}

    domain_document = documents("domain_definitions")[0]
    if "pddl_domain" not in domain_document:
        raise GameDefinitionError("adventuregame: only PDDL domain definitions (pddl_domain) are supported")
    domain = pddl.parse_domain(str(domain_document["pddl_domain"]))
    types = {kind: list(subtypes) for kind, subtypes in domain.types}
    for entity_type in types.get("entity", []):
        for trait in entity_types[entity_type].get("traits", []):
            types.setdefault(str(trait), []).append(entity_type)
    supertypes: dict[str, list[str]] = {}
    for kind, subtypes in types.items():
        for subtype in subtypes:
            supertypes.setdefault(subtype, []).append(kind)

    actions = {}
    for document in documents("action_definitions"):
        action = _action(document)
        actions[action.name] = action

    if from_clembench:
        if clembench_dir is None:
            raise GameDefinitionError("adventuregame: no clembench game folder for the core command grammar")
        core = CoreGrammar.from_json(_read_json(clembench_dir / CLEMBENCH_CORE_GRAMMAR))
    else:
        core = CoreGrammar.from_json(_read_json(packaged / PACKAGED_CORE_GRAMMAR))
    adjectives = [str(a) for e in entity_types.values() for a in e.get("possible_adjs", [])]
    grammar = CommandGrammar(core, [str(d["lark"]) for d in documents("action_definitions")], adjectives)

    return Definitions(
        entity_types=entity_types, room_types=room_types, surface_types=surface_types, actions=actions,
        types={k: tuple(v) for k, v in types.items()}, supertypes={k: tuple(v) for k, v in supertypes.items()},
        functions=domain.functions, grammar=grammar)


def _action(document: Mapping[str, Any]) -> ActionType:
    feedback = document.get("failure_feedback", {})
    bindings = tuple((str(variable).lstrip("?"), tuple(str(s) for s in sources))
                     for variable, sources in document["pddl_parameter_mapping"].items())
    schema = pddl.parse_action(str(document["pddl"]))
    if not isinstance(schema.precondition, pddl.And):
        raise GameDefinitionError(f"adventuregame: action {schema.name}: the precondition must be an (and ...)")
    return ActionType(
        name=str(document["type_name"]), schema=schema, bindings=bindings,
        parameter_feedback=tuple((str(t), str(k)) for t, k in feedback.get("parameters", [])),
        precondition_feedback=tuple((str(t), str(k)) for t, k in feedback.get("precondition", [])),
        success_feedback=str(document.get("success_feedback", "")),
        epistemic=bool(document.get("epistemic", False)), pragmatic=bool(document.get("pragmatic", False)))


def _read(name: str, packaged: Path, clembench_dir: Path | None) -> Any:
    candidates = [packaged / PACKAGED_FOLDER / name]
    if clembench_dir is not None:
        candidates.append(clembench_dir / CLEMBENCH_FOLDER / name)
    for path in candidates:
        if path.is_file():
            return _read_json(path)
    raise GameDefinitionError(f"adventuregame: definition file {name} not found (looked in "
                              f"{', '.join(str(p.parent) for p in candidates)})")


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise GameDefinitionError(f"adventuregame: cannot read {path}: {exc}") from None
