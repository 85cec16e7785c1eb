"""What the actor asks the game master for: one round of GRPO groups."""

from __future__ import annotations

import random

from playpen.common.v1 import chat_pb2
from playpen.gamemaster.v1 import gamemaster_pb2
from playpen_selfplay.settings import SelfPlaySettings


def curriculum_weights(settings: SelfPlaySettings, signal: dict[str, list[int]]) -> dict[str, float]:
    """The signal curriculum's weight of each game: the share of its groups so far with signal, smoothed as
    (with signal + 1) / (played + 2) so that an untried game starts at 1/2, and never below the floor."""
    weights = {}
    for game in settings.games:
        with_signal, played = signal.get(game, (0, 0))
        weights[game] = max(settings.curriculum_floor, (with_signal + 1) / (played + 2))
    return weights


def round_games(settings: SelfPlaySettings, round_index: int,
                signal: dict[str, list[int]] | None = None) -> list[str]:
    """The games of a round: all of them, the next `games_per_round` in rotation, or (signal curriculum)
    `games_per_round` different games drawn by `curriculum_weights` with the round's own seed — the same round
    with the same history always draws the same games."""
    games = list(settings.games)
    if not (settings.games_per_round and games):
        return games
    count = min(settings.games_per_round, len(games))
    if settings.curriculum == "signal":
        rng = random.Random(f"{settings.seed}:{round_index}")
        weights = curriculum_weights(settings, signal or {})
        chosen: list[str] = []
        while len(chosen) < count:
            left = [game for game in games if game not in chosen]
            chosen.append(rng.choices(left, weights=[weights[game] for game in left])[0])
        return chosen
    # Small rounds (one optimiser step's groups) keep episodes fresh; rotating covers every game.
    start = round_index * settings.games_per_round
    return [games[(start + k) % len(games)] for k in range(count)]


def round_request(settings: SelfPlaySettings, round_index: int,
                  signal: dict[str, list[int]] | None = None) -> gamemaster_pb2.PlayEpisodesRequest:
    """The PlayEpisodes request of round `round_index`; the same round always gets the same episode ids."""
    sampling = chat_pb2.SamplingParams(temperature=settings.temperature, top_p=settings.top_p,
                                       max_tokens=settings.max_tokens)
    request = gamemaster_pb2.PlayEpisodesRequest(
        games=round_games(settings, round_index, signal), split=settings.split,
        instances_per_game=settings.instances_per_game, group_size=settings.group_size,
        seed=settings.seed * 1_000_003 + round_index, run_id=f"{settings.run_id}-r{round_index:06d}",
        concurrency=settings.concurrency,
        default_player=gamemaster_pb2.PlayerConfig(
            policy=gamemaster_pb2.PolicyEndpoint(target=settings.policy, name=settings.policy_name),
            sampling=sampling))
    for (game, role), builtin in sorted(settings.teachers.items()):
        request.roles.add(game=game, role=role, player=gamemaster_pb2.PlayerConfig(builtin=builtin))
    return request
