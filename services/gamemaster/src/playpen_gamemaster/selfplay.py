"""`playpen-selfplay`: the actor of online training. It asks the game master for rounds of GRPO groups played by
the learner policy (self-play, or teacher-play with a builtin partner), and streams every episode to the
trainer, which acknowledges each once it is durable.

Two schedules:

- **async** (default): the next round starts as soon as the last one is submitted; the trainer trains on
  what has arrived meanwhile. Staleness is bounded twice: the driver waits while more than `--max-pending`
  episodes are stored but untrained, and the trainer drops episodes more than its `--max-staleness` versions
  old (and counts them).
- **sync**: one round is exactly one optimiser step's groups; the driver waits until the trainer has trained
  on them, committed the next version, and the policy serves it — every episode is on-policy, and the game
  master and the trainer take turns (what `make bench-loop` compares against).

Every acknowledged episode is durable in the trainer. The next round's number is saved after a round is
acknowledged, so a restart replays at most the round in progress: its episodes keep their ids (run id, round
and seed fix them), already-stored ones come back DUPLICATE and are not stored twice.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import grpc

from playpen.common.v1 import chat_pb2, episode_pb2
from playpen.gamemaster.v1 import gamemaster_pb2, gamemaster_pb2_grpc
from playpen.policy.v1 import policy_pb2, policy_pb2_grpc
from playpen.trainer.v1 import trainer_pb2, trainer_pb2_grpc
from playpen_common.client import aio_channel

MAX_MESSAGE_BYTES = 64 << 20


@dataclass
class SelfPlayConfig:
    gamemaster: str
    trainer: str
    policy: str
    policy_name: str = "learner"
    games: list[str] = field(default_factory=list)
    games_per_round: int = 0  # rotate through `games`, this many per round (0: all of them every round)
    split: str = "train"
    instances_per_game: int = 1  # instances (groups) of each game per round
    group_size: int = 4
    temperature: float = 1.0
    top_p: float = 1.0
    max_tokens: int = 96
    #: (game, role) -> builtin player name (teacher-play); game "" = that role in every game
    teachers: dict[tuple[str, str], str] = field(default_factory=dict)
    mode: str = "async"
    max_pending: int = 64  # async: stored-but-untrained episodes before the next round waits
    steps: int = 0  # stop once the trainer has made this many steps (0: no limit)
    seconds: float = 0.0  # stop starting rounds after this long (0: no limit)
    rounds: int = 0  # stop after this many rounds of this call (0: no limit)
    run_id: str = "selfplay"
    seed: int = 0
    concurrency: int = 0
    state_path: Path | None = None
    sync_timeout_s: float = 1800.0
    #: how long the trainer, game master or policy may be unreachable or slow before self-play gives up
    patience_s: float = 900.0


@dataclass
class RoundReport:
    round: int
    episodes: int
    acks: dict[str, int]
    statuses: dict[str, int]
    seconds: float
    trainer_step: int
    trainer_version: int


@dataclass
class Summary:
    rounds: int = 0
    episodes: int = 0
    acks: Counter = field(default_factory=Counter)
    seconds: float = 0.0
    trainer_step: int = 0
    trainer_version: int = 0
    stopped_by: str = ""


class SelfPlayError(RuntimeError):
    pass


class _Stopped(Exception):
    """A stop was requested while waiting."""


TRANSIENT = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.RESOURCE_EXHAUSTED)


def _load_round(path: Path | None) -> int:
    if path is None or not path.is_file():
        return 0
    return int(json.loads(path.read_text())["next_round"])


def _save_round(path: Path | None, next_round: int) -> None:
    if path is None:
        return
    temporary = path.with_suffix(".tmp")
    with open(temporary, "w", encoding="utf-8") as handle:
        json.dump({"next_round": next_round}, handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


class SelfPlay:
    def __init__(self, config: SelfPlayConfig, *, on_round: Callable[[RoundReport], None] | None = None):
        if config.mode not in ("async", "sync"):
            raise ValueError(f"mode must be async or sync, not {config.mode!r}")
        if config.games_per_round and not config.games:
            raise ValueError("--games-per-round rotates through --games: name the games")
        if config.group_size < 2:
            raise ValueError("a GRPO group needs at least 2 episodes (--group-size)")
        self.config = config
        self._on_round = on_round
        self._stop = asyncio.Event()
        self._channels: list[grpc.aio.Channel] = []

    def stop(self) -> None:
        self._stop.set()

    def _channel(self, target: str) -> grpc.aio.Channel:
        channel = aio_channel(target, max_message_bytes=MAX_MESSAGE_BYTES)
        self._channels.append(channel)
        return channel

    def _request(self, round_index: int) -> gamemaster_pb2.PlayEpisodesRequest:
        config = self.config
        sampling = chat_pb2.SamplingParams(temperature=config.temperature, top_p=config.top_p,
                                           max_tokens=config.max_tokens)
        games = list(config.games)
        if config.games_per_round and games:
            # Small rounds (one optimiser step's groups) keep episodes fresh; rotating covers every game.
            start = round_index * config.games_per_round
            games = [games[(start + k) % len(games)] for k in range(min(config.games_per_round, len(games)))]
        request = gamemaster_pb2.PlayEpisodesRequest(
            games=games, split=config.split, instances_per_game=config.instances_per_game,
            group_size=config.group_size, seed=config.seed * 1_000_003 + round_index,
            run_id=f"{config.run_id}-r{round_index:06d}", concurrency=config.concurrency,
            default_player=gamemaster_pb2.PlayerConfig(
                policy=gamemaster_pb2.PolicyEndpoint(target=config.policy, name=config.policy_name),
                sampling=sampling))
        for (game, role), builtin in sorted(config.teachers.items()):
            request.roles.add(game=game, role=role, player=gamemaster_pb2.PlayerConfig(builtin=builtin))
        return request

    async def run(self) -> Summary:
        config = self.config
        gamemaster = gamemaster_pb2_grpc.GameMasterServiceStub(self._channel(config.gamemaster))
        trainer = trainer_pb2_grpc.TrainerServiceStub(self._channel(config.trainer))
        policy = policy_pb2_grpc.PolicyServiceStub(self._channel(config.policy))
        summary = Summary()
        started = time.monotonic()
        round_index = _load_round(config.state_path)
        try:
            await self._loop(summary, started, round_index, gamemaster, trainer, policy)
        except _Stopped:
            pass
        finally:
            for channel in self._channels:
                await channel.close()
            self._channels.clear()
        if self._stop.is_set() and not summary.stopped_by:
            summary.stopped_by = "stop requested"
        summary.seconds = time.monotonic() - started
        return summary

    async def _loop(self, summary: Summary, started: float, round_index: int, gamemaster, trainer, policy) -> None:
        config = self.config
        failures = 0
        while not self._stop.is_set():
            status = await self._status(trainer)
            summary.trainer_step, summary.trainer_version = status.step, status.latest_version
            reason = self._done(summary, status, started)
            if reason:
                summary.stopped_by = reason
                break
            if config.mode == "async" and not await self._wait_for_room(trainer, summary, started):
                break
            if config.mode == "sync" and not await self._wait_for_policy(policy, status.latest_version):
                break
            try:
                report = await self._play_round(round_index, gamemaster, trainer)
            except grpc.aio.AioRpcError as error:
                # The round is played again with the same episode ids: what the trainer acknowledged
                # already comes back DUPLICATE and is stored once.
                if error.code() not in TRANSIENT:
                    raise
                failures += 1
                if failures * 30 > config.patience_s:
                    raise
                print(json.dumps({"event": "round failed, playing it again", "round": round_index,
                                  "code": error.code().name, "details": error.details()}), flush=True)
                if not await self._sleep(min(30.0, 2.0 * failures)):
                    break
                continue
            failures = 0
            if report is None:  # stopped in the middle of the round
                break
            round_index += 1
            _save_round(config.state_path, round_index)
            if config.mode == "sync" and not await self._wait_for_update(trainer, policy, status):
                break
            status = await self._status(trainer)
            report.trainer_step, report.trainer_version = status.step, status.latest_version
            summary.rounds += 1
            summary.episodes += report.episodes
            summary.acks.update(report.acks)
            if self._on_round is not None:
                self._on_round(report)

    async def _status(self, trainer) -> trainer_pb2.GetStatusResponse:
        """The trainer's status, waiting out a busy or restarting trainer (up to `patience_s`)."""
        return await self._patiently(lambda: trainer.GetStatus(trainer_pb2.GetStatusRequest(), timeout=30),
                                     "trainer status")

    async def _patiently(self, call, what: str):
        deadline = time.monotonic() + self.config.patience_s
        delay = 1.0
        while True:
            try:
                return await call()
            except grpc.aio.AioRpcError as error:
                if error.code() not in TRANSIENT or time.monotonic() + delay > deadline:
                    raise
                print(json.dumps({"event": "retrying", "what": what, "code": error.code().name,
                                  "in_s": delay}), flush=True)
            if not await self._sleep(delay):
                raise _Stopped
            delay = min(delay * 2, 30.0)

    def _done(self, summary: Summary, status: trainer_pb2.GetStatusResponse, started: float) -> str:
        config = self.config
        if config.steps and status.step >= config.steps:
            return f"trainer reached step {status.step}"
        if config.seconds and time.monotonic() - started >= config.seconds:
            return f"time budget of {config.seconds:.0f} s spent"
        if config.rounds and summary.rounds >= config.rounds:
            return f"{summary.rounds} rounds played"
        return ""

    async def _sleep(self, seconds: float) -> bool:
        """Sleep unless stopped; False when stopped."""
        try:
            await asyncio.wait_for(self._stop.wait(), seconds)
        except TimeoutError:
            return True
        return False

    async def _wait_for_room(self, trainer: trainer_pb2_grpc.TrainerServiceStub, summary: Summary,
                             started: float) -> bool:
        """async: wait while too many episodes are untrained; False when stopped or out of budget meanwhile."""
        while True:
            status = await self._status(trainer)
            if status.episodes_buffered < self.config.max_pending:
                return True
            reason = self._done(summary, status, started)
            if reason:
                summary.stopped_by = reason
                return False
            if not await self._sleep(0.5):
                return False

    async def _wait_for_policy(self, policy, version: int) -> bool:
        """sync: the policy serves `version` (or newer) before a round starts."""
        deadline = time.monotonic() + self.config.sync_timeout_s
        while time.monotonic() < deadline:
            served = await self._patiently(lambda: policy.GetStatus(policy_pb2.GetStatusRequest(), timeout=30),
                                           "policy status")
            if served.policy_version >= version:
                return True
            if not await self._sleep(0.2):
                return False
        raise SelfPlayError(f"sync: the policy did not serve version {version} within "
                            f"{self.config.sync_timeout_s:.0f} s")

    async def _wait_for_update(self, trainer, policy, before: trainer_pb2.GetStatusResponse) -> bool:
        """sync: the round is trained on, a newer version is committed, and the policy serves it."""
        deadline = time.monotonic() + self.config.sync_timeout_s
        while time.monotonic() < deadline:
            status = await self._status(trainer)
            if status.episodes_buffered == 0 and status.latest_version > before.latest_version:
                return await self._wait_for_policy(policy, status.latest_version)
            if not await self._sleep(0.2):
                return False
        raise SelfPlayError(f"sync: the trainer did not train the round and the policy did not serve a new version "
                            f"within {self.config.sync_timeout_s:.0f} s (is the round smaller than one step's "
                            f"groups?)")

    async def _play_round(self, round_index: int, gamemaster, trainer) -> RoundReport | None:
        """Play one round and stream its episodes to the trainer as they finish; None if stopped meanwhile."""
        started = time.monotonic()
        queue: asyncio.Queue[episode_pb2.Episode | None] = asyncio.Queue()
        statuses: Counter = Counter()

        async def requests():
            while (episode := await queue.get()) is not None:
                yield trainer_pb2.SubmitEpisodesRequest(episode=episode)

        async def play() -> int:
            count = 0
            try:
                async for response in gamemaster.PlayEpisodes(self._request(round_index)):
                    statuses[episode_pb2.EpisodeStatus.Name(response.episode.status)] += 1
                    await queue.put(response.episode)
                    count += 1
            finally:
                await queue.put(None)
            return count

        async def acknowledge() -> Counter:
            acks: Counter = Counter()
            async for ack in trainer.SubmitEpisodes(requests()):
                acks[trainer_pb2.AckStatus.Name(ack.status).removeprefix("ACK_STATUS_").lower()] += 1
            return acks

        playing = asyncio.ensure_future(play())
        acking = asyncio.ensure_future(acknowledge())
        stopping = asyncio.ensure_future(self._stop.wait())
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
                           seconds=time.monotonic() - started, trainer_step=0, trainer_version=0)


