"""Process bootstrap of the trainer: the gRPC server (ingestion never waits for training) and the training loop
on a worker thread. Ready once the model is loaded and any checkpoint resumed.

Under torchrun (`torchrun --nproc-per-node N -m playpen_trainer ...`) rank 0 is this process as ever — the gRPC
service, the store, the ledger, the checkpoints — and drives the other ranks, which only compute (`follow`)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time

import structlog
from grpc_health.v1 import health_pb2, health_pb2_grpc

from playpen.trainer.v1 import trainer_pb2, trainer_pb2_grpc
from playpen_common.bounds import Limits
from playpen_common.logging import bound_contextvars, configure_logging
from playpen_common.server import GrpcService
from playpen_trainer import validation
from playpen_trainer.checkpoints import CheckpointPublisher
from playpen_trainer.loop import Trainer, config_hash
from playpen_trainer.metrics import TrainerMetrics
from playpen_trainer.service import TrainerServicer
from playpen_trainer.settings import TrainerSettings
from playpen_trainer.store import EpisodeStore

SERVICE_NAME = trainer_pb2.DESCRIPTOR.services_by_name["TrainerService"].full_name
log = structlog.get_logger("playpen.trainer")
#: while rank 0 waits for episodes it tells the other ranks so this often, well within any collective's timeout
IDLE_COMMAND_S = 60.0


async def _train(trainer: Trainer, servicer: TrainerServicer, metrics: TrainerMetrics,
                 stopping: asyncio.Event) -> None:
    while not stopping.is_set():
        servicer.arrived.clear()
        with bound_contextvars(step=trainer.step + 1):
            report = await asyncio.to_thread(trainer.train_step)
        if report is None:
            # Not enough complete groups yet (a stop request also wakes us).
            while not servicer.arrived.is_set():
                try:
                    await asyncio.wait_for(servicer.arrived.wait(), IDLE_COMMAND_S)
                except TimeoutError:
                    if trainer.world.size > 1:
                        await asyncio.to_thread(trainer.idle)
            continue
        metrics.record(report)
        metrics.version.set(trainer.version)
        servicer.consumed.set()


def follow(settings: TrainerSettings) -> None:
    """A rank other than 0: set up like rank 0, then compute what it says until it says stop. A stop signal is
    rank 0's to act on (it finishes the step in progress, which needs every rank), so it is only logged here;
    if rank 0 is gone, torchrun ends this process."""
    from playpen_trainer.distributed import world_from_env

    configure_logging(settings.log_level, settings.log_format)
    for number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(number, lambda signum, frame: log.info("stop signal; waiting for rank 0's stop", signal=signum))
    # The first process of every other pod answers the kubelet's probes on the trainer's port (health only):
    # NOT_SERVING while it meets the other ranks and sets up its model. Processes beside rank 0 in rank 0's pod
    # leave the port to it. With TLS the probes ask the plaintext health port (--health-port) instead.
    probe_port = settings.health_port if settings.health_port >= 0 else settings.port
    health = _health_server(probe_port) if int(os.environ.get("LOCAL_RANK", "0")) == 0 else None
    world, device = world_from_env(settings.device, settings.dist_timeout_s)
    trainer = Trainer(settings, None, None, world, device)
    trainer.setup()
    if health is not None:
        health[1].set("", health_pb2.HealthCheckResponse.SERVING)
    trainer.follow()
    if health is not None:
        health[1].enter_graceful_shutdown()
        health[0].stop(grace=1).wait()
    world.close()
    log.info("rank stopped", rank=world.rank)


def _health_server(port: int):
    from concurrent.futures import ThreadPoolExecutor

    import grpc
    from grpc_health.v1 import health

    server = grpc.server(ThreadPoolExecutor(max_workers=2))
    servicer = health.HealthServicer()
    servicer.set("", health_pb2.HealthCheckResponse.NOT_SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    bound = server.add_insecure_port(f"[::]:{port}")
    server.start()
    # The announcement every service makes once its ports are bound (the launcher reads it); health only here.
    log.info("serving", service="trainer", port=bound, metrics_port=-1, services=[health.SERVICE_NAME], ready=False)
    return server, servicer


async def serve(settings: TrainerSettings) -> None:
    from playpen_trainer.distributed import world_from_env

    configure_logging(settings.log_level, settings.log_format)
    metrics = TrainerMetrics()
    store = EpisodeStore(settings.data_dir / "episodes.db")
    publisher = CheckpointPublisher(settings.data_dir, base_model=settings.adapter_base,
                                    config_hash=config_hash(settings), keep_last=settings.keep_last)
    publisher.bind(asyncio.get_running_loop())
    trainer = Trainer(settings, store, publisher)
    servicer = TrainerServicer(trainer, store, publisher, metrics, max_buffered=settings.max_buffered,
                               episode_limits=validation.episode_limits(settings.max_message_bytes))
    service = GrpcService("trainer", settings, metrics)
    # An episode beyond its bounds is refused alone (a REJECTED ack), not with the whole stream.
    service.add(trainer_pb2_grpc.add_TrainerServiceServicer_to_server, servicer, SERVICE_NAME,
                limits=Limits(skip=frozenset({"episode"})))
    stopping = asyncio.Event()
    training: asyncio.Task | None = None

    async def finish_training() -> None:
        # Let the step in progress finish (its thread cannot be interrupted) before the store closes; then the
        # other ranks stop.
        stopping.set()
        servicer.arrived.set()
        if training is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await training
        if trainer.world.size > 1 and trainer.model is not None:
            try:
                await asyncio.to_thread(trainer.stop_followers)
                await asyncio.to_thread(trainer.world.close)
            except RuntimeError as error:  # a rank is gone (gloo and NCCL raise RuntimeErrors)
                log.error("could not stop the other ranks", error=str(error))

    service.on_shutdown(lambda: asyncio.to_thread(store.close))
    service.on_shutdown(finish_training)  # hooks run last-registered first
    service.install_signal_handlers()
    await service.start(ready=False)
    world, device = await asyncio.to_thread(world_from_env, settings.device, settings.dist_timeout_s)
    trainer.world, trainer.device = world, device
    await asyncio.to_thread(trainer.setup)
    metrics.version.set(trainer.version)
    metrics.step.set(trainer.step)
    metrics.last_step.set(trainer.last_step_at or time.time())  # a fresh process counts from its start
    training = asyncio.create_task(_train(trainer, servicer, metrics, stopping))
    await service.set_serving(True)
    stopped = asyncio.create_task(service.wait())
    await asyncio.wait({stopped, training}, return_when=asyncio.FIRST_COMPLETED)
    if training.done() and not stopping.is_set() and training.exception() is not None:
        log.error("training failed", exc_info=training.exception())
        await service.stop(reason="training failed")
        raise SystemExit(1)
    await stopped
