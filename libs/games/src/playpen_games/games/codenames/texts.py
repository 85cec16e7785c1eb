"""What the players read: four prompt templates, and the game master's feedback after a guessing turn.

The templates (first prompt and later prompts, for each role) are `string.Template` texts with the
placeholders `$team_words`, `$opponent_words`, `$innocent_words`, `$assassin_words` (ClueGiver) and `$board`,
`$clue`, `$number` (Guesser). They are looked up in the instance, then in the experiment (`prompts`, as in
our generated instances), and last in the clembench game folder (`resources/initial_prompts/` and
`resources/intermittent_prompts/`, for official instances). Word lists are joined with `, `; an empty list
is written as the experiment's `empty_list_text` (clembench: nothing).

The feedback wording is our own; it names each revealed word with its kind.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from string import Template
from typing import Any

from playpen_games.engine import GameDefinitionError, GameResources
from playpen_games.games.codenames.board import ASSASSIN, INNOCENT, OPPONENT, TEAM

PROMPTS = "prompts"
CLUEGIVER_FIRST, CLUEGIVER_NEXT = "cluegiver_initial", "cluegiver_next"
GUESSER_FIRST, GUESSER_NEXT = "guesser_initial", "guesser_next"
CLEMBENCH_FILES = {
    CLUEGIVER_FIRST: "resources/initial_prompts/prompt_cluegiver.template",
    CLUEGIVER_NEXT: "resources/intermittent_prompts/prompt_cluegiver.template",
    GUESSER_FIRST: "resources/initial_prompts/prompt_guesser.template",
    GUESSER_NEXT: "resources/intermittent_prompts/prompt_guesser.template",
}
CLUEGIVER_FIELDS = ("team_words", "opponent_words", "innocent_words", "assassin_words")
GUESSER_FIELDS = ("board", "clue", "number")
KIND_NAMES = {TEAM: "your team's word", OPPONENT: "opponent word", INNOCENT: "distractor word",
              ASSASSIN: "kill word"}


@dataclass(frozen=True)
class Prompts:
    templates: Mapping[str, Template]
    empty_list: str

    @classmethod
    def load(cls, experiment: Mapping[str, Any], instance: Mapping[str, Any], resources: GameResources) -> Prompts:
        own = instance.get(PROMPTS, experiment.get(PROMPTS))
        if own is not None:
            if not isinstance(own, Mapping):
                raise ValueError("prompts must be an object of template name -> text")
            texts = {name: own[name] for name in CLEMBENCH_FILES}
        else:
            texts = {name: _clembench_text(resources, path) for name, path in CLEMBENCH_FILES.items()}
        templates = {name: Template(str(text)) for name, text in texts.items()}
        prompts = cls(templates, str(experiment.get("empty_list_text", "")))
        for name, fields in ((CLUEGIVER_FIRST, CLUEGIVER_FIELDS), (CLUEGIVER_NEXT, CLUEGIVER_FIELDS),
                             (GUESSER_FIRST, GUESSER_FIELDS), (GUESSER_NEXT, GUESSER_FIELDS)):
            templates[name].substitute({field: "" for field in fields})  # a wrong placeholder fails here
        return prompts

    def _words(self, words: list[str]) -> str:
        return ", ".join(words) if words else self.empty_list

    def cluegiver(self, first: bool, hidden: Mapping[str, list[str]]) -> str:
        template = self.templates[CLUEGIVER_FIRST if first else CLUEGIVER_NEXT]
        return template.substitute(team_words=self._words(hidden[TEAM]),
                                   opponent_words=self._words(hidden[OPPONENT]),
                                   innocent_words=self._words(hidden[INNOCENT]),
                                   assassin_words=self._words(hidden[ASSASSIN]))

    def guesser(self, first: bool, remaining: list[str], clue: str, number: int) -> str:
        template = self.templates[GUESSER_FIRST if first else GUESSER_NEXT]
        return template.substitute(board=self._words(remaining), clue=clue, number=number)


def _clembench_text(resources: GameResources, relative: str) -> str:
    folder = resources.clembench_game_dir
    if folder is None:
        raise GameDefinitionError("codenames: this instance has no prompts of its own and no clembench game "
                                  "folder is known to take them from (load it from its clembench instances "
                                  "file, or set the clembench path)")
    try:
        return (folder / relative).read_text(encoding="utf-8")
    except OSError as exc:
        raise GameDefinitionError(f"codenames: cannot read the prompt template {folder / relative}: "
                                  f"{exc.strerror}") from exc


def _revealed(evaluated: list[tuple[str, str]]) -> str:
    return "; ".join(f"{word} ({KIND_NAMES[kind]})" for word, kind in evaluated)


def guesser_feedback(evaluated: list[tuple[str, str]]) -> str:
    return f"Your guesses revealed: {_revealed(evaluated)}. Your guessing turn is over."


def cluegiver_feedback(evaluated: list[tuple[str, str]]) -> str:
    return f"Your partner's guesses revealed: {_revealed(evaluated)}. Their guessing turn is over."
