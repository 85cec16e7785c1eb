"""The texts an episode needs besides its instance: Questioner requests, probe questions, re-prompt
suffixes and the protocol words (reply tags, yes/no, the probe template).

Each text set is looked up in the instance, then in the experiment, and only then in the clembench game
folder (`resources/texts/<experiment>/...`, `resources/texts/reprompts.json`, `resources/<lang>_words.json`)
— so our generated instances are self-contained while official ones read clembench's files. The keys differ
from the instance's own `requests`/`probes`, which are indices into these lists.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from playpen_games.engine.resources import GameResources

REQUEST_TEXTS = "request_texts"
PROBE_QUESTIONS = "probe_questions"
REPROMPT_SUFFIXES = "reprompt_suffixes"
WORDS = "words"


@dataclass(frozen=True)
class Words:
    """Protocol words; `probe` is a template with one `{}` for the question and starts with `me`."""

    answer: str  # prefix of a slot answer, e.g. "ANSWER: " (checked without its trailing space)
    aside: str  # prefix of a probe answer, e.g. "ASIDE: "
    me: str  # prefix of a probe question, e.g. "ME: "; the re-prompt suffix is inserted right after it
    probe: str
    dummy_prompt: str  # what the programmatic Questioner is asked each round
    yes: str
    no: str
    ok: str  # the Answerer's pseudo reply to its initial prompt

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> Words:
        lowered = {str(key).lower(): value for key, value in data.items()}
        return cls(**{name: str(lowered[name]) for name in cls.__dataclass_fields__})


@dataclass(frozen=True)
class GameTexts:
    requests: dict[str, list[str]]
    probe_questions: dict[str, list[str]]
    reprompt_suffixes: list[str]
    words: Words

    @property
    def max_attempts(self) -> int:
        """A probe is asked at most once per suffix (clembench: 5)."""
        return len(self.reprompt_suffixes)


def _lookup(key: str, instance: Mapping[str, Any], experiment: Mapping[str, Any],
            resources: GameResources, clembench_path: str) -> Any:
    for source in (instance, experiment):
        if key in source:
            return source[key]
    return resources.clembench_json(clembench_path)


def load_texts(experiment: Mapping[str, Any], instance: Mapping[str, Any], resources: GameResources) -> GameTexts:
    name = str(experiment["name"])
    lang = str(instance.get("lang", "en"))  # instances before v1.6 carry no language
    requests = _lookup(REQUEST_TEXTS, instance, experiment, resources, f"resources/texts/{name}/requests.json")
    probes = _lookup(PROBE_QUESTIONS, instance, experiment, resources,
                     f"resources/texts/{name}/probing_questions.json")
    suffixes = _lookup(REPROMPT_SUFFIXES, instance, experiment, resources, "resources/texts/reprompts.json")
    if isinstance(suffixes, Mapping):
        suffixes = suffixes["suffixes"]
    words = Words.from_mapping(_lookup(WORDS, instance, experiment, resources, f"resources/{lang}_words.json"))
    if not suffixes:
        raise ValueError("at least one re-prompt suffix is needed (one per probe attempt)")
    return GameTexts(requests={slot: [str(t) for t in texts] for slot, texts in requests.items()},
                     probe_questions={slot: [str(t) for t in texts] for slot, texts in probes.items()},
                     reprompt_suffixes=[str(s) for s in suffixes], words=words)
