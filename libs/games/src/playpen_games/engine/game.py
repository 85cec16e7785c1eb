"""The one engine every game runs on: players with their own histories, a turn loop, a recorder.

A game is a synchronous state machine. The runner (runner.py) asks it who speaks next and with which
messages, obtains a reply (from a policy server, a programmatic player or a recording) and feeds it back
with `step`. Games implement `setup`, `parse`, `advance` and `score`, and override the small hooks below
where their turn structure differs from "players speak in the order they were added, one round each".
"""

from __future__ import annotations

import abc
import copy
import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from playpen_games.engine.errors import GameDefinitionError, ParseError, RuleViolation
from playpen_games.engine.resources import GameResources


class Outcome(enum.Enum):
    RUNNING = "running"
    SUCCESS = "success"
    LOSE = "lose"
    ABORTED = "aborted"

    @property
    def is_terminal(self) -> bool:
        return self is not Outcome.RUNNING


class TurnStatus(enum.Enum):
    OK = "ok"
    PARSE_ERROR = "parse_error"
    RULE_VIOLATION = "rule_violation"


Message = dict[str, str]
ProgrammaticResponder = Callable[[list[Message]], str]


@dataclass
class Event:
    """Something the game master noted to itself during a round (clembench's GM→GM log entries)."""

    kind: str
    content: Any = None


@dataclass
class Round:
    """Bookkeeping for one round; `requests`/`parsed`/`violated` follow clemcore's default counting."""

    index: int
    events: list[Event] = field(default_factory=list)
    requests: int = 0
    parsed: int = 0
    violated: int = 0

    def kinds(self) -> list[str]:
        return [e.kind for e in self.events]

    def has(self, kind: str) -> bool:
        return any(e.kind == kind for e in self.events)


@dataclass
class Turn:
    """One request to one player and what came of it; the unit the trainer learns from."""

    index: int
    round: int
    role: str
    player: str
    messages: list[Message]
    reply: str
    programmatic: bool
    status: TurnStatus = TurnStatus.OK
    error: str = ""
    parsed: Any = None
    events: list[Event] = field(default_factory=list)
    generation: Any = None  # set by the runner: token ids, logprobs, policy version


@dataclass
class Scores:
    episode: dict[str, float | int]
    rounds: list[dict[str, float | int]] = field(default_factory=list)


@dataclass
class Player:
    role: str
    name: str
    responder: ProgrammaticResponder | None = None
    history: list[Message] = field(default_factory=list)
    initial_prompt: str | None = None
    context: str | None = None
    memorize: bool = True

    @property
    def programmatic(self) -> bool:
        return self.responder is not None

    def prompt(self) -> list[Message]:
        """The messages this player is asked with now: its history plus the pending context.

        A pending initial prompt is merged into the first context with a blank line, as clembench does.
        """
        if self.context is None:
            raise RuntimeError(f"{self.role} was asked to speak but has no context")
        content = self.context
        if self.initial_prompt is not None:
            content = f"{self.initial_prompt}\n\n{content}"
        return [*self.history, {"role": "user", "content": content}]

    def answered(self, prompt: list[Message], reply: str) -> None:
        if self.memorize:
            self.history = [*prompt, {"role": "assistant", "content": reply}]
        self.initial_prompt = None
        self.context = None
        self.memorize = True


