"""What the actor asks the game master for: one round of GRPO groups."""

from __future__ import annotations

from playpen.common.v1 import chat_pb2
from playpen.gamemaster.v1 import gamemaster_pb2
from playpen_selfplay.settings import SelfPlaySettings


def round_games(settings: SelfPlaySettings, round_index: int) -> list[str]:
    """The games of a round: all of them, or the next `games_per_round` in rotation."""
    games = list(settings.games)
    if settings.games_per_round and games:
        # Small rounds (one optimiser step's groups) keep episodes fresh; rotating covers every game.
        start = round_index * settings.games_per_round
        games = [games[(start + k) % len(games)] for k in range(min(settings.games_per_round, len(games)))]
    return games


def round_request(settings: SelfPlaySettings, round_index: int) -> gamemaster_pb2.PlayEpisodesRequest:
    """The PlayEpisodes request of round `round_index`; the same round always gets the same episode ids."""
    sampling = chat_pb2.SamplingParams(temperature=settings.temperature, top_p=settings.top_p,
                                       max_tokens=settings.max_tokens)
    request = gamemaster_pb2.PlayEpisodesRequest(
        games=round_games(settings, round_index), split=settings.split,
        instances_per_game=settings.instances_per_game, group_size=settings.group_size,
        seed=settings.seed * 1_000_003 + round_index, run_id=f"{settings.run_id}-r{round_index:06d}",
        concurrency=settings.concurrency,
        default_player=gamemaster_pb2.PlayerConfig(
            policy=gamemaster_pb2.PolicyEndpoint(target=settings.policy, name=settings.policy_name),
            sampling=sampling))
    for (game, role), builtin in sorted(settings.teachers.items()):
        request.roles.add(game=game, role=role, player=gamemaster_pb2.PlayerConfig(builtin=builtin))
    return request
