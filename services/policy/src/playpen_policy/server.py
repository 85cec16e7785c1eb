"""Process bootstrap of the policy service: the backend loads first (startup), then it reports ready."""

from __future__ import annotations

from importlib import resources

from playpen.policy.v1 import policy_pb2, policy_pb2_grpc
from playpen_common.logging import configure_logging
from playpen_common.server import GrpcService
from playpen_policy.metrics import PolicyMetrics
from playpen_policy.service import PolicyServicer
from playpen_policy.settings import PolicySettings

SERVICE_NAME = policy_pb2.DESCRIPTOR.services_by_name["PolicyService"].full_name


def make_backend(settings: PolicySettings):
    from playpen_policy.scripted import ScriptedBackend

    script = settings.script or str(resources.files("playpen_policy") / "data" / "scripted_players.json")
    return ScriptedBackend(script, model=settings.model_name)


async def serve(settings: PolicySettings) -> None:
    configure_logging(settings.log_level, settings.log_format)
    metrics = PolicyMetrics()
    backend = make_backend(settings)
    servicer = PolicyServicer(backend, metrics, max_prompt_chars=settings.max_prompt_chars)
    service = GrpcService("policy", settings, metrics)
    service.add(policy_pb2_grpc.add_PolicyServiceServicer_to_server, servicer, SERVICE_NAME)
    service.on_shutdown(backend.close)
    service.install_signal_handlers()
    # Bound but not ready while the model loads: startup probes see the port, readiness waits.
    await service.start(ready=False)
    await backend.start()
    servicer.ready()
    await service.set_serving(True)
    await service.wait()
