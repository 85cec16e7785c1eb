"""Every client call has a deadline, and every service builds its channels with the project's client defaults.

A call on a gRPC stub without `timeout=` waits forever on a peer that accepted the connection and never answers
(a blackholed network, a wedged process): the caller hangs with it. The scan reads the source of services/,
libs/ and scripts/ and finds every call of an RPC method name of our contract (and grpc.health's), as
`anything.Method(...)`.
"""

from __future__ import annotations

import ast
from pathlib import Path

from playpen.evaluator.v1 import evaluator_pb2
from playpen.gamemaster.v1 import gamemaster_pb2
from playpen.policy.v1 import policy_pb2
from playpen.trainer.v1 import trainer_pb2

REPO = Path(__file__).resolve().parents[2]
SCANNED = ("services", "libs", "scripts")
RPC_NAMES = frozenset({method.name for module in (evaluator_pb2, gamemaster_pb2, policy_pb2, trainer_pb2)
                       for service in module.DESCRIPTOR.services_by_name.values() for method in service.methods}
                      | {"Check", "Watch"})
CHANNEL_FACTORIES = frozenset({"insecure_channel", "secure_channel"})
#: the one module that builds the services' channels (service config with retries, limits, keepalive)
CLIENT_MODULE = Path("libs/common/src/playpen_common/client.py")


def _sources() -> list[Path]:
    return sorted(path for root in SCANNED for path in (REPO / root).rglob("*.py")
                  if not path.name.endswith(("_pb2.py", "_pb2_grpc.py")))


def calls_without_deadline(source: str) -> list[tuple[int, str]]:
    """(line, call) of every RPC-named method call in `source` that passes neither timeout= nor **kwargs."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in RPC_NAMES:
            receiver = node.func.value
            if isinstance(receiver, ast.Call) and isinstance(receiver.func, ast.Name) and receiver.func.id == "super":
                continue  # a servicer handing on to its base class, not a client call
            keywords = {keyword.arg for keyword in node.keywords}
            if "timeout" not in keywords and None not in keywords:
                found.append((node.lineno, ast.unparse(node)[:100]))
    return found


def test_the_scan_finds_a_stub_call_without_a_deadline() -> None:
    """Pass: the scan flags a Generate and a streaming WatchCheckpoints without timeout=, and not the same calls
    with one (so the real test below cannot pass by finding nothing)."""
    source = ("stub.Generate(request)\nawait stub.Generate(request, timeout=5)\n"
              "for x in trainer.WatchCheckpoints(request): pass\n"
              "trainer.WatchCheckpoints(request, timeout=s)\nstub.GetStatus(request, **options)\n"
              "super().Watch(request, context)\n")
    assert calls_without_deadline(source) == [(1, "stub.Generate(request)"),
                                              (3, "trainer.WatchCheckpoints(request)")]
    assert {"Generate", "LoadWeights", "SubmitEpisodes", "PlayEpisodes", "WatchPromotions", "Rollback"} <= RPC_NAMES


def test_every_rpc_call_in_the_code_has_a_deadline() -> None:
    """Pass: no call of an RPC method in services/, libs/ or scripts/ lacks timeout=."""
    missing = {f"{path.relative_to(REPO)}:{line}": call for path in _sources()
               for line, call in calls_without_deadline(path.read_text())}
    assert not missing, missing
    assert len(_sources()) > 50


def test_services_build_their_channels_with_the_client_defaults() -> None:
    """Pass: no module of services/ or libs/ except playpen_common.client (and the launcher's health wait) opens
    a channel with grpc.*_channel directly — so every service channel carries the retry policy and limits."""
    direct = []
    for path in _sources():
        relative = path.relative_to(REPO)
        if relative.parts[0] == "scripts" or relative == CLIENT_MODULE:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                    and node.func.attr in CHANNEL_FACTORIES:
                direct.append(str(relative))
    # The launcher's health wait (local processes it started) is the one other place.
    assert set(direct) == {"libs/common/src/playpen_common/launcher.py"}, direct
