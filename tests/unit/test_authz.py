"""Authorization rules, bearer tokens and the TLS settings; the shared server over mutual TLS in-process, with a
stand-in TrainerService: a refused SubmitEpisodes stores nothing, and a rotated certificate is served at once."""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

import grpc
import pytest
from pydantic import ValidationError

from playpen.common.v1 import episode_pb2
from playpen.trainer.v1 import trainer_pb2, trainer_pb2_grpc
from playpen_common.authz import MUTATING, Rules, TokenFile, parse_rule, parse_tokens
from playpen_common.client import aio_channel, host_of
from playpen_common.metrics import ServiceMetrics
from playpen_common.server import GrpcService
from playpen_common.settings import ServiceSettings
from playpen_common.tls import ClientTls, server_credentials
from tests.certs import TestCA

SUBMIT = "playpen.trainer.v1.TrainerService/SubmitEpisodes"


# ------------------------------------------------------------------------------------------------ rules


def test_a_rule_is_methods_then_callers() -> None:
    rule = parse_rule(f"/{SUBMIT}=playpen-selfplay, ops")
    assert rule.methods == SUBMIT and rule.callers == ("playpen-selfplay", "ops")
    assert parse_rule("*/Rollback=").callers == ()
    assert parse_rule("*=*").matches("any.Service/Method")


@pytest.mark.parametrize("text", ["LoadWeights=trainer", "=trainer", "playpen.policy.v1.PolicyService/LoadWeights"])
def test_malformed_rules_say_the_expected_form(text: str) -> None:
    with pytest.raises(ValueError, match="SERVICE/METHOD"):
        parse_rule(text)


def test_by_default_state_changing_methods_are_nobodys_and_the_rest_any_callers() -> None:
    rules = Rules()
    for method in MUTATING:
        assert not rules.allows(f"/{method}", ["playpen-trainer", "ops"])
    assert rules.allows("/playpen.policy.v1.PolicyService/Generate", ["anyone"])
    assert not rules.allows("/playpen.policy.v1.PolicyService/Generate", [])  # no identity, no call


def test_the_first_matching_rule_decides_and_globs_match_methods_and_callers() -> None:
    rules = Rules(["playpen.policy.v1.PolicyService/LoadWeights=playpen-evaluator",
                   "*.PolicyService/*=playpen-*", f"{SUBMIT}=playpen-selfplay"])
    load = "/playpen.policy.v1.PolicyService/LoadWeights"
    assert rules.allows(load, ["playpen-evaluator"])
    assert not rules.allows(load, ["playpen-trainer"])  # the LoadWeights rule, not the broader one, decides
    assert rules.allows("/playpen.policy.v1.PolicyService/Generate", ["playpen-gamemaster"])
    assert not rules.allows("/playpen.policy.v1.PolicyService/Generate", ["external"])
    assert rules.allows(f"/{SUBMIT}", ["x", "playpen-selfplay"])  # any of the caller's names
    assert rules.allows("/playpen.trainer.v1.TrainerService/GetStatus", ["external"])


# ------------------------------------------------------------------------------------------------ tokens


def test_tokens_map_to_names_and_are_read_again_when_the_file_changes(tmp_path: Path) -> None:
    assert set(parse_tokens("# comment\n\nops: abc:def \n")) == {"ops"}
    with pytest.raises(ValueError, match="line 1"):
        parse_tokens("no separator here")
    path = tmp_path / "tokens"
    path.write_text("ops:first-token\n")
    tokens = TokenFile(path)
    assert tokens.name_of("first-token") == "ops" and tokens.name_of("first-toke") is None
    replacement = tmp_path / "tokens.new"
    replacement.write_text("ops:second-token\nci:ci-token\n")
    os.replace(replacement, path)  # as the kubelet swaps a Secret's files
    assert tokens.name_of("first-token") is None
    assert tokens.name_of("second-token") == "ops" and tokens.name_of("ci-token") == "ci"


# ------------------------------------------------------------------------------------------------ settings


