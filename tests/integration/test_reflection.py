"""What grpcurl does, done with grpcio-reflection: list services through reflection, build requests from the
reflected descriptors alone (no generated stubs) — from JSON text, as `grpcurl -d` sends them — and call the
methods of every running service."""

from __future__ import annotations

import json

import grpc
import pytest
from google.protobuf import descriptor_pool, json_format, message_factory
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase

pytestmark = pytest.mark.integration

HEALTH = "grpc.health.v1.Health"
REFLECTION = "grpc.reflection.v1alpha.ServerReflection"


def reflected_call(channel: grpc.Channel, pool: descriptor_pool.DescriptorPool, method_name: str,
                   fields: dict | None = None, *, json_text: str | None = None):
    """Call `package.Service.Method` with a request built from `fields` or parsed from JSON text."""
    service_name, _, name = method_name.rpartition(".")
    method = pool.FindServiceByName(service_name).FindMethodByName(name)
    request_class = message_factory.GetMessageClass(method.input_type)
    response_class = message_factory.GetMessageClass(method.output_type)
    request = request_class(**(fields or {})) if json_text is None else json_format.Parse(json_text, request_class())
    path = f"/{method.containing_service.full_name}/{method.name}"
    call = channel.unary_unary(path, request_serializer=lambda m: m.SerializeToString(),
                               response_deserializer=response_class.FromString)
    return call(request, timeout=30)


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


def test_json_requests_as_grpcurl_sends_them(gamemaster, policy) -> None:
    """`grpcurl -d '{...}' target Service/Method`: JSON text in, JSON text out, from reflected descriptors only."""
    calls = [(gamemaster.target, "playpen.gamemaster.v1.GameMasterService.ListGames", "{}"),
             (policy.target, "playpen.policy.v1.PolicyService.Generate",
              '{"messages": [{"role": "user", "content": "CLUE: cold season"}], "sampling": {"maxTokens": 8}}'),
             (gamemaster.target, "grpc.health.v1.Health.Check", '{"service": ""}')]
    rendered = {}
    for target, method_name, text in calls:
        with grpc.insecure_channel(target) as channel:
            pool = descriptor_pool.DescriptorPool(ProtoReflectionDescriptorDatabase(channel))
            response = reflected_call(channel, pool, method_name, json_text=text)
            rendered[method_name] = json.loads(json_format.MessageToJson(response))
    assert rendered["playpen.gamemaster.v1.GameMasterService.ListGames"]["games"]
    assert rendered["playpen.policy.v1.PolicyService.Generate"]["text"].startswith("GUESS:")
    assert rendered["grpc.health.v1.Health.Check"] == {"status": "SERVING"}
