"""Builtin expert players: programmatic strategies that play a game's model-backed roles well.

They produce warm-start data (expert-vs-expert episodes for SFT) and frozen partners for the learner
("teacher-play"). Each game package that has experts provides `expert.py` with

    EXPERTS: dict[str, dict[str, Callable[[Request], str]]]   # game name -> role -> move

A move receives the runner's Request, whose `game_state` is the live game, and returns the reply text in
exactly the format the game's prompts ask for. Each expert's docstring says what it reads: the information
its role legitimately has (its prompt, the instance fields its prompt shows, the public dialogue), never
what is hidden from that role (the wordle target, the Follower's target grid, ...). Moves are pure
functions of the game state and the request: all randomness comes from a generator seeded by the episode id
and turn, so an episode replays identically while the episodes of a GRPO group differ.
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Callable
from functools import cache

from playpen_games.engine.runner import Reply, ReplyError, Request
from playpen_games.registry import GAMES, game_spec

EXPERT = "expert"
BUILTIN_PLAYERS = (EXPERT,)

Move = Callable[[Request], str]


@cache
def experts_of(game: str) -> dict[str, Move]:
    """Role -> move for every role of `game` that has an expert (empty when none)."""
    package = game_spec(game).target.partition(":")[0]
    try:
        module = importlib.import_module(f"playpen_games.games.{package}.expert")
    except ModuleNotFoundError as exc:
        if exc.name != f"playpen_games.games.{package}.expert":
            raise
        return {}
    return dict(module.EXPERTS.get(game, {}))


def has_expert(game: str, role: str) -> bool:
    return game in GAMES and role in experts_of(game)


class ExpertResponder:
    """Plays any (game, role) that has an expert; the game master checks support before an episode starts."""

    name = EXPERT

    async def respond(self, request: Request) -> Reply:
        if request.game_state is None:
            raise ReplyError(f"the expert for {request.role} of {request.game} needs the live game")
        move = experts_of(request.game).get(request.role)
        if move is None:
            raise ReplyError(f"{request.game} has no expert for role {request.role!r}")
        # A move is plain CPU work (a wordle move scores a few hundred thousand feedback patterns): off the
        # event loop, so that other episodes and RPCs keep being served. The game waits for this reply and
        # does not change meanwhile.
        return Reply(await asyncio.to_thread(move, request))
