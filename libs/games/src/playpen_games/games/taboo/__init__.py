from playpen_games.games.taboo.game import Taboo

__all__ = ["Taboo"]
