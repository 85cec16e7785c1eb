"""Adventuregame: a PDDL-defined text adventure played by one model, the Adventurer."""

from playpen_games.games.adventuregame.game import AdventureGame

__all__ = ["AdventureGame"]
