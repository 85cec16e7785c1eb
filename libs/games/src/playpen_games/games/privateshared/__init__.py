"""Privateshared: slot filling with a programmatic Questioner, probing what the Answerer has shared."""

from playpen_games.games.privateshared.game import PrivateShared

__all__ = ["PrivateShared"]
