"""Reading the player's command (`take the plate from counter`) with the grammar its world defines.

Each action definition carries a grammar snippet (its rule and verb terminal, e.g. `take: TAKE PREP* thing
(PREP thing)*`); a core grammar supplies the shared pieces (`thing`, prepositions, determiners and a
low-priority `unknown` rule for anything made of words). The command grammar is the root rule over all
actions plus `unknown`, the snippets, and an adjective terminal made from the entities' possible
adjectives. It is ambiguous on purpose (`go to kitchen`: is `to` part of the place?) and is read with
lark's Earley parser, whose priorities decide.

What comes out is the action rule that matched, the words of each `thing` (adjectives and determiners
dropped, words joined by single spaces), the adjectives per argument and the last preposition. For
`unknown`, the only argument is the first word: the verb the player may have meant.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from lark import Lark, Token, Tree
from lark.exceptions import LarkError

from playpen_games.engine import GameDefinitionError

UNKNOWN = "unknown"


class CommandNotUnderstood(Exception):
    """The text is not a sentence of the command grammar at all."""


@dataclass(frozen=True)
class Command:
    kind: str  # the grammar rule: an action's rule name, or "unknown"
    args: tuple[str, ...]
    adjectives: tuple[tuple[str, ...], ...] = ()
    preposition: str | None = None


@dataclass(frozen=True)
class CoreGrammar:
    head: str  # imports and shared settings, placed first
    foot: str  # the shared rules and terminals (thing, PREP, DET, unknown), placed last

    @classmethod
    def from_json(cls, document: dict) -> CoreGrammar:
        return cls(head=str(document["grammar_head"]), foot=str(document["grammar_foot"]))


class CommandGrammar:
    def __init__(self, core: CoreGrammar, action_snippets: list[str], adjectives: list[str]):
        self.rules = [snippet.split(":", 1)[0].strip() for snippet in action_snippets]
        if not adjectives:
            raise GameDefinitionError("adventuregame: the entity definitions name no possible adjectives")
        alternatives = " | ".join(f'"{adjective}"' for adjective in sorted(set(adjectives)))
        self.text = (f"{core.head}action: {' | '.join([*self.rules, UNKNOWN])}\n"
                     + "\n".join(action_snippets)
                     + f"\nADJ.1: ({alternatives}) WS\n{core.foot}")
        self._parser = _earley(self.text)

    def read(self, text: str) -> Command:
        try:
            tree = self._parser.parse(text)
        except LarkError as exc:
            raise CommandNotUnderstood(str(exc)) from None
        return _command(tree.children[0])


@lru_cache(maxsize=16)
def _earley(grammar: str) -> Lark:
    try:
        return Lark(grammar, start="action")
    except LarkError as exc:
        raise GameDefinitionError(f"adventuregame: the command grammar does not compile: {exc}") from None


def _command(tree: Tree) -> Command:
    kind = str(tree.data)
    args: list[str] = []
    adjectives: list[tuple[str, ...]] = []
    preposition = None
    for child in tree.children:
        if isinstance(child, Tree) and child.data == "thing":
            tokens = [token for token in child.children if isinstance(token, Token)]
            args.append(" ".join(token.value for token in tokens if token.type == "WORD"))
            # the last piece of a thing is its head word (or trailing space), never an adjective
            adjectives.append(tuple(token.value.strip() for token in tokens[:-1] if token.type == "ADJ"))
        elif isinstance(child, Token) and child.type == "PREP":
            preposition = child.value.strip()
        elif kind == UNKNOWN and isinstance(child, Token) and child.type == "WORD":
            args.append(child.value)
            break
    return Command(kind, tuple(args), tuple(adjectives), preposition)
