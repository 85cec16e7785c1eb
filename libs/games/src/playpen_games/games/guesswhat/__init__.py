"""Guess What?: one player narrows eight candidate words down with yes/no questions, the other answers."""

from playpen_games.games.guesswhat.game import GuessWhat

__all__ = ["GuessWhat"]
