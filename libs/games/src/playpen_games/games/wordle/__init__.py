"""Wordle and its two variants (with a clue; with a clue and a Critic), scored exactly like clembench."""

from playpen_games.games.wordle.game import Wordle, WordleWithClue, WordleWithCritic

__all__ = ["Wordle", "WordleWithClue", "WordleWithCritic"]
