"""One round: the game master's episodes stream straight into the trainer as they finish."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field

from playpen.common.v1 import episode_pb2
from playpen.gamemaster.v1 import gamemaster_pb2, gamemaster_pb2_grpc
from playpen.trainer.v1 import trainer_pb2, trainer_pb2_grpc


class SelfPlayError(RuntimeError):
    """The actor cannot go on (a refused round, a trainer that never catches up in sync mode)."""


@dataclass
class RoundReport:
    round: int
    episodes: int
    acks: dict[str, int]
    statuses: dict[str, int]
    seconds: float
    trainer_step: int = 0
    trainer_version: int = 0
    #: game -> one entry per group of the round with at least two completed episodes: did they score differently
    groups: dict[str, list[bool]] = field(default_factory=dict)


def group_signals(episodes: list[episode_pb2.Episode]) -> dict[str, list[bool]]:
    """Per game, per group: whether its completed episodes differ in outcome (aborted or not, Main Score) — the
    actor's view of whether the trainer will find signal in it (the trainer adds format shaping, which differs
    mostly where aborts do)."""
    outcomes: dict[tuple[str, str], set] = {}
    counts: Counter = Counter()
    for episode in episodes:
        if episode.status != episode_pb2.EPISODE_STATUS_COMPLETED:
            continue
        key = (episode.game, episode.group_id)
        score = None if episode.scores.aborted else round(episode.scores.main_score, 6)
        outcomes.setdefault(key, set()).add((bool(episode.scores.aborted), score))
        counts[key] += 1
    signals: dict[str, list[bool]] = {}
    for (game, group_id), seen in sorted(outcomes.items()):
        if counts[(game, group_id)] >= 2:
            signals.setdefault(game, []).append(len(seen) > 1)
    return signals


async def play_round(round_index: int, request: gamemaster_pb2.PlayEpisodesRequest,
                     gamemaster: gamemaster_pb2_grpc.GameMasterServiceStub,
                     trainer: trainer_pb2_grpc.TrainerServiceStub, stop: asyncio.Event, *,
                     timeout_s: float = 3600.0) -> RoundReport | None:
    """Play one round and submit its episodes as they arrive; None if `stop` was set meanwhile. Both streams end
    with DEADLINE_EXCEEDED after `timeout_s` (a hung peer then costs one replayed round, not the run)."""
    started = time.monotonic()
    queue: asyncio.Queue[episode_pb2.Episode | None] = asyncio.Queue()
    statuses: Counter = Counter()
    played: list[episode_pb2.Episode] = []

    async def requests():
        while (episode := await queue.get()) is not None:
            yield trainer_pb2.SubmitEpisodesRequest(episode=episode)

    async def play() -> int:
        count = 0
        try:
            async for response in gamemaster.PlayEpisodes(request, timeout=timeout_s):
                status = episode_pb2.EpisodeStatus.Name(response.episode.status)
                statuses[status.removeprefix("EPISODE_STATUS_").lower()] += 1
                played.append(episode_pb2.Episode(game=response.episode.game, group_id=response.episode.group_id,
                                                  status=response.episode.status, scores=response.episode.scores))
                await queue.put(response.episode)
                count += 1
        finally:
            await queue.put(None)
        return count

    async def acknowledge() -> Counter:
        acks: Counter = Counter()
        async for ack in trainer.SubmitEpisodes(requests(), timeout=timeout_s):
            acks[trainer_pb2.AckStatus.Name(ack.status).removeprefix("ACK_STATUS_").lower()] += 1
        return acks

    playing = asyncio.ensure_future(play())
    acking = asyncio.ensure_future(acknowledge())
    stopping = asyncio.ensure_future(stop.wait())
    await asyncio.wait({playing, stopping}, return_when=asyncio.FIRST_COMPLETED)
    if not playing.done():
        # Stopped mid-round: what was acknowledged is durable; unacknowledged episodes are simply not kept
        # and the round is played again (same ids) next time.
        playing.cancel()
        acking.cancel()
        await asyncio.gather(playing, acking, return_exceptions=True)
        return None
    stopping.cancel()
    episodes = playing.result()
    acks = await acking
    if acks.get("rejected"):
        raise SelfPlayError(f"round {round_index}: the trainer refused {acks['rejected']} episodes as malformed")
    return RoundReport(round=round_index, episodes=episodes, acks=dict(acks), statuses=dict(statuses),
                       seconds=time.monotonic() - started, groups=group_signals(played))
