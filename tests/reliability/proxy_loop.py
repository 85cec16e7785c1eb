"""The game master playing through a fault proxy to its policy, driven through fault phases; shared by the test
and `make bench-robustness`.

A client thread asks the game master for rounds of taboo episodes (one instance, group of two) one after the
other and records every episode it gets back. An episode whose turn could not reach the policy comes back with
status INFRA_FAILURE — played again by self-play, never silently dropped — so "lost" counts episodes asked for
and never returned, and recovery is the time from clearing a fault to the next COMPLETED episode.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import grpc

from playpen.common.v1 import episode_pb2
from playpen.gamemaster.v1 import gamemaster_pb2 as gm
from playpen.gamemaster.v1 import gamemaster_pb2_grpc
from playpen_common import launcher
from tests.reliability.faultproxy import FaultProxy
from tests.reliability.support import MIB, rss_bytes

GROUP = 2


@dataclass
class Player:
    """Plays rounds through `gamemaster` against the policy behind `proxy` until stopped."""

    gamemaster: launcher.Service
    proxy: FaultProxy
    requested: int = 0
    received: list[tuple[float, str, int]] = field(default_factory=list)  # (time, episode_id, status)
    failed_calls: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._play, daemon=True)
        self._thread.start()

    def _play(self) -> None:
        with grpc.insecure_channel(self.gamemaster.target) as channel:
            stub = gamemaster_pb2_grpc.GameMasterServiceStub(channel)
            seed = 0
            while not self._stop.is_set():
                seed += 1
                request = gm.PlayEpisodesRequest(
                    games=["taboo"], split="validation", instances_per_game=1, group_size=GROUP, seed=seed,
                    run_id=f"proxy{seed}", default_player=gm.PlayerConfig(policy=gm.PolicyEndpoint(
                        target=self.proxy.target)))
                self.requested += GROUP
                try:
                    for response in stub.PlayEpisodes(request, timeout=120):
                        self.received.append((time.monotonic(), response.episode.episode_id,
                                              response.episode.status))
                except grpc.RpcError as error:
                    self.failed_calls.append(f"{error.code().name}: {error.details()}")

    def completed_after(self, moment: float) -> float | None:
        return next((when for when, _, status in list(self.received)
                     if when > moment and status == episode_pb2.EPISODE_STATUS_COMPLETED), None)

    def wait_completed_after(self, moment: float, timeout: float = 120.0) -> float:
        deadline = time.monotonic() + timeout
        while (when := self.completed_after(moment)) is None:
            if time.monotonic() > deadline:
                raise AssertionError(f"no completed episode within {timeout} s of {moment}")
            time.sleep(0.02)
        return when

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(180)

    @property
    def lost(self) -> int:
        return self.requested - len(self.received)

    @property
    def duplicated(self) -> int:
        ids = [episode_id for _, episode_id, _ in self.received]
        return len(ids) - len(set(ids))


def run_fault_phases(gamemaster: launcher.Service, proxy: FaultProxy, *, fault_s: float = 3.0,
                     cycles: int = 3, latency_s: float = 0.3) -> dict:
    """Latency, then `cycles` rounds of (reset for fault_s, pass, blackhole for fault_s, pass); returns the
    recovery time of each cleared fault, episodes lost and duplicated, and resident memory before and after."""
    player = Player(gamemaster, proxy)
    try:
        player.wait_completed_after(time.monotonic() - 3600)
        rss_before = {"proxy": rss_bytes(proxy.pid), "gamemaster": rss_bytes(gamemaster.process.pid)}
        proxy.set("latency", latency_s)
        player.wait_completed_after(time.monotonic())
        proxy.set("pass")
        recovery: dict[str, list[float]] = {"reset": [], "blackhole": []}
        for _ in range(cycles):
            for mode in ("reset", "blackhole"):
                proxy.set(mode)
                time.sleep(fault_s)  # the fault lasts this long: nothing to wait for
                cleared = time.monotonic()
                proxy.set("pass")
                recovery[mode].append(player.wait_completed_after(cleared) - cleared)
        stats = proxy.set("pass")
    finally:
        player.stop()
    rss_after = {"proxy": rss_bytes(proxy.pid), "gamemaster": rss_bytes(gamemaster.process.pid)}
    statuses: dict[str, int] = {}
    for _, _, status in player.received:
        name = episode_pb2.EpisodeStatus.Name(status).removeprefix("EPISODE_STATUS_").lower()
        statuses[name] = statuses.get(name, 0) + 1
    return {"recovery_s": recovery, "lost": player.lost, "duplicated": player.duplicated,
            "failed_calls": player.failed_calls, "episodes": statuses, "proxy": stats,
            "rss_growth_mib": {name: round((rss_after[name] - rss_before[name]) / MIB, 1) for name in rss_before},
            "rss_after_mib": {name: round(value / MIB, 1) for name, value in rss_after.items()}}
