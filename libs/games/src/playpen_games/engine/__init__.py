"""The game engine: one turn loop, per-player histories, recorded episodes, scored like clembench."""

from playpen_games.engine.errors import (
    GameDefinitionError,
    GameError,
    ParseError,
    ReplayDivergence,
    RuleViolation,
)
from playpen_games.engine.game import (
    DialogueGame,
    Event,
    Message,
    Outcome,
    Player,
    Round,
    Scores,
    Turn,
    TurnStatus,
)
from playpen_games.engine.resources import GameResources

__all__ = [
    "DialogueGame", "Event", "GameDefinitionError", "GameError", "GameResources", "Message", "Outcome",
    "ParseError", "Player", "ReplayDivergence", "Round", "RuleViolation", "Scores", "Turn", "TurnStatus",
]
