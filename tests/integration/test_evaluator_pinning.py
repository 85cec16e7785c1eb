"""The evaluator pins versions on a shared policy (--pin-versions) instead of loading weights into its own:
the version evaluated plays every turn, and the policy's current version, which rollouts use, never moves."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from playpen.common.v1 import chat_pb2, checkpoint_pb2
from playpen.evaluator.v1 import evaluator_pb2, evaluator_pb2_grpc
from playpen.policy.v1 import policy_pb2, policy_pb2_grpc
from playpen_common import launcher
from playpen_common.checkpoints import commit_manifest, version_dir
from tests.integration.helpers import checkpoint
from tests.integration.test_evaluator import SCRIPT

pytestmark = pytest.mark.integration


def adapter(root: Path, version: int) -> checkpoint_pb2.CheckpointRef:
    directory = version_dir(root, version)
    directory.mkdir(parents=True)
    (directory / "adapter_model.safetensors").write_bytes(f"adapter of version {version}".encode())
    (directory / "adapter_config.json").write_text(json.dumps({"r": 8}))
    return commit_manifest(directory, checkpoint_pb2.CheckpointRef(
        version=version, kind=checkpoint_pb2.CHECKPOINT_KIND_LORA, step=version))


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("pinning")


@pytest.fixture(scope="module")
def refs(workdir: Path) -> dict[int, checkpoint_pb2.CheckpointRef]:
    committed = {version: adapter(workdir / "checkpoints", version) for version in (1, 2, 5)}
    committed[6] = checkpoint(workdir / "checkpoints", 6)  # full weights
    return committed


@pytest.fixture(scope="module")
def root(refs, workdir: Path) -> Path:
    return workdir / "checkpoints"


@pytest.fixture(scope="module")
def shared_policy(workdir: Path, root: Path) -> Iterator[launcher.Service]:
    script = workdir / "script.json"
    script.write_text(json.dumps(SCRIPT))
    service = launcher.start("shared-policy", ["playpen-policy", "--backend", "scripted", "--script", str(script),
                                               "--checkpoint-roots", str(root), "--max-adapters", "2"], workdir)
    yield service
    assert service.stop() == 0


@pytest.fixture(scope="module")
def policy_stub(shared_policy) -> Iterator[policy_pb2_grpc.PolicyServiceStub]:
    with grpc.insecure_channel(shared_policy.target) as channel:
        yield policy_pb2_grpc.PolicyServiceStub(channel)


@pytest.fixture(scope="module")
def evaluator(workdir: Path, shared_policy: launcher.Service) -> Iterator[evaluator_pb2_grpc.EvaluatorServiceStub]:
    gm = launcher.start("gamemaster", ["playpen-gamemaster", "--policy-timeout-s", "3"], workdir)
    service = launcher.start("evaluator", [
        "playpen-evaluator", "--gamemaster-target", gm.target, "--eval-policy-target", shared_policy.target,
        "--pin-versions", "true", "--state-dir", str(workdir / "state"), "--seen-games", "taboo,referencegame",
        "--unseen-games", "", "--instances-per-game", "2"], workdir)
    with grpc.insecure_channel(service.target) as channel:
        yield evaluator_pb2_grpc.EvaluatorServiceStub(channel)
    assert service.stop() == 0
    assert gm.stop() == 0


def evaluate(stub, ref: checkpoint_pb2.CheckpointRef) -> evaluator_pb2.EvaluationResult:
    return stub.EvaluateCheckpoint(evaluator_pb2.EvaluateCheckpointRequest(checkpoint=ref), timeout=120).result


def test_pinned_evaluations_leave_the_shared_policy_serving_its_version(evaluator, policy_stub, refs) -> None:
    policy_stub.LoadWeights(policy_pb2.LoadWeightsRequest(checkpoint=refs[1]), timeout=30)  # the rollouts' version

    good, broken = evaluate(evaluator, refs[5]), evaluate(evaluator, refs[2])
    assert (good.version, broken.version) == (5, 2)
    # Version 2's script breaks every reply format: its score shows that version 2, not 1 or 5, played.
    assert good.overall.clemscore > 0 and broken.overall.clemscore == 0

    status = policy_stub.GetStatus(policy_pb2.GetStatusRequest(), timeout=10)
    assert status.policy_version == 1 and list(status.held_versions) == [0, 1, 2]  # 5 evicted, 1 is current
    unpinned = policy_stub.Generate(policy_pb2.GenerateRequest(
        messages=[chat_pb2.ChatMessage(role="user", content="hi")]), timeout=10)
    assert unpinned.policy_version == 1


def test_a_version_the_policy_cannot_pin_fails_the_evaluation(evaluator, refs, workdir) -> None:
    elsewhere = adapter(workdir / "not-a-root", 9)  # committed, but not under the policy's checkpoint roots
    for ref, reason in ((refs[6], "full-weights checkpoint"), (elsewhere, "not held by this policy")):
        with pytest.raises(grpc.RpcError) as refused:
            evaluate(evaluator, ref)
        assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert reason in refused.value.details()
