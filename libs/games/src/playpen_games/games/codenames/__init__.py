"""Codenames: a ClueGiver and a Guesser against a mocked opposing team (rules in game.py)."""

from playpen_games.games.codenames.game import Codenames

__all__ = ["Codenames"]
