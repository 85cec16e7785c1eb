"""Property-based fuzzing of every RPC of the game master, the scripted policy and the evaluator (the trainer's
are in tests/reliability/trainer): requests built from each request message's descriptor (long and unicode
strings, integers at their bounds, nested and repeated fields, unknown enum numbers) and raw bytes that need not
parse.

Pass, per service: no answer is INTERNAL or UNKNOWN (a bad request is the caller's fault: INVALID_ARGUMENT,
FAILED_PRECONDITION, NOT_FOUND...; DEADLINE_EXCEEDED is our own short deadline), the process is alive and SERVING
afterwards, its resident memory grew by less than 256 MiB over the run and never passed 1 GiB (the chart's
memory limit). Examples are derandomized: every run sends the same requests.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from playpen.evaluator.v1 import evaluator_pb2
from playpen.gamemaster.v1 import gamemaster_pb2
from playpen.policy.v1 import policy_pb2
from playpen_common import launcher
from tests.integration.conftest import TABOO_SCRIPT, write_script
from tests.reliability import fuzzing
from tests.reliability.fuzzing import Tally
from tests.reliability.support import MIB

pytestmark = pytest.mark.integration
EXAMPLES, RAW_EXAMPLES = 40, 12
GROWTH_LIMIT, PEAK_LIMIT = 256 * MIB, 1024 * MIB


@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> Iterator[dict[str, launcher.Service]]:
    workdir: Path = tmp_path_factory.mktemp("fuzz")
    script = write_script(workdir / "script.json", TABOO_SCRIPT)
    started: dict[str, launcher.Service] = {}
    try:
        # No --checkpoint-roots: LoadWeights then reads any path it is given, as `make run` configures it.
        started["policy"] = launcher.start(
            "fuzz-policy", ["playpen-policy", "--backend", "scripted", "--script", str(script)], workdir)
        started["gamemaster"] = launcher.start("fuzz-gamemaster", ["playpen-gamemaster", "--policy-timeout-s", "2"],
                                               workdir)
        started["evaluator"] = launcher.start("fuzz-evaluator", [
            "playpen-evaluator", "--gamemaster-target", started["gamemaster"].target, "--eval-policy-target",
            started["policy"].target, "--state-dir", str(workdir / "state"), "--seen-games", "taboo",
            "--unseen-games", "", "--instances-per-game", "1", "--skills", "false"], workdir)
        yield started
    finally:
        for service in reversed(list(started.values())):
            service.stop()


def fuzz_service(service: launcher.Service, descriptor) -> Tally:
    return fuzzing.fuzz_service(service, descriptor, examples=EXAMPLES, raw_examples=RAW_EXAMPLES,
                                growth_limit=GROWTH_LIMIT, peak_limit=PEAK_LIMIT)


@pytest.mark.parametrize(("name", "descriptor"), [
    ("gamemaster", gamemaster_pb2.DESCRIPTOR.services_by_name["GameMasterService"]),
    ("policy", policy_pb2.DESCRIPTOR.services_by_name["PolicyService"]),
    ("evaluator", evaluator_pb2.DESCRIPTOR.services_by_name["EvaluatorService"]),
])
def test_no_request_gets_a_server_fault(stack, name, descriptor) -> None:
    """Pass: every RPC of the service, fuzzed, answers only client statuses; the server serves on within its
    memory bounds (see the module docstring)."""
    tally = fuzz_service(stack[name], descriptor)
    assert tally.rpcs == {f"{descriptor.name}.{method.name}" for method in descriptor.methods}
    assert not tally.faults, "\n".join(f"{f.rpc}: {f.code} for {f.request}" for f in tally.faults)