# --------------------------------------------------------------------------------------------- command line


def _teacher(text: str) -> tuple[tuple[str, str], str]:
    """GAME:ROLE=PLAYER, or ROLE=PLAYER for that role in every game."""
    target, separator, player = text.partition("=")
    if not separator or not player:
        raise argparse.ArgumentTypeError(f"{text!r}: expected GAME:ROLE=PLAYER, e.g. wordle_withcritic:Critic=expert")
    game, _, role = target.rpartition(":")
    if not role:
        raise argparse.ArgumentTypeError(f"{text!r}: the role is empty")
    return (game, role), player


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="playpen-selfplay", description=__doc__.splitlines()[0])
    add = parser.add_argument
    add("--gamemaster", required=True, help="host:port of the GameMasterService")
    add("--trainer", required=True, help="host:port of the TrainerService")
    add("--policy", required=True, help="host:port of the learner's PolicyService (its rollout replicas)")
    add("--policy-name", default="learner", help="label of the learner in episodes (the trainer's --learner)")
    add("--games", nargs="*", default=[], help="games to play (default: every training game)")
    add("--games-per-round", type=int, default=0,
        help="rotate through --games, this many per round (0: every game every round); needs --games")
    add("--split", default="train")
    add("--instances-per-game", type=int, default=1, help="groups of each game per round")
    add("--group-size", type=int, default=4, help="plays of each instance (the trainer's --group-size)")
    add("--temperature", type=float, default=1.0)
    add("--top-p", type=float, default=1.0)
    add("--max-tokens", type=int, default=96)
    add("--teacher", type=_teacher, action="append", default=[], metavar="GAME:ROLE=PLAYER",
        help="teacher-play: a builtin player (e.g. expert) holds this role; repeatable")
    add("--mode", choices=("async", "sync"), default="async")
    add("--max-pending", type=int, default=64, help="async: untrained episodes in the trainer before waiting")
    add("--steps", type=int, default=0, help="stop once the trainer has made this many steps (0: no limit)")
    add("--seconds", type=float, default=0.0, help="stop after this long (0: no limit)")
    add("--rounds", type=int, default=0, help="stop after this many rounds (0: no limit)")
    add("--run-id", default="selfplay", help="prefix of episode ids (with --seed, fixes them)")
    add("--seed", type=int, default=0)
    add("--concurrency", type=int, default=0, help="episodes in flight (0: the game master's limit)")
    add("--state", type=Path, help="file keeping the next round's number, for restarts")
    add("--patience-s", type=float, default=900.0,
        help="how long the trainer, game master or policy may be unreachable before giving up (seconds)")
    return parser.parse_args(argv)


