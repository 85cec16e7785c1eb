"""Policies that misbehave end episodes as infrastructure failures, and the game master stays up."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from playpen.common.v1 import episode_pb2
from playpen.gamemaster.v1 import gamemaster_pb2 as gm
from playpen.gamemaster.v1 import gamemaster_pb2_grpc
from playpen_common import launcher as servers
from tests.integration.conftest import write_script

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def strict_gamemaster(workdir: Path) -> Iterator[gamemaster_pb2_grpc.GameMasterServiceStub]:
    service = servers.start("gamemaster-strict", ["playpen-gamemaster", "--policy-timeout-s", "1",
                                                  "--max-reply-chars", "100"], workdir)
    with grpc.insecure_channel(service.target) as channel:
        yield gamemaster_pb2_grpc.GameMasterServiceStub(channel)
    service.stop()


@pytest.fixture(scope="module")
def odd_policy(workdir: Path) -> Iterator[servers.Service]:
    script = write_script(workdir / "odd.json", {"rules": [
        {"when": "You are the describer", "reply": "CLUE: " + "very " * 50 + "long"},
        {"when": "CLUE:", "reply": "GUESS: late", "delay_s": 3},
    ]})
    service = servers.start("odd-policy", ["playpen-policy", "--backend", "scripted", "--script", str(script)], workdir)
    yield service
    service.stop()


def _play(stub, target: str, role_targets: dict[str, str] | None = None) -> list[episode_pb2.Episode]:
    request = gm.PlayEpisodesRequest(games=["taboo"], split="test", instances_per_game=1,
                                     default_player=gm.PlayerConfig(policy=gm.PolicyEndpoint(target=target)))
    for role, role_target in (role_targets or {}).items():
        request.roles.add(role=role, player=gm.PlayerConfig(policy=gm.PolicyEndpoint(target=role_target)))
    return [r.episode for r in stub.PlayEpisodes(request, timeout=60)]


def test_oversize_reply_is_an_infrastructure_failure(strict_gamemaster, odd_policy) -> None:
    (episode,) = _play(strict_gamemaster, odd_policy.target)
    assert episode.status == episode_pb2.EPISODE_STATUS_INFRA_FAILURE
    assert "more than the limit of 100" in episode.error


def test_slow_policy_hits_the_deadline(strict_gamemaster, odd_policy, policy) -> None:
    # A well-behaved describer, a guesser that answers after 3 s against a 1 s deadline.
    (episode,) = _play(strict_gamemaster, policy.target, {"Guesser": odd_policy.target})
    assert episode.status == episode_pb2.EPISODE_STATUS_INFRA_FAILURE
    assert "DEADLINE_EXCEEDED" in episode.error
    assert [t.role for t in episode.turns] == ["Describer"]  # the describer's turn is kept


async def _not_utf8(request: bytes, context) -> bytes:
    return b"\x0a\x04\xff\xfe\xfd\xfc"  # field 1 (text), 4 bytes of invalid UTF-8


async def _context_full(request: bytes, context) -> bytes:
    await context.abort(grpc.StatusCode.OUT_OF_RANGE, "the prompt has 8200 tokens; the context holds 8192")


class _BrokenPolicy:
    """A PolicyService whose Generate answers with `generate` (raw bytes in, raw bytes out)."""

    def __init__(self, generate) -> None:
        self._generate = generate
        self.port = 0
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=lambda: asyncio.run(self._serve()), daemon=True)

    async def _serve(self) -> None:
        handler = grpc.method_handlers_generic_handler("playpen.policy.v1.PolicyService", {
            "Generate": grpc.unary_unary_rpc_method_handler(self._generate),
        })
        server = grpc.aio.server()
        server.add_generic_rpc_handlers((handler,))
        self.port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        self._stop = asyncio.Event()
        self._ready.set()
        await self._stop.wait()
        await server.stop(0)

    def __enter__(self) -> _BrokenPolicy:
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc) -> None:
        loop_stop = self._stop
        if loop_stop is not None:
            # The event belongs to the server's loop; setting it from here is a benign race for shutdown.
            loop_stop.set()
        self._thread.join(5)


def test_non_utf8_reply_is_an_infrastructure_failure(strict_gamemaster) -> None:
    with _BrokenPolicy(_not_utf8) as broken:
        (episode,) = _play(strict_gamemaster, f"127.0.0.1:{broken.port}")
    assert episode.status == episode_pb2.EPISODE_STATUS_INFRA_FAILURE
    assert "INTERNAL" in episode.error
    assert strict_gamemaster.ListGames(gm.ListGamesRequest(), timeout=30).games


def test_a_prompt_beyond_the_context_window_ends_the_episode_as_context_exceeded(strict_gamemaster) -> None:
    with _BrokenPolicy(_context_full) as full:
        (episode,) = _play(strict_gamemaster, f"127.0.0.1:{full.port}")
    assert episode.status == episode_pb2.EPISODE_STATUS_CONTEXT_EXCEEDED
    assert "8192" in episode.error and not episode.HasField("scores")
    assert episode.outcome == episode_pb2.GAME_OUTCOME_UNFINISHED
