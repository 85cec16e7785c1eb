"""Process bootstrap of the policy service.

Startup is apart from readiness: the gRPC server binds at once (NOT_SERVING), the engine loads, a follower
catches up with the newest committed checkpoint, and only then does health turn SERVING.
"""

from __future__ import annotations

import asyncio
import contextlib
from importlib import resources

from playpen.policy.v1 import policy_pb2, policy_pb2_grpc
from playpen_common.bounds import Limits
from playpen_common.logging import configure_logging
from playpen_common.server import GrpcService
from playpen_policy.follow import Follower
from playpen_policy.metrics import PolicyMetrics
from playpen_policy.service import PolicyServicer
from playpen_policy.settings import PolicySettings

SERVICE_NAME = policy_pb2.DESCRIPTOR.services_by_name["PolicyService"].full_name


def make_backend(settings: PolicySettings):
    if settings.backend == "scripted":
        from playpen_policy.scripted import ScriptedBackend

        script = settings.script or str(resources.files("playpen_policy") / "data" / "scripted_players.json")
        return ScriptedBackend(script, model=settings.model_name or "scripted", max_adapters=settings.max_adapters,
                               roots=settings.version_roots)
    from playpen_policy.vllm_backend import VllmBackend  # imports torch and vLLM: only here

    return VllmBackend(settings)


async def serve(settings: PolicySettings) -> None:
    configure_logging(settings.log_level, settings.log_format)
    metrics = PolicyMetrics()
    backend = make_backend(settings)
    servicer = PolicyServicer(backend, metrics, max_prompt_chars=settings.max_prompt_chars,
                              checkpoint_roots=settings.version_roots)
    service = GrpcService("policy", settings, metrics)
    # A prompt's messages may together be as long as max_prompt_chars; every other field has the common bounds.
    service.add(policy_pb2_grpc.add_PolicyServiceServicer_to_server, servicer, SERVICE_NAME,
                limits=Limits(long_text={"content": settings.max_prompt_chars}))
    service.on_shutdown(backend.close)
    service.on_drain(servicer.drain)
    service.install_signal_handlers()
    await service.start(ready=False)
    follower_task: asyncio.Task | None = None
    try:
        await backend.start()
        if settings.follow_trainer or settings.follow_evaluator or settings.follow_dir is not None:
            follower = Follower(servicer.load, trainer=settings.follow_trainer, evaluator=settings.follow_evaluator,
                                directory=settings.follow_dir, poll_s=settings.follow_poll_s,
                                announced=metrics.source_version.set, tls=settings.client_tls)

            async def stop_following() -> None:
                # The follower stops before its channel closes: a follower woken meanwhile (reconnecting to a
                # source that stopped first) would call on a closed channel while the engine shuts down.
                if follower_task is not None:
                    follower_task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await follower_task
                await follower.close()

            service.on_shutdown(stop_following)
            await follower.catch_up()
            follower_task = asyncio.create_task(follower.run())
        servicer.ready()
        await service.set_serving(True)
        failed = getattr(backend, "failed", None)
        if failed is None:
            await service.wait()
        else:
            stopped, broken = asyncio.create_task(service.wait()), asyncio.create_task(failed.wait())
            await asyncio.wait({stopped, broken}, return_when=asyncio.FIRST_COMPLETED)
            stopped.cancel()
            broken.cancel()
            if failed.is_set():
                await service.stop(reason="engine died")
                raise SystemExit(1)
    finally:
        if follower_task is not None:
            follower_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await follower_task
        await service.stop(reason="exiting")