def config_from(options: argparse.Namespace) -> SelfPlayConfig:
    return SelfPlayConfig(
        gamemaster=options.gamemaster, trainer=options.trainer, policy=options.policy,
        policy_name=options.policy_name, games=list(options.games), games_per_round=options.games_per_round,
        split=options.split,
        instances_per_game=options.instances_per_game, group_size=options.group_size,
        temperature=options.temperature, top_p=options.top_p, max_tokens=options.max_tokens,
        teachers=dict(options.teacher), mode=options.mode, max_pending=options.max_pending, steps=options.steps,
        seconds=options.seconds, rounds=options.rounds, run_id=options.run_id, seed=options.seed,
        concurrency=options.concurrency, state_path=options.state, patience_s=options.patience_s)


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)

    def report(round_report: RoundReport) -> None:
        print(json.dumps({"event": "round", **round_report.__dict__}), flush=True)

    async def go() -> Summary:
        selfplay = SelfPlay(config_from(options), on_round=report)
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, selfplay.stop)
        return await selfplay.run()

    try:
        summary = asyncio.run(go())
    except (SelfPlayError, ValueError) as error:
        print(f"playpen-selfplay: {error}", file=sys.stderr)
        return 1
    except grpc.aio.AioRpcError as error:
        print(f"playpen-selfplay: {error.code().name}: {error.details()}", file=sys.stderr)
        return 1
    print(json.dumps({"event": "stopped", "rounds": summary.rounds, "episodes": summary.episodes,
                      "acks": dict(summary.acks), "seconds": round(summary.seconds, 1),
                      "trainer_step": summary.trainer_step, "stopped_by": summary.stopped_by}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