def test_settings_keep_callers_together_and_refuse_half_configurations(tmp_path: Path) -> None:
    cli = ServiceSettings(_cli_parse_args=["--authz-enabled", "true", "--authz-token-file", "t",
                                           "--authz", f"{SUBMIT}=a,b", "--authz", "*/Rollback="])
    assert cli.authz == [f"{SUBMIT}=a,b", "*/Rollback="]
    assert ServiceSettings().client_tls is None
    with pytest.raises(ValidationError, match="go together"):
        ServiceSettings(tls_cert_file=tmp_path / "a.crt")
    with pytest.raises(ValidationError, match="needs the server"):
        ServiceSettings(tls_client_ca_file=tmp_path / "ca.crt")
    with pytest.raises(ValidationError, match="authz-enabled"):
        ServiceSettings(authz=[f"{SUBMIT}=a"])
    with pytest.raises(ValidationError, match="SERVICE/METHOD"):
        ServiceSettings(authz_enabled=True, authz=["Rollback=ops"], authz_token_file=tmp_path / "tokens")
    with pytest.raises(ValidationError, match="a way to name callers"):
        ServiceSettings(authz_enabled=True)


def test_the_host_a_certificate_must_name() -> None:
    assert host_of("localhost:50051") == "localhost"
    assert host_of("dns:///playpen-policy-rollout.ns.svc:50052") == "playpen-policy-rollout.ns.svc"
    assert host_of("a.svc:1,b.svc:2") == "a.svc"
    assert host_of("ipv4:10.0.0.1:5") == ""


# ------------------------------------------------------------------------------------------------ in-process


class StandInTrainer(trainer_pb2_grpc.TrainerServiceServicer):
    def __init__(self) -> None:
        self.stored: list[str] = []

    async def SubmitEpisodes(self, request_iterator, context):
        async for request in request_iterator:
            self.stored.append(request.episode.episode_id)
            yield trainer_pb2.SubmitEpisodesResponse(episode_id=request.episode.episode_id,
                                                     status=trainer_pb2.ACK_STATUS_STORED)

    async def GetStatus(self, request, context):
        return trainer_pb2.GetStatusResponse(episodes_stored=len(self.stored))


async def _submit(port: int, tls: ClientTls) -> tuple[grpc.StatusCode, str, list[str]]:
    """Three episodes, as self-play sends them: (final status, its details, the acks)."""
    async with aio_channel(f"localhost:{port}", tls=tls, retries=1) as channel:
        call = trainer_pb2_grpc.TrainerServiceStub(channel).SubmitEpisodes(timeout=10)
        try:
            for i in range(3):
                await call.write(trainer_pb2.SubmitEpisodesRequest(episode=episode_pb2.Episode(episode_id=f"e{i}")))
            await call.done_writing()
            acks = [ack.episode_id async for ack in call]
        except grpc.aio.AioRpcError:
            acks = []
        return await call.code(), await call.details(), acks


def test_submit_episodes_from_a_caller_not_allowed_stores_nothing(tmp_path: Path) -> None:
    ca = TestCA(tmp_path, "ca")
    server, selfplay, evaluator = ca.issue("playpen-trainer"), ca.issue("playpen-selfplay"), ca.issue("ev")
    settings = ServiceSettings(host="127.0.0.1", tls_cert_file=server.cert_file, tls_key_file=server.key_file,
                               tls_client_ca_file=ca.cert_file, authz_enabled=True,
                               authz=[f"{SUBMIT}=playpen-selfplay"])

    async def scenario() -> None:
        trainer = StandInTrainer()
        service = GrpcService("trainer", settings, ServiceMetrics("trainer"))
        service.add(trainer_pb2_grpc.add_TrainerServiceServicer_to_server, trainer, "playpen.trainer.v1.TrainerService")
        port = await service.start()
        try:
            refused = ClientTls(ca.cert_file, evaluator.cert_file, evaluator.key_file)
            async with aio_channel(f"localhost:{port}", tls=refused, retries=1) as channel:
                # Refused as the call opens, before any request is read.
                call = trainer_pb2_grpc.TrainerServiceStub(channel).SubmitEpisodes(timeout=10)
                assert await call.code() == grpc.StatusCode.PERMISSION_DENIED
                assert "ev may not call" in await call.details()
            # A client that streams episodes regardless gets no ack (its status may be the refusal, or gRPC's
            # INTERNAL when a write races the refusal), and nothing is stored.
            code, _, acks = await _submit(port, refused)
            assert code != grpc.StatusCode.OK and acks == [] and trainer.stored == []
            assert await _submit(port, ClientTls(ca.cert_file, selfplay.cert_file, selfplay.key_file)) \
                == (grpc.StatusCode.OK, "", ["e0", "e1", "e2"])
        finally:
            await service.stop()

    asyncio.run(scenario())


