"""What grpcurl does, done by hand: list services through reflection, build requests from the reflected
descriptors alone (no generated stubs), and call every method of every running service.

If a grpcurl binary is installed, it is run against the same servers too.
"""

from __future__ import annotations

import shutil
import subprocess

import grpc
import pytest
from google.protobuf import descriptor_pool, message_factory
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase

pytestmark = pytest.mark.integration

HEALTH = "grpc.health.v1.Health"
REFLECTION = "grpc.reflection.v1alpha.ServerReflection"


def reflected_call(channel: grpc.Channel, pool: descriptor_pool.DescriptorPool, method_name: str,
                   fields: dict | None = None):
    service_name, _, name = method_name.rpartition(".")
    method = pool.FindServiceByName(service_name).FindMethodByName(name)
    request_class = message_factory.GetMessageClass(method.input_type)
    response_class = message_factory.GetMessageClass(method.output_type)
    path = f"/{method.containing_service.full_name}/{method.name}"
    call = channel.unary_unary(path, request_serializer=lambda m: m.SerializeToString(),
                               response_deserializer=response_class.FromString)
    return call(request_class(**(fields or {})), timeout=30)


@pytest.mark.parametrize(("service_fixture", "expected", "unary_methods"), [
    ("gamemaster", "playpen.gamemaster.v1.GameMasterService", ["ListGames"]),
    ("policy", "playpen.policy.v1.PolicyService", ["GetStatus"]),
])
def test_reflection_lists_and_calls_every_service(request, service_fixture, expected, unary_methods) -> None:
    service = request.getfixturevalue(service_fixture)
    with grpc.insecure_channel(service.target) as channel:
        database = ProtoReflectionDescriptorDatabase(channel)
        services = set(database.get_services())
        assert {expected, HEALTH, REFLECTION} <= services
        pool = descriptor_pool.DescriptorPool(database)
        described = pool.FindServiceByName(expected)
        assert [m.name for m in described.methods]  # the whole contract is described
        for name in unary_methods:
            response = reflected_call(channel, pool, f"{expected}.{name}")
            assert response.ByteSize() > 0
        for name in ["", *sorted(services - {HEALTH, REFLECTION})]:
            status = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=name),
                                                                timeout=10)
            assert status.status == health_pb2.HealthCheckResponse.SERVING, name


def test_reflected_generate_call_on_the_policy(policy) -> None:
    with grpc.insecure_channel(policy.target) as channel:
        pool = descriptor_pool.DescriptorPool(ProtoReflectionDescriptorDatabase(channel))
        chat = message_factory.GetMessageClass(pool.FindMessageTypeByName("playpen.common.v1.ChatMessage"))
        response = reflected_call(channel, pool, "playpen.policy.v1.PolicyService.Generate",
                                  {"messages": [chat(role="user", content="CLUE: cold season")]})
        assert response.text.startswith("GUESS:")


@pytest.mark.skipif(shutil.which("grpcurl") is None, reason="grpcurl is not installed on this machine")
def test_grpcurl_lists_and_calls(gamemaster, policy) -> None:
    listed = subprocess.run(["grpcurl", "-plaintext", gamemaster.target, "list"], capture_output=True,
                            text=True, check=True, timeout=30).stdout
    assert "playpen.gamemaster.v1.GameMasterService" in listed
    for target, method in [(gamemaster.target, "playpen.gamemaster.v1.GameMasterService/ListGames"),
                           (policy.target, "playpen.policy.v1.PolicyService/GetStatus"),
                           (gamemaster.target, "grpc.health.v1.Health/Check")]:
        subprocess.run(["grpcurl", "-plaintext", "-d", "{}", target, method], check=True, timeout=30,
                       capture_output=True)
