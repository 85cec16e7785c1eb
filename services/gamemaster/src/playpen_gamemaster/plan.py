"""Turns a PlayEpisodesRequest into a validated list of episodes to play. All bad input is found here,
before a single episode starts, and reported as InvalidArgument with a message that names the problem."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from playpen.gamemaster.v1 import gamemaster_pb2
from playpen_common.errors import InvalidArgument
from playpen_games.engine import GameDefinitionError
from playpen_games.engine.runner import Responder
from playpen_games.instances import GameInstance
from playpen_games.instances.catalog import InstanceCatalog
from playpen_games.registry import GAMES, TRAINING_GAMES, game_class

MAX_GROUP_SIZE = 1024

#: (player config, game, role) -> (responder, label recorded in episodes); raises InvalidArgument for a
#: player that cannot play that role (e.g. a builtin expert the game has none of)
ResponderFactory = Callable[[gamemaster_pb2.PlayerConfig, str, str], tuple[Responder, str]]


@dataclass
class EpisodeJob:
    instance: GameInstance
    episode_id: str
    group_id: str
    responders: dict[str, Responder] = field(default_factory=dict)
    policies: dict[str, str] = field(default_factory=dict)


@dataclass
class Group:
    """One instance, played `size` times by the same players."""

    instance: GameInstance
    group_id: str
    size: int
    responders: dict[str, Responder]
    policies: dict[str, str]


@dataclass
class Plan:
    run_id: str
    groups: list[Group]
    concurrency: int

    @property
    def episodes(self) -> int:
        return sum(group.size for group in self.groups)

    def jobs(self) -> Iterator[EpisodeJob]:
        """The episodes in order, made as they are taken (a request may ask for 100,000)."""
        for group in self.groups:
            for k in range(group.size):
                yield EpisodeJob(group.instance, f"{group.group_id}:{k}", group.group_id, group.responders,
                                 group.policies)


def _player_for(request: gamemaster_pb2.PlayEpisodesRequest, game: str,
                role: str) -> gamemaster_pb2.PlayerConfig | None:
    generic = None
    for assignment in request.roles:
        if assignment.role == role and assignment.game == game:
            return assignment.player
        if assignment.role == role and not assignment.game:
            generic = assignment.player
    if generic is not None:
        return generic
    return request.default_player if request.HasField("default_player") else None


def _check_assignments(request: gamemaster_pb2.PlayEpisodesRequest, games: list[str]) -> None:
    for assignment in request.roles:
        if assignment.game and assignment.game not in GAMES:
            raise InvalidArgument(f"role assignment names unknown game {assignment.game!r}")
        candidates = [assignment.game] if assignment.game else games
        classes = [game_class(name) for name in candidates]
        if not any(assignment.role in cls.roles for cls in classes):
            raise InvalidArgument(f"no selected game has a role {assignment.role!r} "
                                  f"(roles: {', '.join(sorted({r for c in classes for r in c.roles}))})")
        if all(assignment.role in cls.programmatic_roles for cls in classes if assignment.role in cls.roles):
            raise InvalidArgument(f"role {assignment.role!r} is played by the game itself and takes no player")
        if not assignment.HasField("player"):
            raise InvalidArgument(f"role assignment for {assignment.role!r} has no player")


def build_plan(request: gamemaster_pb2.PlayEpisodesRequest, catalog: InstanceCatalog,
               make_responder: ResponderFactory, *, server_concurrency: int, max_episodes: int) -> Plan:
    games = list(dict.fromkeys(request.games)) or [g for g in TRAINING_GAMES if g in catalog.games()]
    unknown = [g for g in games if g not in GAMES]
    if unknown:
        named = ", ".join(map(repr, unknown[:5])) + (f" and {len(unknown) - 5} more" if len(unknown) > 5 else "")
        raise InvalidArgument(f"unknown game(s) {named}; known: {', '.join(GAMES)}")
    if request.group_size < 0 or request.group_size > MAX_GROUP_SIZE:
        raise InvalidArgument(f"group_size must be between 0 and {MAX_GROUP_SIZE}, got {request.group_size}")
    if request.instances_per_game < 0 or request.concurrency < 0:
        raise InvalidArgument("instances_per_game and concurrency must not be negative")
    split = request.split or "train"
    _check_assignments(request, games)
    run_id = request.run_id or uuid.uuid4().hex[:12]
    group_size = request.group_size or 1
    groups: list[Group] = []
    episodes = 0
    for game in games:
        try:
            instances = catalog.select(game, split, experiments=set(request.experiments),
                                       instance_ids=set(request.instance_ids),
                                       count=request.instances_per_game, seed=request.seed)
        except GameDefinitionError as exc:
            raise InvalidArgument(str(exc)) from None
        if not instances:
            raise InvalidArgument(f"no {game} instances in split {split!r} match the request")
        cls = game_class(game)
        responders: dict[str, Responder] = {}
        policies: dict[str, str] = {}
        for role in cls.roles:
            if role in cls.programmatic_roles:
                continue
            config = _player_for(request, game, role)
            if config is None:
                raise InvalidArgument(f"no player for role {role!r} of {game}: set default_player or roles")
            responders[role], policies[role] = make_responder(config, game, role)
        episodes += len(instances) * group_size
        if episodes > max_episodes:
            raise InvalidArgument(f"the request asks for more than {max_episodes} episodes; split it up")
        groups += [Group(instance, f"{run_id}:{game}:{instance.instance_id}", group_size, responders, policies)
                   for instance in instances]
    concurrency = min(request.concurrency or server_concurrency, server_concurrency)
    return Plan(run_id=run_id, groups=groups, concurrency=concurrency)