def test_a_rotated_certificate_is_served_without_a_restart(tmp_path: Path) -> None:
    old_ca, new_ca = TestCA(tmp_path / "old", "old"), TestCA(tmp_path / "new", "new")
    served = old_ca.issue("server", file_name="served")
    settings = ServiceSettings(host="127.0.0.1", tls_cert_file=served.cert_file, tls_key_file=served.key_file)

    async def status(port: int, ca: TestCA) -> grpc.StatusCode:
        async with aio_channel(f"localhost:{port}", tls=ClientTls(ca.cert_file), retries=1) as channel:
            stub = trainer_pb2_grpc.TrainerServiceStub(channel)
            try:
                await stub.GetStatus(trainer_pb2.GetStatusRequest(), timeout=5)
            except grpc.aio.AioRpcError as error:
                return error.code()
        return grpc.StatusCode.OK

    async def scenario() -> None:
        service = GrpcService("trainer", settings, ServiceMetrics("trainer"))
        service.add(trainer_pb2_grpc.add_TrainerServiceServicer_to_server, StandInTrainer(),
                    "playpen.trainer.v1.TrainerService")
        port = await service.start()
        try:
            assert await status(port, old_ca) == grpc.StatusCode.OK
            renewed = new_ca.issue("server", file_name="renewed")
            shutil.copy(renewed.key_file, served.key_file)
            shutil.copy(renewed.cert_file, served.cert_file)
            assert await status(port, new_ca) == grpc.StatusCode.OK
            assert await status(port, old_ca) == grpc.StatusCode.UNAVAILABLE
        finally:
            await service.stop()

    asyncio.run(scenario())


def test_outgoing_channels_present_a_renewed_client_certificate(tmp_path: Path) -> None:
    ca = TestCA(tmp_path, "ca")
    server = ca.issue("server")
    client = ca.issue("before-renewal", file_name="client")

    async def caller(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        return context.auth_context()["x509_common_name"][0]

    async def scenario() -> list[bytes]:
        grpc_server = grpc.aio.server()
        grpc_server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(
            "test.Who", {"Am": grpc.unary_unary_rpc_method_handler(caller)}),))
        port = grpc_server.add_secure_port("127.0.0.1:0", server_credentials(
            server.cert_file, server.key_file, ca.cert_file))
        await grpc_server.start()
        names = []
        try:
            tls = ClientTls(ca.cert_file, client.cert_file, client.key_file)
            async with aio_channel(f"localhost:{port}", tls=tls, renew_check_s=0) as channel:
                who = channel.unary_unary("/test.Who/Am")  # bound once, as stubs bind their methods
                names.append(await who(b"", timeout=5))
                renewed = ca.issue("after-renewal", file_name="renewed")
                shutil.copy(renewed.key_file, client.key_file)
                shutil.copy(renewed.cert_file, client.cert_file)
                names.append(await who(b"", timeout=5))  # changed files are used once a check finds them settled
                names.append(await who(b"", timeout=5))
        finally:
            await grpc_server.stop(0)
        return names

    assert asyncio.run(scenario()) == [b"before-renewal", b"before-renewal", b"after-renewal"]