class DialogueGame(abc.ABC):
    """Base class of every game. Subclasses read like the game's rules."""

    name: ClassVar[str]
    roles: ClassVar[tuple[str, ...]]
    #: roles whose turns the game produces itself; they never reach a policy server
    programmatic_roles: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, experiment: Mapping[str, Any], instance: Mapping[str, Any],
                 resources: GameResources | None = None):
        self.experiment = dict(experiment)
        self.instance = copy.deepcopy(dict(instance))
        self.resources = resources or GameResources.of_package(type(self).__module__.rpartition(".")[0], self.name)
        self.players: dict[str, Player] = {}
        self.outcome = Outcome.RUNNING
        self.rounds: list[Round] = [Round(0)]
        self.turns: list[Turn] = []
        self._current: Player | None = None
        self._keep_turn = False
        try:
            self.setup()
        except (KeyError, IndexError, TypeError, ValueError, AttributeError) as exc:
            if isinstance(exc, GameDefinitionError):
                raise
            raise GameDefinitionError(
                f"{self.name}: malformed instance {self.instance.get('game_id', '?')}: "
                f"{type(exc).__name__}: {exc}") from exc
        if not self.players:
            raise GameDefinitionError(f"{self.name}: setup added no players")
        self._current = self._current or next(iter(self.players.values()))
        self.on_round_start()

    # ----------------------------------------------------------------- for subclasses

    @abc.abstractmethod
    def setup(self) -> None:
        """Read the instance, add the players in speaking order, give the first speaker its context."""

    @abc.abstractmethod
    def parse(self, role: str, reply: str) -> Any:
        """Check the reply's format and extract its content; raise ParseError if it is malformed."""

    @abc.abstractmethod
    def advance(self, role: str, parsed: Any) -> None:
        """Apply a well-formed move; raise RuleViolation for a forbidden one; set contexts and outcome."""

    @abc.abstractmethod
    def score(self) -> Scores:
        """Episode- and round-level scores, exactly as clembench computes them for this game."""

    def on_parse_error(self, role: str, error: ParseError) -> None:
        self.log("invalid format", error.reason)
        self.outcome = Outcome.ABORTED

    def on_rule_violation(self, role: str, error: RuleViolation) -> None:
        self.log("rule violation", error.reason)
        self.outcome = Outcome.LOSE

    def next_role(self, role: str) -> str:
        """Who speaks after `role` when the turn passes; by default the next player in order."""
        order = list(self.players)
        return order[(order.index(role) + 1) % len(order)]

    def round_ends_after(self, role: str, next_role: str) -> bool:
        """Whether a new round begins once `role` has spoken; by default when the order wraps."""
        return next_role == next(iter(self.players))

    def on_round_end(self) -> None:
        """Called when a round is over and the game still runs; may end it (a turn limit)."""

    def on_round_start(self) -> None:
        """Called when a round begins, including the first."""

    def add_player(self, role: str, *, initial_prompt: str | None = None, context: str | None = None,
                   responder: ProgrammaticResponder | None = None) -> Player:
        if role not in self.roles:
            raise GameDefinitionError(f"{self.name} has no role {role!r}")
        if role in self.players:
            raise GameDefinitionError(f"{self.name}: role {role!r} added twice")
        player = Player(role=role, name=f"Player {len(self.players) + 1}", responder=responder,
                        initial_prompt=initial_prompt, context=context)
        self.players[role] = player
        return player

    def set_context(self, role: str, content: str, *, memorize: bool = True) -> None:
        """What `role` is asked with on its next turn; with memorize=False the exchange is not kept
        in that player's history (used for side questions such as privateshared's probes)."""
        player = self.players[role]
        player.context = content
        player.memorize = memorize

    def reprompt(self, role: str, content: str, *, memorize: bool = True) -> None:
        """Ask the same player again with `content` instead of passing the turn."""
        self.set_context(role, content, memorize=memorize)
        self._keep_turn = True

    def hand_turn_to(self, role: str) -> None:
        """Make `role` the next speaker regardless of `next_role` (and without ending the round)."""
        self._handover = role

    def log(self, kind: str, content: Any = None) -> None:
        event = Event(kind, content)
        self.current_round.events.append(event)
        if self.turns and self._in_step:
            self.turns[-1].events.append(event)

    @property
    def current_round(self) -> Round:
        return self.rounds[-1]

    @property
    def round_index(self) -> int:
        return self.current_round.index

    # ----------------------------------------------------------------- for the runner

    _in_step = False
    _handover: str | None = None

    @property
    def done(self) -> bool:
        return self.outcome.is_terminal

    @property
    def current_player(self) -> Player:
        assert self._current is not None
        return self._current

    def step(self, reply: str) -> Turn:
        """Feed the current player's reply; returns the recorded turn."""
        if self.done:
            raise RuntimeError(f"{self.name}: step() after the game ended ({self.outcome.value})")
        player = self.current_player
        prompt = player.prompt()
        turn = Turn(index=len(self.turns), round=self.round_index, role=player.role, player=player.name,
                    messages=prompt, reply=reply, programmatic=player.programmatic)
        self.turns.append(turn)
        player.answered(prompt, reply)
        self.current_round.requests += 1
        self._keep_turn = False
        self._handover = None
        self._in_step = True
        try:
            turn.parsed = self.parse(player.role, reply)
            self.current_round.parsed += 1
            self.advance(player.role, turn.parsed)
        except ParseError as error:
            self.current_round.violated += 1
            turn.status, turn.error = TurnStatus.PARSE_ERROR, error.reason
            self.on_parse_error(player.role, error)
        except RuleViolation as error:
            turn.status, turn.error = TurnStatus.RULE_VIOLATION, error.reason
            self.on_rule_violation(player.role, error)
        finally:
            self._in_step = False
        if not self.done:
            self._pass_turn(player.role)
        return turn

    def _pass_turn(self, role: str) -> None:
        if self._keep_turn:
            return
        if self._handover is not None:
            self._current = self.players[self._handover]
            return
        following = self.next_role(role)
        if self.round_ends_after(role, following):
            self.on_round_end()
            if self.done:
                return
            self.rounds.append(Round(self.round_index + 1))
            self._current = self.players[following]
            self.on_round_start()
        else:
            self._current = self.players[following]

    def request_totals(self) -> dict[str, float | int]:
        """Request counts over the episode in clemcore's default way (one per reply)."""
        requests = sum(r.requests for r in self.rounds)
        parsed = sum(r.parsed for r in self.rounds)
        return {
            "Request Count": requests,
            "Parsed Request Count": parsed,
            "Violated Request Count": sum(r.violated for r in self.rounds),
            "Request Success Ratio": parsed / requests if requests else 0.0,
        }
