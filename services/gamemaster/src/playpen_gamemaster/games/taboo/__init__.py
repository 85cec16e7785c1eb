from playpen_gamemaster.games.taboo.game import Taboo

__all__ = ["Taboo"]
