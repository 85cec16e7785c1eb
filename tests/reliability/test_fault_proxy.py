"""The game master playing through our fault proxy (tests/reliability/faultproxy.py) to its policy: latency,
connection resets and a blackhole, each cleared again, three times over.

Pass: no episode lost (every episode asked for comes back, COMPLETED or INFRA_FAILURE — never a failed call) and
none duplicated; every fault is followed by a COMPLETED episode within RECOVERY_BOUND_S of clearing it; the
proxy's and the game master's resident memory grow by less than 32 MiB over all the faults (flat: the proxy's
queues are bounded, the game master keeps nothing per failed turn).

Why 10 s: the game master's channel reconnects with gRPC's backoff (1 s, x1.6, +-20% jitter), so after a 3 s
fault its next attempt comes at most ~3.1 s after the clear; a turn caught in a blackhole waits out the game
master's policy deadline (2 s here); an episode then plays in well under a second. That is ~6 s at worst;
10 s leaves room for a loaded 2-core machine. Measured: ~2 s after resets, ~0.02 s after a blackhole.
"""

from __future__ import annotations

import pytest

from playpen_common import launcher
from tests.integration.conftest import TABOO_SCRIPT, write_script
from tests.reliability.faultproxy import FaultProxy
from tests.reliability.proxy_loop import run_fault_phases

pytestmark = pytest.mark.integration
RECOVERY_BOUND_S = 10.0
RSS_GROWTH_BOUND_MIB = 32.0


def test_faults_between_game_master_and_policy_lose_nothing_and_recover(tmp_path) -> None:
    """Pass: see the module docstring."""
    script = write_script(tmp_path / "taboo.json", TABOO_SCRIPT)
    policy = launcher.start("policy", ["playpen-policy", "--backend", "scripted", "--script", str(script)], tmp_path)
    proxy = FaultProxy(f"127.0.0.1:{policy.grpc_port}")
    gamemaster = launcher.start("gamemaster", ["playpen-gamemaster", "--policy-timeout-s", "2"], tmp_path)
    try:
        figures = run_fault_phases(gamemaster, proxy, fault_s=3.0, cycles=3)
    finally:
        gamemaster.stop()
        proxy.close()
        policy.stop()
    assert figures["lost"] == 0 and figures["duplicated"] == 0 and not figures["failed_calls"], figures
    assert figures["episodes"]["completed"] > 0 and figures["proxy"]["reset"] > 0, figures
    assert all(seconds < RECOVERY_BOUND_S for times in figures["recovery_s"].values() for seconds in times), figures
    assert all(growth < RSS_GROWTH_BOUND_MIB for growth in figures["rss_growth_mib"].values()), figures


def test_the_proxy_holds_a_blackholed_connection_and_resumes_it(tmp_path) -> None:
    """Pass: in blackhole mode a connect succeeds but not a byte comes back within 1 s (a partition, not a
    refusal); back in pass mode the same connection delivers what was sent meanwhile, and answers flow back."""
    import socket

    upstream = socket.create_server(("127.0.0.1", 0))
    proxy = FaultProxy(f"127.0.0.1:{upstream.getsockname()[1]}")
    try:
        proxy.set("blackhole")
        with socket.create_connection(("127.0.0.1", proxy.port), timeout=5) as client:
            client.sendall(b"hello")
            client.settimeout(1.0)
            with pytest.raises(TimeoutError):
                client.recv(10)
            proxy.set("pass")
            upstream.settimeout(10)
            server_side, _ = upstream.accept()
            with server_side:
                server_side.settimeout(10)
                assert server_side.recv(10) == b"hello"
                server_side.sendall(b"pong")
                client.settimeout(10)
                assert client.recv(10) == b"pong"
    finally:
        proxy.close()
        upstream.close()
