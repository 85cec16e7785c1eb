"""Referencegame: one player describes a grid among three, the other picks it out."""

from playpen_gamemaster.games.referencegame.game import ReferenceGame

__all__ = ["ReferenceGame"]
