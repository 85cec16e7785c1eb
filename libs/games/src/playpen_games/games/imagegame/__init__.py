"""Imagegame: one player describes a letter grid, the other redraws it command by command."""

from playpen_games.games.imagegame.game import ImageGame

__all__ = ["ImageGame"]
