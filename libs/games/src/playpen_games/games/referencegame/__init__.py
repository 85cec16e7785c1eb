"""Referencegame: one player describes a grid among three, the other picks it out."""

from playpen_games.games.referencegame.game import ReferenceGame

__all__ = ["ReferenceGame"]
