"""The two ways a player's reply can go wrong, kept apart because games treat them differently.

A parse error means the reply does not follow the communication protocol (wrong prefix, extra lines);
most games abort on it or re-prompt. A rule violation is a well-formed move that the rules forbid
(a taboo word in a clue); most games count it as a loss, not as an abort.
"""


class GameError(Exception):
    """A problem with a player's reply, raised by a game's parse/advance methods."""

    def __init__(self, reason: str, *, key: str = ""):
        super().__init__(reason)
        self.reason = reason
        self.key = key


class ParseError(GameError):
    """The reply does not follow the format the game master expects."""


class RuleViolation(GameError):
    """The reply is well-formed but breaks a rule of the game."""


class GameDefinitionError(ValueError):
    """An experiment or instance cannot be played: missing fields, wrong types, unknown game."""


class ReplayDivergence(RuntimeError):
    """A replayed episode asked for more recorded replies than exist, or left some unused."""
