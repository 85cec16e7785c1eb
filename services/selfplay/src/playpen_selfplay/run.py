"""The process around the actor: logging, the metrics endpoint, signals, and what it prints and returns."""

from __future__ import annotations

import asyncio
import signal
import sys
from dataclasses import asdict

import grpc

from playpen_common.logging import configure_logging
from playpen_selfplay.actor import SelfPlay, Summary
from playpen_selfplay.metrics import SelfPlayMetrics
from playpen_selfplay.progress import progress
from playpen_selfplay.rounds import RoundReport, SelfPlayError
from playpen_selfplay.settings import SelfPlaySettings


def run(settings: SelfPlaySettings) -> int:
    """0 when a budget ended the run or it was stopped by a signal; 1 on an error it could not retry."""
    configure_logging(settings.log_level, settings.log_format)
    metrics = SelfPlayMetrics()
    if settings.metrics_port >= 0:
        port = metrics.serve(settings.metrics_port)
        progress("metrics", port=port)

    def report(round_report: RoundReport) -> None:
        progress("round", **asdict(round_report))

    async def go() -> Summary:
        actor = SelfPlay(settings, metrics=metrics, on_round=report)
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, actor.stop)
        return await actor.run()

    try:
        summary = asyncio.run(go())
    except SelfPlayError as error:
        print(f"playpen-selfplay: {error}", file=sys.stderr)
        return 1
    except grpc.aio.AioRpcError as error:
        print(f"playpen-selfplay: {error.code().name}: {error.details()}", file=sys.stderr)
        return 1
    finally:
        metrics.close()
    progress("stopped", rounds=summary.rounds, episodes=summary.episodes, acks=dict(summary.acks),
             seconds=round(summary.seconds, 1), trainer_step=summary.trainer_step, stopped_by=summary.stopped_by)
    return 0
