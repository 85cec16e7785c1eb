"""Process bootstrap of the game master: logging, metrics, gRPC server, graceful stop."""

from __future__ import annotations

from playpen.gamemaster.v1 import gamemaster_pb2, gamemaster_pb2_grpc
from playpen_common.logging import configure_logging
from playpen_common.server import GrpcService
from playpen_gamemaster import bounds
from playpen_gamemaster.metrics import GameMasterMetrics
from playpen_gamemaster.service import GameMasterServicer
from playpen_gamemaster.settings import GameMasterSettings

SERVICE_NAME = gamemaster_pb2.DESCRIPTOR.services_by_name["GameMasterService"].full_name


async def serve(settings: GameMasterSettings) -> None:
    configure_logging(settings.log_level, settings.log_format)
    metrics = GameMasterMetrics()
    service = GrpcService("gamemaster", settings, metrics)
    servicer = GameMasterServicer(settings, metrics)
    service.add(gamemaster_pb2_grpc.add_GameMasterServiceServicer_to_server, servicer, SERVICE_NAME,
                limits=bounds.limits(settings.max_reply_chars))
    service.on_shutdown(servicer.close)
    service.install_signal_handlers()
    await service.start()
    await service.wait()
