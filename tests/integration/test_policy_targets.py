"""The game master dials only the policies its settings allow, says nothing about the network when a policy
cannot be reached, and keeps a bounded number of policy channels, closing idle ones."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from playpen.common.v1 import episode_pb2
from playpen.gamemaster.v1 import gamemaster_pb2 as gm
from playpen.gamemaster.v1 import gamemaster_pb2_grpc
from playpen_common import launcher
from tests.integration.conftest import TABOO_SCRIPT, write_script
from tests.integration.helpers import scrape

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def policy(workdir: Path) -> Iterator[launcher.Service]:
    script = write_script(workdir / "targets_taboo.json", TABOO_SCRIPT)
    service = launcher.start("policy-targets", ["playpen-policy", "--backend", "scripted", "--script", str(script)],
                             workdir)
    yield service
    service.stop()


@pytest.fixture(scope="module")
def gamemaster(workdir: Path) -> Iterator[launcher.Service]:
    # Loopback by name only (not 127.0.0.1), at most 3 channels, idle ones closed after 1 s.
    service = launcher.start("gamemaster-targets", ["playpen-gamemaster", "--policy-timeout-s", "10",
                                                    "--allowed-policies", '["localhost:*"]',
                                                    "--max-policy-channels", "3", "--policy-channel-idle-s", "1"],
                             workdir)
    yield service
    service.stop()


def play(gamemaster: launcher.Service, targets: list[str]) -> list[episode_pb2.Episode]:
    """One taboo episode whose two roles are played by `targets` (one target: both roles)."""
    roles = []
    if len(targets) > 1:
        guesser = gm.PlayerConfig(policy=gm.PolicyEndpoint(target=targets[1]))
        roles = [gm.RoleAssignment(game="taboo", role="Guesser", player=guesser)]
    request = gm.PlayEpisodesRequest(games=["taboo"], split="test", instances_per_game=1, group_size=1,
                                     default_player=gm.PlayerConfig(policy=gm.PolicyEndpoint(target=targets[0])),
                                     roles=roles)
    with grpc.insecure_channel(gamemaster.target) as channel:
        stub = gamemaster_pb2_grpc.GameMasterServiceStub(channel)
        return [r.episode for r in stub.PlayEpisodes(request, timeout=60)]


def test_a_target_outside_the_allow_list_is_refused_without_a_connection(gamemaster) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        listener.settimeout(1.0)
        port = listener.getsockname()[1]
        accepted: list[object] = []

        def accept() -> None:
            try:
                accepted.append(listener.accept())
            except OSError:
                pass

        watcher = threading.Thread(target=accept)
        watcher.start()
        for target in (f"127.0.0.1:{port}", f"dns:///127.0.0.1:{port}", f"localhost:{port},127.0.0.1:{port}",
                       f"ipv4:127.0.0.1:{port}"):
            with pytest.raises(grpc.RpcError) as raised:
                play(gamemaster, [target])
            assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT, target
            assert "not allowed" in raised.value.details() and "127.0.0.1" in raised.value.details()
        watcher.join()
        assert accepted == []  # nothing ever connected to the refused address


def test_refusals_quote_only_a_short_prefix_of_a_huge_target(gamemaster) -> None:
    huge = "x" * 100_000 + ".example:1"
    with pytest.raises(grpc.RpcError) as raised:
        play(gamemaster, [huge])
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert len(raised.value.details()) < 200


def test_an_unreachable_policy_fails_the_episode_without_network_details(gamemaster) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]  # bound, never listening: connections are refused
        (episode,) = play(gamemaster, [f"localhost:{port}"])
    assert episode.status == episode_pb2.EPISODE_STATUS_INFRA_FAILURE
    assert "no replica could be reached" in episode.error
    for detail in ("127.0.0.1", "refused", "ipv4", "ipv6", "::1", str(port)):
        assert detail not in episode.error.replace(f"localhost:{port}", "<target>"), detail


def test_policy_channels_are_bounded_and_idle_ones_closed(gamemaster, policy) -> None:
    port = policy.grpc_port
    # Six spellings of the same replica are six targets, hence six channels were they not bounded.
    spellings = [",".join([f"localhost:{port}"] * copies) for copies in range(1, 7)]
    for target in spellings:
        (episode,) = play(gamemaster, [target])
        assert episode.status == episode_pb2.EPISODE_STATUS_COMPLETED
        assert scrape(gamemaster)["playpen_gamemaster_policy_channels"] <= 3
    # Two targets of one call at once (unit tests: more than the bound at once are refused, not queued).
    assert all(e.status == episode_pb2.EPISODE_STATUS_COMPLETED for e in play(gamemaster, spellings[:2]))
    time.sleep(1.5)  # every channel is idle now
    (episode,) = play(gamemaster, spellings[:1])
    assert scrape(gamemaster)["playpen_gamemaster_policy_channels"] == 1  # the idle ones were closed
