"""Services over mutual TLS with per-method authorization: a game master, a scripted policy and an evaluator that
call each other with their own certificates, and callers that are refused and change nothing.

Identities are the certificates' common names (playpen-evaluator, playpen-gamemaster, ...), signed by a CA the
test makes; a second CA signs a look-alike. Another policy also serves a token port (TLS without client
certificates), where external callers name themselves with bearer tokens instead.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from playpen.common.v1 import chat_pb2
from playpen.evaluator.v1 import evaluator_pb2, evaluator_pb2_grpc
from playpen.gamemaster.v1 import gamemaster_pb2, gamemaster_pb2_grpc
from playpen.policy.v1 import policy_pb2, policy_pb2_grpc
from playpen_common import launcher
from playpen_common.tls import ClientTls
from tests.certs import Issued, TestCA
from tests.integration.conftest import TABOO_SCRIPT, write_script
from tests.integration.helpers import checkpoint, scrape

LOAD_WEIGHTS = "playpen.policy.v1.PolicyService/LoadWeights"
TOKENS = "# external callers\nops:correct-horse-battery\nviewer:read-only-token\n"


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("authz")


@pytest.fixture(scope="module")
def ca(workdir: Path) -> TestCA:
    return TestCA(workdir / "pki", "playpen")


@pytest.fixture(scope="module")
def certs(ca: TestCA) -> dict[str, Issued]:
    names = ("playpen-gamemaster", "playpen-policy", "playpen-evaluator", "playpen-selfplay", "ops")
    return {name: ca.issue(name) for name in names}


def tls_flags(ca: TestCA, issued: Issued, *, mutual: bool = True) -> list[str]:
    flags = ["--tls-ca-file", str(ca.cert_file), "--tls-cert-file", str(issued.cert_file),
             "--tls-key-file", str(issued.key_file), "--health-port", "0", "--authz-enabled", "true"]
    return flags + (["--tls-client-ca-file", str(ca.cert_file)] if mutual else [])


def secure(target: str, ca: TestCA, issued: Issued | None) -> grpc.Channel:
    tls = ClientTls(ca.cert_file, issued.cert_file if issued else None, issued.key_file if issued else None)
    return grpc.secure_channel(target, tls.credentials(), options=tls.options())


@pytest.fixture(scope="module")
def policy(workdir: Path, ca: TestCA, certs) -> Iterator[launcher.Service]:
    script = write_script(workdir / "script.json", TABOO_SCRIPT)
    service = launcher.start("policy", [
        "playpen-policy", "--backend", "scripted", "--script", str(script), *tls_flags(ca, certs["playpen-policy"]),
        "--authz", f"{LOAD_WEIGHTS}=playpen-evaluator"], workdir)
    yield service
    assert service.stop() == 0, service.log()[-3000:]


@pytest.fixture(scope="module")
def gamemaster(workdir: Path, ca: TestCA, certs) -> Iterator[launcher.Service]:
    service = launcher.start("gamemaster", ["playpen-gamemaster", "--policy-timeout-s", "10",
                                            *tls_flags(ca, certs["playpen-gamemaster"])], workdir)
    yield service
    assert service.stop() == 0, service.log()[-3000:]


@pytest.fixture(scope="module")
def evaluator(workdir: Path, ca: TestCA, certs, gamemaster, policy) -> Iterator[launcher.Service]:
    service = launcher.start("evaluator", [
        "playpen-evaluator", "--gamemaster-target", gamemaster.target, "--eval-policy-target", policy.target,
        "--state-dir", str(workdir / "state"), "--seen-games", "taboo", "--unseen-games", "wordle",
        "--instances-per-game", "1", *tls_flags(ca, certs["playpen-evaluator"]),
        "--authz", "playpen.evaluator.v1.EvaluatorService/EvaluateCheckpoint=ops",
        "--authz", "playpen.evaluator.v1.EvaluatorService/Rollback=ops"], workdir)
    yield service
    assert service.stop() == 0, service.log()[-3000:]


@pytest.fixture(scope="module")
def token_policy(workdir: Path, ca: TestCA, certs) -> Iterator[launcher.Service]:
    """Mutual TLS on its gRPC port for the services, and a token port (server TLS only) where external callers
    without a certificate name themselves with a bearer token."""
    tokens = workdir / "tokens"
    tokens.write_text(TOKENS)
    service = launcher.start("token-policy", [
        "playpen-policy", "--backend", "scripted", *tls_flags(ca, certs["playpen-policy"]), "--token-port", "0",
        "--authz-token-file", str(tokens), "--authz", f"{LOAD_WEIGHTS}=ops,playpen-evaluator"], workdir)
    yield service
    assert service.stop() == 0, service.log()[-3000:]


def status_code(call) -> grpc.StatusCode:
    with pytest.raises(grpc.RpcError) as raised:
        call()
    return raised.value.code()


def policy_version(policy: launcher.Service, ca: TestCA, issued: Issued) -> int:
    with secure(policy.target, ca, issued) as channel:
        return policy_pb2_grpc.PolicyServiceStub(channel).GetStatus(policy_pb2.GetStatusRequest(), timeout=10) \
            .policy_version


def load(channel: grpc.Channel, ref, **call) -> int:
    stub = policy_pb2_grpc.PolicyServiceStub(channel)
    return stub.LoadWeights(policy_pb2.LoadWeightsRequest(checkpoint=ref), timeout=30, **call).policy_version


def test_the_game_master_plays_with_the_policy_over_mutual_tls(gamemaster, policy, ca, certs) -> None:
    request = gamemaster_pb2.PlayEpisodesRequest(
        games=["taboo"], split="validation", instances_per_game=1, group_size=1,
        default_player=gamemaster_pb2.PlayerConfig(
            policy=gamemaster_pb2.PolicyEndpoint(target=policy.target, name="scripted"),
            sampling=chat_pb2.SamplingParams(max_tokens=32)))
    with secure(gamemaster.target, ca, certs["playpen-selfplay"]) as channel:
        stub = gamemaster_pb2_grpc.GameMasterServiceStub(channel)
        episodes = [response.episode for response in stub.PlayEpisodes(request, timeout=60)]
    assert len(episodes) == 1 and episodes[0].turns, episodes


def test_probes_reach_health_on_the_plaintext_port_and_nothing_else(policy) -> None:
    with grpc.insecure_channel(f"localhost:{policy.health_port}") as channel:
        reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=10)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
        status = policy_pb2_grpc.PolicyServiceStub(channel).GetStatus
        assert status_code(lambda: status(policy_pb2.GetStatusRequest(), timeout=10)) == grpc.StatusCode.UNIMPLEMENTED
    with grpc.insecure_channel(policy.target) as channel:  # plaintext to the TLS port: no connection
        stub = policy_pb2_grpc.PolicyServiceStub(channel)
        assert status_code(lambda: stub.GetStatus(policy_pb2.GetStatusRequest(), timeout=5)) \
            == grpc.StatusCode.UNAVAILABLE


def test_callers_without_a_certificate_of_the_ca_are_refused_and_change_nothing(policy, ca, certs, workdir) -> None:
    ref = checkpoint(workdir / "checkpoints", 3)
    before = policy_version(policy, ca, certs["playpen-gamemaster"])
    rogue = TestCA(workdir / "rogue", "rogue").issue("playpen-evaluator")  # the right name, the wrong CA
    for issued in (None, rogue):
        with secure(policy.target, ca, issued) as channel:
            # Mutual TLS: the handshake fails, so no call reaches a handler (the client sees no connection).
            assert status_code(lambda channel=channel: load(channel, ref)) == grpc.StatusCode.UNAVAILABLE
    assert policy_version(policy, ca, certs["playpen-gamemaster"]) == before


def test_an_identity_not_allowed_gets_permission_denied_and_changes_nothing(policy, ca, certs, workdir) -> None:
    ref = checkpoint(workdir / "checkpoints", 4)
    before = policy_version(policy, ca, certs["playpen-gamemaster"])
    for name in ("playpen-gamemaster", "playpen-selfplay", "ops"):
        with secure(policy.target, ca, certs[name]) as channel:
            assert status_code(lambda channel=channel: load(channel, ref)) == grpc.StatusCode.PERMISSION_DENIED
    assert policy_version(policy, ca, certs["playpen-gamemaster"]) == before != 4
    refused = scrape(policy)
    key = f'playpen_policy_auth_refusals_total{{code="PERMISSION_DENIED",method="/{LOAD_WEIGHTS}"}}'
    assert refused[key] >= 3
    with secure(policy.target, ca, certs["playpen-evaluator"]) as channel:  # the one allowed caller
        assert load(channel, ref) == 4


def test_only_ops_may_evaluate_or_roll_back(evaluator, policy, ca, certs, workdir) -> None:
    ref = checkpoint(workdir / "checkpoints", 5)
    for name in ("playpen-selfplay", "playpen-gamemaster"):
        with secure(evaluator.target, ca, certs[name]) as channel:
            stub = evaluator_pb2_grpc.EvaluatorServiceStub(channel)
            before = stub.ListResults(evaluator_pb2.ListResultsRequest(), timeout=10)
            evaluate = evaluator_pb2.EvaluateCheckpointRequest(checkpoint=ref)
            assert status_code(lambda stub=stub, evaluate=evaluate: stub.EvaluateCheckpoint(evaluate, timeout=60)) \
                == grpc.StatusCode.PERMISSION_DENIED
            assert status_code(lambda stub=stub: stub.Rollback(evaluator_pb2.RollbackRequest(version=0), timeout=10)) \
                == grpc.StatusCode.PERMISSION_DENIED
            assert stub.ListResults(evaluator_pb2.ListResultsRequest(), timeout=10) == before
    assert policy_version(policy, ca, certs["playpen-gamemaster"]) != 5
    # ops may: the evaluator then loads the checkpoint into the policy as playpen-evaluator, over mutual TLS.
    with secure(evaluator.target, ca, certs["ops"]) as channel:
        stub = evaluator_pb2_grpc.EvaluatorServiceStub(channel)
        result = stub.EvaluateCheckpoint(evaluator_pb2.EvaluateCheckpointRequest(checkpoint=ref), timeout=120).result
    assert result.version == 5 and result.games
    assert policy_version(policy, ca, certs["playpen-gamemaster"]) == 5


def test_bearer_tokens_name_external_callers(token_policy, ca, certs, workdir) -> None:
    ref = checkpoint(workdir / "checkpoints", 6)
    # The gRPC port stays mutual TLS: the services' own certificates, no way in without one.
    assert policy_version(token_policy, ca, certs["playpen-gamemaster"]) == 0
    assert status_code(lambda: policy_version(token_policy, ca, None)) == grpc.StatusCode.UNAVAILABLE
    assert token_policy.token_port > 0
    with secure(f"localhost:{token_policy.token_port}", ca, None) as channel:
        stub = policy_pb2_grpc.PolicyServiceStub(channel)

        def status(token: str | None) -> policy_pb2.GetStatusResponse:
            metadata = [("authorization", f"Bearer {token}")] if token is not None else None
            return stub.GetStatus(policy_pb2.GetStatusRequest(), timeout=10, metadata=metadata)

        for token in (None, "wrong-token", ""):
            assert status_code(lambda token=token: status(token)) == grpc.StatusCode.UNAUTHENTICATED
            metadata = [("authorization", f"Bearer {token}")] if token is not None else None
            assert status_code(lambda metadata=metadata: load(channel, ref, metadata=metadata)) \
                == grpc.StatusCode.UNAUTHENTICATED
        assert status("read-only-token").policy_version == 0  # viewer: read-only methods only
        viewer = [("authorization", "Bearer read-only-token")]
        assert status_code(lambda: load(channel, ref, metadata=viewer)) == grpc.StatusCode.PERMISSION_DENIED
        assert status("read-only-token").policy_version == 0
        assert load(channel, ref, metadata=[("authorization", "Bearer correct-horse-battery")]) == 6
