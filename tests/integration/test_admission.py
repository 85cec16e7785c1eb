"""Every service admits only decodable, bounded requests, and loads checkpoints only from its configured roots.

Raw bytes go through a channel with identity serializers, as a hostile client would send them: a string field that
is not UTF-8 is INVALID_ARGUMENT with a short message on the game master, the policy, the evaluator and grpc's own
health service (not UNKNOWN with a traceback). Oversized fields of the policy's and the evaluator's requests are
refused briefly, and a LoadWeights or EvaluateCheckpoint naming a path outside the roots (directly, with `..`, or
through a symlink inside a root) is refused before any file is read.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from google.protobuf.message import Message

from playpen.common.v1 import chat_pb2, checkpoint_pb2
from playpen.evaluator.v1 import evaluator_pb2, evaluator_pb2_grpc
from playpen.gamemaster.v1 import gamemaster_pb2
from playpen.policy.v1 import policy_pb2, policy_pb2_grpc
from playpen_common import launcher
from playpen_common.checkpoints import read_manifest
from tests.integration.helpers import checkpoint

pytestmark = pytest.mark.integration

NOT_UTF8 = b"\xff\xfe\xc3("


def with_bad_string(message: type[Message], field: str) -> bytes:
    """A serialized `message` whose string `field` holds bytes that are not UTF-8 (the wire format by hand)."""
    number = message.DESCRIPTOR.fields_by_name[field].number
    return bytes([(number << 3) | 2, len(NOT_UTF8)]) + NOT_UTF8


def raw_call(target: str, method: str, payload: bytes, *, streamed_reply: bool = False) -> grpc.RpcError:
    identity = lambda data: data  # noqa: E731 - bytes in, bytes out
    with grpc.insecure_channel(target) as channel:
        call = (channel.unary_stream if streamed_reply else channel.unary_unary)(
            method, request_serializer=identity, response_deserializer=identity)
        with pytest.raises(grpc.RpcError) as raised:
            result = call(payload, timeout=30)
            if streamed_reply:
                list(result)
    return raised.value


def assert_refused(error: grpc.RpcError, *words: str) -> None:
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, (error.code(), error.details())
    assert len(error.details()) < 400 and "Traceback" not in error.details()
    for word in words:
        assert word in error.details(), error.details()


@pytest.fixture(scope="module")
def roots(workdir: Path) -> tuple[Path, Path]:
    """A checkpoint root, and a folder outside it with a committed checkpoint a symlink in the root points at."""
    root, outside = workdir / "admitted", workdir / "elsewhere"
    root.mkdir()
    checkpoint(outside, 7)
    (root / "v00000007").symlink_to(outside / "v00000007", target_is_directory=True)
    return root, outside


def moved(ref: checkpoint_pb2.CheckpointRef, uri: Path | str) -> checkpoint_pb2.CheckpointRef:
    copy = checkpoint_pb2.CheckpointRef()
    copy.CopyFrom(ref)
    copy.uri = str(uri)
    return copy


@pytest.fixture(scope="module")
def confined_policy(workdir: Path, roots) -> Iterator[launcher.Service]:
    service = launcher.start("admission-policy", ["playpen-policy", "--backend", "scripted",
                                                  "--checkpoint-roots", str(roots[0])], workdir)
    yield service
    assert service.stop() == 0


@pytest.fixture(scope="module")
def evaluator(workdir: Path, gamemaster: launcher.Service, confined_policy, roots) -> Iterator[launcher.Service]:
    service = launcher.start("admission-evaluator", [
        "playpen-evaluator", "--gamemaster-target", gamemaster.target, "--eval-policy-target",
        confined_policy.target, "--state-dir", str(workdir / "admission-state"), "--checkpoint-roots",
        str(roots[0]), "--skills", "false"], workdir)
    yield service
    assert service.stop() == 0


def test_non_utf8_strings_are_invalid_argument_on_every_service(gamemaster, confined_policy, evaluator) -> None:
    gm = "/playpen.gamemaster.v1.GameMasterService/"
    assert_refused(raw_call(gamemaster.target, gm + "ReplayEpisode",
                            with_bad_string(gamemaster_pb2.ReplayEpisodeRequest, "game")), "UTF-8")
    assert_refused(raw_call(gamemaster.target, gm + "PlayEpisodes",
                            with_bad_string(gamemaster_pb2.PlayEpisodesRequest, "run_id"), streamed_reply=True),
                   "PlayEpisodesRequest")
    assert_refused(raw_call(confined_policy.target, "/playpen.policy.v1.PolicyService/Generate",
                            with_bad_string(policy_pb2.GenerateRequest, "request_id")), "GenerateRequest")
    assert_refused(raw_call(evaluator.target, "/playpen.evaluator.v1.EvaluatorService/EvaluateCheckpoint",
                            with_bad_string(evaluator_pb2.EvaluateCheckpointRequest, "split")), "UTF-8")
    assert_refused(raw_call(confined_policy.target, "/grpc.health.v1.Health/Check", b"\x0a\x02\xff\xfe"), "UTF-8")
    # Bytes that are no message at all (a truncated field) are refused the same way.
    assert_refused(raw_call(confined_policy.target, "/playpen.policy.v1.PolicyService/Generate", b"\x1a\x50ab"))


def test_oversized_policy_requests_are_refused_briefly(confined_policy) -> None:
    hello = chat_pb2.ChatMessage(role="user", content="hello")
    with grpc.insecure_channel(confined_policy.target,
                               options=[("grpc.max_send_message_length", 64 << 20)]) as channel:
        stub = policy_pb2_grpc.PolicyServiceStub(channel)
        for request, names in [
            (policy_pb2.GenerateRequest(messages=[hello], request_id="r" * 10_000_000), "request_id has 10000000"),
            (policy_pb2.GenerateRequest(messages=[hello] * 10_001), "messages has 10001 entries"),
            (policy_pb2.GenerateRequest(messages=[hello], sampling=chat_pb2.SamplingParams(stop=["s" * 5000])),
             "sampling.stop has 5000"),
            (policy_pb2.GenerateRequest(messages=[chat_pb2.ChatMessage(role="x" * 5000, content="hi")]),
             "role has 5000"),
        ]:
            with pytest.raises(grpc.RpcError) as raised:
                stub.Generate(request, timeout=30)
            assert_refused(raised.value, names)
        # A long prompt is within its own limit (max_prompt_chars), far beyond the 4096 of other strings.
        reply = stub.Generate(policy_pb2.GenerateRequest(
            messages=[chat_pb2.ChatMessage(role="user", content="x" * 100_000)]), timeout=30)
        assert reply.text


def test_load_weights_takes_checkpoints_only_from_the_roots(confined_policy, roots) -> None:
    root, outside = roots
    inside = checkpoint(root, 3)
    elsewhere = read_manifest(outside / "v00000007")
    escaping = moved(elsewhere, root / ".." / "elsewhere" / "v00000007")
    linked = moved(elsewhere, root / "v00000007")  # a symlink in the root to a checkpoint outside it
    direct = moved(elsewhere, outside / "v00000007")
    with grpc.insecure_channel(confined_policy.target) as channel:
        stub = policy_pb2_grpc.PolicyServiceStub(channel)
        for ref, words in [(escaping, "'..'"), (linked, "not under the checkpoint roots"),
                           (direct, "not under the checkpoint roots")]:
            with pytest.raises(grpc.RpcError) as raised:
                stub.LoadWeights(policy_pb2.LoadWeightsRequest(checkpoint=ref), timeout=30)
            assert_refused(raised.value, words)
        assert stub.GetStatus(policy_pb2.GetStatusRequest(), timeout=10).policy_version == 0  # nothing loaded
        assert stub.LoadWeights(policy_pb2.LoadWeightsRequest(checkpoint=inside), timeout=30).policy_version == 3


def test_evaluate_checkpoint_refuses_paths_outside_the_roots_and_oversized_lists(evaluator, roots) -> None:
    root, outside = roots
    ref = checkpoint_pb2.CheckpointRef(version=9, uri=str(outside / "v00000009"),
                                       kind=checkpoint_pb2.CHECKPOINT_KIND_FULL,
                                       files=[checkpoint_pb2.CheckpointFile(path="model.safetensors")])
    with grpc.insecure_channel(evaluator.target) as channel:
        stub = evaluator_pb2_grpc.EvaluatorServiceStub(channel)
        with pytest.raises(grpc.RpcError) as raised:
            stub.EvaluateCheckpoint(evaluator_pb2.EvaluateCheckpointRequest(checkpoint=ref), timeout=30)
        assert_refused(raised.value, "not under the checkpoint roots")
        ref.uri = str(root / ".." / "elsewhere")
        with pytest.raises(grpc.RpcError) as raised:
            stub.EvaluateCheckpoint(evaluator_pb2.EvaluateCheckpointRequest(checkpoint=ref), timeout=30)
        assert_refused(raised.value, "'..'")
        with pytest.raises(grpc.RpcError) as raised:
            stub.EvaluateCheckpoint(evaluator_pb2.EvaluateCheckpointRequest(
                checkpoint=checkpoint_pb2.CheckpointRef(version=0), games=["g" * 5000] * 3), timeout=30)
        assert_refused(raised.value, "games has 5000 characters")
        with pytest.raises(grpc.RpcError) as raised:
            stub.ListResults(evaluator_pb2.ListResultsRequest(versions=[-1] * 10_001), timeout=30)
        assert_refused(raised.value, "versions has 10001 entries")
