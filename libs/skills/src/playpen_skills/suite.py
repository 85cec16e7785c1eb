"""The shipped suite: a fixed, seeded set of prompts, each a short task with one to three constraints.

`python -m playpen_skills` (or `playpen-skills-suite`) regenerates data/<SUITE>.json from this module;
`--check` only says whether the shipped file is what the generator builds. Change the tasks, the pools or the
generator and you must bump SUITE: scores of different suites are not comparable.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from playpen_skills import constraints as c

SUITE = "statscore-v1"
SEED = 13
PROMPTS = 150

TASKS = (
    "Explain why the sky looks blue during the day.",
    "Describe how to make a cup of tea.",
    "Give advice to someone starting to learn a musical instrument.",
    "Summarise the main reasons people keep a garden.",
    "Explain what a library is for to a young child.",
    "Describe a quiet morning in a small town.",
    "Explain how a bicycle stays upright while moving.",
    "Give tips for keeping a room tidy.",
    "Describe the life cycle of a butterfly.",
    "Explain why sleep matters for students.",
    "Write a short note inviting a neighbour to dinner.",
    "Describe what makes a good team captain.",
    "Explain how rain forms.",
    "Give reasons to learn a second language.",
    "Describe a walk along a beach in winter.",
    "Explain how to plan a weekend trip on a small budget.",
    "Describe the job of a lighthouse keeper.",
    "Explain what a map scale tells you.",
    "Give advice for a first day at a new job.",
    "Describe the taste of a fresh orange to someone who never had one.",
    "Explain why bridges are built with expansion joints.",
    "Write a short product description for a reusable water bottle.",
    "Explain how a compass works.",
    "Describe an old wooden chair.",
    "Give tips for writing a clear email.",
    "Explain why some trees lose their leaves in autumn.",
    "Describe how bread rises.",
    "Explain what recycling achieves.",
    "Give a short review of an imaginary board game.",
    "Describe the sounds of a busy market.",
)
INCLUDE_POOL = ("simple", "example", "reason", "careful", "future", "people", "light", "small", "together", "change")
FORBID_POOL = ("very", "really", "thing", "good", "also", "just", "many", "important")
FREQUENCY_POOL = ("time", "idea", "way", "day", "place")
ENDINGS = ("That is all.", "Thank you for reading.", "The end.", "Any questions?", "Hope this helps!")


@dataclass(frozen=True)
class Prompt:
    id: str
    task: str
    constraints: tuple[c.Constraint, ...]

    @property
    def text(self) -> str:
        return " ".join([self.task, *(constraint.instruction() for constraint in self.constraints)])

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "task": self.task, "prompt": self.text,
                "constraints": [constraint.to_dict() for constraint in self.constraints]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Prompt:
        prompt = cls(str(data["id"]), str(data["task"]), tuple(c.from_dict(d) for d in data["constraints"]))
        if not prompt.constraints:
            raise ValueError(f"prompt {prompt.id}: no constraints")
        if "prompt" in data and data["prompt"] != prompt.text:
            raise ValueError(f"prompt {prompt.id}: its text does not match its task and constraints")
        return prompt


def _build(kind: type[c.Constraint], rng: random.Random) -> c.Constraint:
    if kind is c.MinWords:
        return c.MinWords(rng.choice((40, 60, 80, 100)))
    if kind is c.MaxWords:
        return c.MaxWords(rng.choice((30, 50, 80)))
    if kind is c.Sentences:
        return c.Sentences(rng.randint(2, 5))
    if kind is c.IncludeWords:
        return c.IncludeWords(tuple(rng.sample(INCLUDE_POOL, rng.randint(1, 2))))
    if kind is c.ForbidWords:
        return c.ForbidWords(tuple(rng.sample(FORBID_POOL, rng.randint(1, 3))))
    if kind is c.WordFrequency:
        return c.WordFrequency(rng.choice(FREQUENCY_POOL), rng.randint(2, 3))
    if kind is c.Bullets:
        return c.Bullets(rng.randint(2, 5))
    if kind is c.Paragraphs:
        return c.Paragraphs(rng.randint(2, 3))
    if kind is c.EndsWith:
        return c.EndsWith(rng.choice(ENDINGS))
    return kind()  # no parameters


def generate(count: int = PROMPTS, seed: int = SEED) -> list[Prompt]:
    """The suite: every kind appears about equally often (the first constraint of prompt i is kind i mod K)."""
    rng = random.Random(seed)
    kinds = list(c.KINDS.values())
    prompts = []
    for index in range(count):
        chosen = [kinds[index % len(kinds)]]
        wanted = rng.choice((1, 2, 2, 3))
        for kind in rng.sample(kinds, len(kinds)):
            if len(chosen) >= wanted:
                break
            if all(c.compatible(kind, other) for other in chosen):
                chosen.append(kind)
        prompts.append(Prompt(f"{SUITE}-{index:03d}", rng.choice(TASKS), tuple(_build(k, rng) for k in chosen)))
    return prompts


def suite_document(prompts: list[Prompt]) -> dict[str, Any]:
    return {"suite": SUITE, "seed": SEED, "prompts": [p.to_dict() for p in prompts]}


def render(prompts: list[Prompt]) -> str:
    return json.dumps(suite_document(prompts), indent=1, ensure_ascii=False) + "\n"


def shipped_path() -> Path:
    return Path(str(resources.files("playpen_skills") / "data" / f"{SUITE}.json"))


def load(path: Path | None = None) -> tuple[str, list[Prompt]]:
    """(suite name, prompts) of a suite file (default: the shipped one); ValueError if it is malformed."""
    source = path or shipped_path()
    try:
        data = json.loads(source.read_text(encoding="utf-8"))
        prompts = [Prompt.from_dict(p) for p in data["prompts"]]
        name = str(data["suite"])
    except (KeyError, TypeError, json.JSONDecodeError) as error:
        raise ValueError(f"{source}: not a suite file ({error})") from None
    if not prompts:
        raise ValueError(f"{source}: the suite has no prompts")
    if len({p.id for p in prompts}) != len(prompts):
        raise ValueError(f"{source}: prompt ids repeat")
    return name, prompts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="playpen-skills-suite", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare the shipped file with the generator's")
    args = parser.parse_args(argv)
    path, wanted = shipped_path(), render(generate())
    if args.check:
        same = path.is_file() and path.read_text(encoding="utf-8") == wanted
        print(f"{path}: {'up to date' if same else 'differs from the generator: regenerate it'}")
        return 0 if same else 1
    path.write_text(wanted, encoding="utf-8")
    print(f"wrote {PROMPTS} prompts to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
