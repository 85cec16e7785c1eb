"""Process bootstrap of the evaluator: result store, clients of the game master and the eval policy, the gRPC
server, and (with --follow-trainer) the follower. Ready once the game master's games are known."""

from __future__ import annotations

import asyncio
import contextlib

import structlog

from playpen.evaluator.v1 import evaluator_pb2, evaluator_pb2_grpc
from playpen.gamemaster.v1 import gamemaster_pb2_grpc
from playpen.policy.v1 import policy_pb2_grpc
from playpen.trainer.v1 import trainer_pb2_grpc
from playpen_common.client import aio_channel
from playpen_common.logging import configure_logging
from playpen_common.replicas import Replicas
from playpen_common.server import GrpcService
from playpen_evaluator.evaluation import Evaluator
from playpen_evaluator.follow import TrainerFollower
from playpen_evaluator.metrics import EvaluatorMetrics
from playpen_evaluator.service import EvaluatorServicer
from playpen_evaluator.serving import Serving
from playpen_evaluator.settings import EvaluatorSettings
from playpen_evaluator.skills import SkillSuite
from playpen_evaluator.store import ResultStore

SERVICE_NAME = evaluator_pb2.DESCRIPTOR.services_by_name["EvaluatorService"].full_name
log = structlog.get_logger("playpen.evaluator")


async def serve(settings: EvaluatorSettings) -> None:
    configure_logging(settings.log_level, settings.log_format)
    try:
        skills = SkillSuite.from_settings(settings)
    except (OSError, ValueError) as error:
        log.error("bad skill suite configuration", error=str(error))
        raise SystemExit(2) from None
    metrics = EvaluatorMetrics()
    store = ResultStore(settings.store_path)
    serving = Serving(await asyncio.to_thread(store.serving))
    metrics.serving_version.set(serving.version)
    tls = settings.client_tls
    gamemaster = aio_channel(settings.gamemaster_target, max_message_bytes=settings.max_message_bytes, tls=tls)
    # Every eval policy replica loads each evaluated checkpoint; the game master spreads the turns over them.
    policies = Replicas(settings.eval_policy_target, policy_pb2_grpc.PolicyServiceStub,
                        max_message_bytes=settings.max_message_bytes, tls=tls)
    eval_policy = aio_channel(settings.eval_policy_target, max_message_bytes=settings.max_message_bytes, tls=tls)
    evaluator = Evaluator(settings, store, serving, metrics, gamemaster_pb2_grpc.GameMasterServiceStub(gamemaster),
                          policies, skills=skills, skills_policy=policy_pb2_grpc.PolicyServiceStub(eval_policy))
    channels = [gamemaster, eval_policy]
    service = GrpcService("evaluator", settings, metrics)
    service.add(evaluator_pb2_grpc.add_EvaluatorServiceServicer_to_server, EvaluatorServicer(evaluator),
                SERVICE_NAME)
    background: list[asyncio.Task] = []

    async def release() -> None:
        for task in background:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await evaluator.close()
        for channel in channels:
            await channel.close()
        await policies.close()
        await asyncio.to_thread(store.close)

    service.on_shutdown(release)
    service.install_signal_handlers()
    await service.start(ready=False)
    try:
        await evaluator.resolve_games()
    except ValueError as error:  # the configured game set does not match the game master
        log.error("bad game configuration", error=str(error))
        await service.stop(reason="bad game configuration")
        raise SystemExit(2) from None
    if settings.follow_trainer:
        trainer = aio_channel(settings.follow_trainer, max_message_bytes=settings.max_message_bytes, tls=tls)
        channels.append(trainer)
        background.append(asyncio.create_task(TrainerFollower(evaluator, trainer_pb2_grpc.TrainerServiceStub(
            trainer)).run()))
    await service.set_serving(True)
    log.info("evaluator ready", serving_version=serving.version, follow_trainer=settings.follow_trainer or None)
    await service.wait()
