"""The async turn loop: asks whoever speaks next for a reply and feeds it to the game.

Replies come from a Responder per role — a policy server, a programmatic expert, a recording. A failure
to obtain a reply is an infrastructure failure of the episode, never a game outcome: the game is left
where it was and no game score is reported for it. One failure is the player's own: a conversation that
outgrew its model's context window ends the episode as CONTEXT_EXCEEDED.
"""

from __future__ import annotations

import enum
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from playpen_games.engine.game import DialogueGame, Message, Outcome, Scores, Turn


class EpisodeStatus(enum.Enum):
    COMPLETED = "completed"  # the game reached an outcome; scores are meaningful
    INFRA_FAILURE = "infra_failure"  # a reply could not be obtained (policy down, deadline, bad reply)
    ENGINE_ERROR = "engine_error"  # the game code itself failed: a bug, reported, never scored
    CONTEXT_EXCEEDED = "context_exceeded"  # the dialogue outgrew the player's context window: it cannot go on


@dataclass
class Request:
    episode_id: str
    game: str
    role: str
    player: str
    turn_index: int
    messages: list[Message]
    #: the live game, for builtin players that read its state (experts); model players get messages only
    game_state: DialogueGame | None = field(default=None, repr=False, compare=False)


@dataclass
class Reply:
    text: str
    generation: Any = None


class Responder(Protocol):
    async def respond(self, request: Request) -> Reply: ...


class ReplyError(Exception):
    """A responder could not produce a usable reply (unavailable, timed out, malformed)."""


class ContextExceeded(ReplyError):
    """The player's model cannot read the prompt: the conversation no longer fits its context window."""


@dataclass
class EpisodeResult:
    episode_id: str
    game: DialogueGame
    status: EpisodeStatus
    error: str = ""
    scores: Scores | None = None
    started_at: float = 0.0
    duration_s: float = 0.0
    turn_latencies_s: list[float] = field(default_factory=list)

    @property
    def turns(self) -> list[Turn]:
        return self.game.turns

    @property
    def outcome(self) -> Outcome:
        return self.game.outcome


class ProgrammaticResponder:
    """Plays a programmatic role by calling the game's own responder for it."""

    def __init__(self, game: DialogueGame):
        self._game = game

    async def respond(self, request: Request) -> Reply:
        player = self._game.players[request.role]
        assert player.responder is not None
        return Reply(player.responder(request.messages))


async def play_episode(game: DialogueGame, responders: Mapping[str, Responder], *, episode_id: str,
                       max_reply_chars: int = 1 << 20, max_turns: int = 10_000) -> EpisodeResult:
    result = EpisodeResult(episode_id=episode_id, game=game, status=EpisodeStatus.COMPLETED,
                           started_at=time.time())
    programmatic = ProgrammaticResponder(game)
    clock = time.perf_counter()
    try:
        while not game.done:
            if len(game.turns) >= max_turns:
                raise RuntimeError(f"{game.name} did not end within {max_turns} turns")
            player = game.current_player
            responder = programmatic if player.programmatic else responders.get(player.role)
            if responder is None:
                raise ReplyError(f"no responder for role {player.role!r}")
            request = Request(episode_id=episode_id, game=game.name, role=player.role, player=player.name,
                              turn_index=len(game.turns), messages=player.prompt(), game_state=game)
            started = time.perf_counter()
            reply = await responder.respond(request)
            if not isinstance(reply.text, str):
                raise ReplyError(f"reply for {player.role} is not text")
            if len(reply.text) > max_reply_chars:
                raise ReplyError(f"reply for {player.role} has {len(reply.text)} characters, "
                                 f"more than the limit of {max_reply_chars}")
            result.turn_latencies_s.append(time.perf_counter() - started)
            turn = game.step(reply.text)
            turn.generation = reply.generation
        result.scores = game.score()
    except ContextExceeded as exc:
        result.status, result.error = EpisodeStatus.CONTEXT_EXCEEDED, str(exc)
    except ReplyError as exc:
        result.status, result.error = EpisodeStatus.INFRA_FAILURE, str(exc)
    except Exception as exc:  # noqa: BLE001 - a game bug must not take the other episodes down
        result.status, result.error = EpisodeStatus.ENGINE_ERROR, f"{type(exc).__name__}: {exc}"
    result.duration_s = time.perf_counter() - clock
    return result


def is_nan(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)
