"""Which games an evaluation plays, and in which group each one counts.

The game set is configuration only: "seen" games (default: the game master's training games) and "unseen"
games (held out from training; default: every other game of the game master with instances in the split).
A request may name its own games; each keeps its configured group, and a game named in neither list is
"seen" if the game master trains on it, else "unseen".

The protocol string names everything that makes two results comparable — games with their groups, instances per
game, seed, max tokens — and is part of a stored result's key.
"""

from __future__ import annotations

from dataclasses import dataclass

from playpen.gamemaster.v1 import gamemaster_pb2
from playpen_common.bounds import quoted
from playpen_common.errors import InvalidArgument
from playpen_evaluator.scoring import SEEN, UNSEEN
from playpen_evaluator.settings import EvaluatorSettings, game_list


@dataclass(frozen=True)
class GameSet:
    groups: dict[str, str]  # game -> "seen" | "unseen", in play order

    @property
    def games(self) -> list[str]:
        return list(self.groups)

    def names(self, group: str) -> list[str]:
        return sorted(game for game, g in self.groups.items() if g == group)

    def protocol(self, settings: EvaluatorSettings) -> str:
        return (f"seen={','.join(self.names(SEEN))};unseen={','.join(self.names(UNSEEN))};"
                f"instances={settings.instances_per_game};seed={settings.seed};max_tokens={settings.max_tokens}")


class GameCatalog:
    """The game master's games (ListGames) and the configured default game set."""

    def __init__(self, listing: gamemaster_pb2.ListGamesResponse, settings: EvaluatorSettings):
        self._info = {game.name: game for game in listing.games}
        seen = game_list(settings.seen_games) or tuple(g.name for g in listing.games if g.training)
        if settings.unseen_games is None:
            # By default every game held out from training is an unseen game (clembench's other games).
            unseen = tuple(g.name for g in listing.games
                           if not g.training and g.name not in seen
                           and any(c.split == settings.split and c.instances for c in g.instance_counts))
        else:
            unseen = game_list(settings.unseen_games)
        unknown = [g for g in (*seen, *unseen) if g not in self._info]
        if unknown:
            raise ValueError(f"configured game(s) {', '.join(unknown)} unknown to the game master "
                             f"(it has {', '.join(self._info)})")
        both = sorted(set(seen) & set(unseen))
        if both:
            raise ValueError(f"game(s) {', '.join(both)} configured as both seen and unseen")
        if not seen:
            raise ValueError("no seen games: the game master lists no training games and none are configured")
        self._seen, self._unseen = seen, unseen
        self.default = GameSet({**dict.fromkeys(seen, SEEN), **dict.fromkeys(unseen, UNSEEN)})

    def group(self, game: str) -> str:
        if game in self._unseen:
            return UNSEEN
        if game in self._seen:
            return SEEN
        return SEEN if self._info[game].training else UNSEEN

    def select(self, requested: list[str], split: str) -> GameSet:
        """The game set of a request (empty: the configured one); InvalidArgument names what is wrong."""
        if requested:
            unknown = [g for g in requested if g not in self._info]
            if unknown:
                named = ", ".join(quoted(g) for g in unknown[:5]) + (
                    f" and {len(unknown) - 5} more" if len(unknown) > 5 else "")
                raise InvalidArgument(f"unknown game(s) {named}; known: {', '.join(self._info)}")
            chosen = GameSet({game: self.group(game) for game in dict.fromkeys(requested)})
        else:
            chosen = self.default
        for game in chosen.games:
            counts = {c.split: c.instances for c in self._info[game].instance_counts}
            if not counts.get(split):
                raise InvalidArgument(f"{game} has no instances in split {split!r}")
        return chosen

    def is_default(self, chosen: GameSet) -> bool:
        return set(chosen.groups.items()) == set(self.default.groups.items())
