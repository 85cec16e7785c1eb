"""Privateshared instances of our own: five slot-filling scenarios with our own wording.

All texts live in data/scenarios.json: per scenario the Questioner's tag, a role description and five
slots, each with a label, request phrasings, probe questions and value pools. Every slot's value pool is
split by hand into train / validation / test, so no value (and hence no slot-value combination) is shared
between splits. Within a scenario no value may occur inside another (slot filling is a substring test).

Each instance draws one value per slot from its split's pools (no combination twice), a random request
order, one request phrasing per slot, and for each of the n + 1 probing rounds one probe question per slot
in a shuffled order. The experiment carries every text the game needs (request texts, probe questions,
re-prompt suffixes, protocol words), so the instances play without a clembench folder.
"""

from __future__ import annotations

import math
import random
from typing import Any

from playpen_games.engine.resources import GameResources
from playpen_games.games.privateshared.texts import PROBE_QUESTIONS, REPROMPT_SUFFIXES, REQUEST_TEXTS, WORDS

PER_SCENARIO = {"train": 60, "validation": 10, "test": 10}
LANG = "en"


def scenarios_document() -> dict[str, Any]:
    return GameResources.of_package(__package__).packaged_json("scenarios.json")


def check_values(document: dict[str, Any]) -> None:
    """Values must not contain one another within a scenario, nor recur in another split anywhere."""
    split_of: dict[str, str] = {}
    for scenario in document["scenarios"]:
        values = []
        for slot, spec in scenario["slots"].items():
            for split, pool in spec["values"].items():
                for value in pool:
                    key = value.lower()
                    if split_of.setdefault(key, split) != split:
                        raise ValueError(f"{value!r} occurs in both {split_of[key]} and {split}")
                    values.append((slot, key))
        for slot, value in values:
            for other_slot, other in values:
                if (slot, value) != (other_slot, other) and value in other:
                    raise ValueError(f"{scenario['name']}: {slot} value {value!r} occurs in {other_slot} "
                                     f"value {other!r}")


def initial_prompt(template: str, scenario: dict[str, Any], slots: dict[str, str], words: dict[str, str]) -> str:
    details = "\n".join([f"Topic: {scenario['topic']}"]
                        + [f"{scenario['slots'][slot]['label']}: {value}" for slot, value in slots.items()])
    replacements = {"$ROLE$": scenario["role"], "$DETAILS$": details, "$PARTNER$": scenario["partner"],
                    "$TAG$": scenario["tag"], "$ANSWER$": words["answer"], "$ASIDE$": words["aside"],
                    "$ME$": words["me"].strip()}
    for placeholder, text in replacements.items():
        template = template.replace(placeholder, text)
    return template


def make_instance(rng: random.Random, game_id: int, scenario: dict[str, Any], slots: dict[str, str],
                  document: dict[str, Any]) -> dict[str, Any]:
    specs = scenario["slots"]
    names = list(specs)
    probes = {}
    for round_index in range(len(names) + 1):
        order = rng.sample(names, len(names))
        probes[str(round_index)] = {slot: rng.randrange(len(specs[slot]["probes"])) for slot in order}
    return {
        "game_id": game_id,
        "tag": scenario["tag"],
        "slots": slots,
        "initial_prompt": initial_prompt(document["prompt"], scenario, slots, document["words"]),
        "request_order": rng.sample(names, len(names)),
        "requests": {slot: rng.randrange(len(specs[slot]["requests"])) for slot in names},
        "probes": probes,
        "lang": LANG,
    }


def generate(split: str, seed: int) -> dict:
    if split not in PER_SCENARIO:
        raise ValueError(f"unknown split {split!r}")
    document = scenarios_document()
    check_values(document)
    rng = random.Random(f"privateshared:{seed}:{split}")
    experiments = []
    for scenario in document["scenarios"]:
        specs = scenario["slots"]
        seen: set[tuple[str, ...]] = set()
        instances = []
        if math.prod(len(spec["values"][split]) for spec in specs.values()) < PER_SCENARIO[split]:
            raise ValueError(f"{scenario['name']}: too few {split} values for {PER_SCENARIO[split]} instances")
        while len(instances) < PER_SCENARIO[split]:
            slots = {slot: rng.choice(spec["values"][split]) for slot, spec in specs.items()}
            combination = tuple(slots.values())
            if combination in seen:
                continue
            seen.add(combination)
            instances.append(make_instance(rng, len(instances), scenario, slots, document))
        experiments.append({
            "name": scenario["name"],
            REQUEST_TEXTS: {slot: spec["requests"] for slot, spec in specs.items()},
            PROBE_QUESTIONS: {slot: spec["probes"] for slot, spec in specs.items()},
            REPROMPT_SUFFIXES: document["reprompt_suffixes"],
            WORDS: document["words"],
            "game_instances": instances,
        })
    return {"experiments": experiments}
