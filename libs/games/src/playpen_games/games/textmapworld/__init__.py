"""Textmapworld and its two variants (find a specific room; draw the explored map), scored like clembench."""

from playpen_games.games.textmapworld.game import (
    TextMapWorld,
    TextMapWorldGraphReasoning,
    TextMapWorldSpecificRoom,
)

__all__ = ["TextMapWorld", "TextMapWorldGraphReasoning", "TextMapWorldSpecificRoom"]
