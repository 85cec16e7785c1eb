"""MatchIt ASCII: two players describe and question each other's 5x5 grids, then decide if they match."""

from playpen_games.games.matchit_ascii.game import MatchItAscii

__all__ = ["MatchItAscii"]
