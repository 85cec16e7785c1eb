"""The PDDL subset adventuregame's definitions are written in, parsed into small immutable trees.

Two kinds of text: an action (`(:action TAKE :parameters (...) :precondition (...) :effect (...))`) and a
domain (`(define (domain home) (:types ...) (:functions ...))`). Conditions are atoms, `and`, `or`, `not`
and numeric comparisons over function terms (`(< (itemcount ?i) 2)`); effects are atoms, `(not atom)`,
`and`, `when`, `forall` over typed variables, and `increase` / `decrease` / `assign` of a function.

The grammar is ours (LALR, so parsing every definition file takes milliseconds). What the trees mean is
decided by the interpreter (interpreter.py), not here.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from lark import Lark, Transformer, v_args
from lark.exceptions import LarkError

from playpen_games.engine import GameDefinitionError

_GRAMMAR = r"""
start: action | domain

action: "(" ":action" NAME ":parameters" "(" typed_group* ")" ":precondition" condition ":effect" effect ")"

domain: "(" "define" "(" "domain" NAME ")" section* ")"
?section: "(" ":types" typed_group* ")"              -> types
        | "(" ":functions" function_decl* ")"        -> functions
function_decl: "(" NAME typed_group ")"
typed_group: symbol+ "-" NAME

?condition: "(" "and" condition* ")"                 -> all_of
          | "(" "or" condition* ")"                  -> any_of
          | "(" "not" condition ")"                  -> negation
          | "(" COMPARATOR quantity quantity ")"     -> comparison
          | atom

?effect: "(" "and" effect* ")"                       -> effects
       | "(" "not" atom ")"                          -> deletion
       | "(" "when" condition effect ")"             -> conditional
       | "(" "forall" "(" typed_group+ ")" effect ")" -> universal
       | "(" "increase" function_term quantity ")"   -> increase
       | "(" "decrease" function_term quantity ")"   -> decrease
       | "(" "assign" function_term quantity ")"     -> assign
       | atom

atom: "(" NAME symbol* ")"
?symbol: VARIABLE | NAME
?quantity: NUMBER | function_term
function_term: "(" NAME symbol ")"

COMPARATOR: "<=" | ">=" | "<" | ">" | "="
VARIABLE: "?" NAME
NAME: /[A-Za-z][A-Za-z0-9_\-]*/
NUMBER: /-?[0-9]+(\.[0-9]+)?/

COMMENT: /;[^\n]*/
%import common.WS
%ignore WS
%ignore COMMENT
"""


# ---------------------------------------------------------------------------------------------- the trees


@dataclass(frozen=True)
class Var:
    name: str  # without the question mark


Symbol = Var | str  # a variable or a constant (an instance id such as `inventory`)


@dataclass(frozen=True)
class Atom:
    predicate: str
    args: tuple[Symbol, ...]


@dataclass(frozen=True)
class Not:
    inner: Condition


@dataclass(frozen=True)
class And:
    items: tuple


@dataclass(frozen=True)
class Or:
    items: tuple


@dataclass(frozen=True)
class FunctionTerm:
    function: str
    arg: Symbol


Quantity = FunctionTerm | int | float


@dataclass(frozen=True)
class Compare:
    op: str  # one of < <= > >= =
    left: Quantity
    right: Quantity


Condition = Atom | Not | And | Or | Compare


@dataclass(frozen=True)
class Delete:
    atom: Atom


@dataclass(frozen=True)
class When:
    condition: Condition
    effect: Effect


@dataclass(frozen=True)
class ForAll:
    variables: tuple[tuple[str, str], ...]  # (variable, type)
    effect: Effect


@dataclass(frozen=True)
class Change:
    op: str  # increase | decrease | assign
    target: FunctionTerm
    value: Quantity


Effect = Atom | Delete | And | When | ForAll | Change


@dataclass(frozen=True)
class ActionSchema:
    name: str  # lowercased
    parameters: tuple[tuple[str, str], ...]  # (variable, type) in declaration order
    precondition: Condition
    effect: Effect


@dataclass(frozen=True)
class DomainSchema:
    name: str
    types: tuple[tuple[str, tuple[str, ...]], ...]  # (supertype, its subtypes) in declaration order
    functions: tuple[tuple[str, str], ...]  # (function, type of its argument)


# ---------------------------------------------------------------------------------------------- parsing


def _typed(groups: list[tuple[tuple[Symbol, ...], str]]) -> tuple[tuple[str, str], ...]:
    return tuple((item.name if isinstance(item, Var) else item, kind) for items, kind in groups for item in items)


@v_args(inline=True)
class _ToTrees(Transformer):
    def start(self, tree):
        return tree

    def VARIABLE(self, token):
        return Var(str(token)[1:])

    def NAME(self, token):
        return str(token)

    def NUMBER(self, token):
        text = str(token)
        return float(text) if "." in text else int(text)

    def COMPARATOR(self, token):
        return str(token)

    def typed_group(self, *symbols):
        return tuple(symbols[:-1]), symbols[-1]

    def atom(self, predicate, *args):
        return Atom(predicate, tuple(args))

    def function_term(self, function, arg):
        return FunctionTerm(function, arg)

    def all_of(self, *items):
        return And(tuple(items))

    def any_of(self, *items):
        return Or(tuple(items))

    def negation(self, inner):
        return Not(inner)

    def comparison(self, op, left, right):
        return Compare(op, left, right)

    def effects(self, *items):
        return And(tuple(items))

    def deletion(self, atom):
        return Delete(atom)

    def conditional(self, condition, effect):
        return When(condition, effect)

    def universal(self, *parts):
        return ForAll(_typed(list(parts[:-1])), parts[-1])

    def increase(self, target, value):
        return Change("increase", target, value)

    def decrease(self, target, value):
        return Change("decrease", target, value)

    def assign(self, target, value):
        return Change("assign", target, value)

    def action(self, name, *parts):
        *groups, precondition, effect = parts
        return ActionSchema(name.lower(), _typed(groups), precondition, effect)

    def function_decl(self, name, group):
        return name, group[1]

    def types(self, *groups):
        merged: dict[str, list[str]] = {}
        for items, kind in groups:
            merged.setdefault(kind, []).extend(items)
        return "types", tuple((kind, tuple(items)) for kind, items in merged.items())

    def functions(self, *declarations):
        return "functions", tuple(declarations)

    def domain(self, name, *sections):
        found = dict(sections)
        return DomainSchema(name, found.get("types", ()), found.get("functions", ()))


@lru_cache(maxsize=1)
def _parser() -> Lark:
    return Lark(_GRAMMAR, parser="lalr", maybe_placeholders=False)


@lru_cache(maxsize=512)
def _parse(text: str):
    try:
        return _ToTrees().transform(_parser().parse(text))
    except LarkError as exc:
        raise GameDefinitionError(f"not a PDDL action or domain definition: {exc}") from None


def parse_action(text: str) -> ActionSchema:
    parsed = _parse(text)
    if not isinstance(parsed, ActionSchema):
        raise GameDefinitionError("expected a PDDL (:action ...) definition, got a domain")
    return parsed


def parse_domain(text: str) -> DomainSchema:
    parsed = _parse(text)
    if not isinstance(parsed, DomainSchema):
        raise GameDefinitionError("expected a PDDL (define (domain ...) ...) definition, got an action")
    return parsed
