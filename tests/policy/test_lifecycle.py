"""Startup apart from readiness, and the policy's metrics."""

from __future__ import annotations

import urllib.request

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from playpen.policy.v1 import policy_pb2, policy_pb2_grpc
from playpen_common import launcher
from tests.policy.conftest import SERVER_ENV, make_checkpoint
from tests.policy.test_vllm_policy import request


def test_not_ready_while_loading_then_serving_with_metrics(workdir, tiny_model, tmp_path) -> None:
    service = launcher.start("lifecycle", ["playpen-policy", "--model", str(tiny_model)], workdir, env=SERVER_ENV,
                             timeout=240, wait_ready=False)
    try:
        with grpc.insecure_channel(service.target) as channel:
            health = health_pb2_grpc.HealthStub(channel)
            seen = []
            for update in health.Watch(health_pb2.HealthCheckRequest(), timeout=240):
                seen.append(update.status)
                if len(seen) == 1:
                    # Bound but still loading: a generation is refused as UNAVAILABLE, to be retried.
                    try:
                        policy_pb2_grpc.PolicyServiceStub(channel).Generate(request("hi"), timeout=30)
                        refused = None
                    except grpc.RpcError as error:
                        refused = error.code()
                if update.status == health_pb2.HealthCheckResponse.SERVING:
                    break
            assert seen[0] == health_pb2.HealthCheckResponse.NOT_SERVING
            assert seen[-1] == health_pb2.HealthCheckResponse.SERVING
            if refused is not None:  # the engine may have finished loading in between; then nothing to see
                assert refused == grpc.StatusCode.UNAVAILABLE
            stub = policy_pb2_grpc.PolicyServiceStub(channel)
            reply = stub.Generate(request("the lazy dog"), timeout=60)
            stub.LoadWeights(policy_pb2.LoadWeightsRequest(checkpoint=make_checkpoint(tmp_path, 3, seed=3)),
                             timeout=120)
        text = urllib.request.urlopen(f"http://localhost:{service.metrics_port}/metrics", timeout=10).read().decode()
        values = {line.split(" ")[0]: float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                  if line.startswith("playpen_policy_") and " " in line}
        assert values['playpen_policy_requests_total{outcome="ok"}'] >= 1
        assert values["playpen_policy_generated_tokens_total"] >= len(reply.completion_token_ids)
        assert values["playpen_policy_time_to_first_token_seconds_count"] >= 1
        assert values["playpen_policy_reload_duration_seconds_count"] == 1
        assert values["playpen_policy_policy_version"] == 3
        assert values["playpen_policy_queued_requests"] == 0 and values["playpen_policy_running_requests"] == 0
    finally:
        assert service.stop() == 0
