"""Helpers of the reliability tests and `make bench-robustness`: memory of a process, a health watcher that
timestamps every status change, and a SIGTERM drain check shared by every service's test."""

from __future__ import annotations

import json
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from playpen_common import launcher

REPO = Path(__file__).resolve().parents[2]
TOOLS = REPO / ".venv" / "bin"
MIB = 1 << 20


def rss_bytes(pid: int, *, peak: bool = False) -> int:
    """Resident memory of `pid` now (VmRSS) or its high-water mark (VmHWM), from /proc."""
    key = "VmHWM:" if peak else "VmRSS:"
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key):
            return int(line.split()[1]) * 1024
    raise ValueError(f"no {key} for process {pid}")


def serving(target: str, timeout: float = 10.0) -> bool:
    with grpc.insecure_channel(target) as channel:
        reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=timeout)
    return reply.status == health_pb2.HealthCheckResponse.SERVING


@dataclass
class HealthWatch:
    """Follows a server's overall health on a Watch stream in a thread; `changes` holds (monotonic time, status
    name) for every update, the first one SERVING."""

    target: str
    changes: list[tuple[float, str]] = field(default_factory=list)
    ended: str = ""  # "OK" once the server ended the stream, else the status it failed with
    _seen: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self._channel = grpc.insecure_channel(self.target)
        self._thread = threading.Thread(target=self._follow, daemon=True)
        self._thread.start()
        if not self._seen.wait(30):
            raise AssertionError(f"no health status from {self.target}")

    def _follow(self) -> None:
        stub = health_pb2_grpc.HealthStub(self._channel)
        try:
            for update in stub.Watch(health_pb2.HealthCheckRequest(), timeout=600):
                self.changes.append((time.monotonic(), health_pb2.HealthCheckResponse.ServingStatus.Name(
                    update.status)))
                self._seen.set()
            self.ended = "OK"
        except grpc.RpcError as error:
            self.ended = error.code().name  # the server went away: what it said before is recorded
        finally:
            self._seen.set()

    def first(self, status: str) -> float | None:
        return next((when for when, name in self.changes if name == status), None)

    def close(self) -> None:
        self._channel.close()
        self._thread.join(10)


@dataclass
class Drain:
    """What a SIGTERM drain did: seconds until health said NOT_SERVING, whether the in-flight call succeeded, and
    the exit status."""

    not_serving_s: float | None
    in_flight_ok: bool
    in_flight_error: str
    exit_status: int | None
    stopped_logged: bool

    def as_dict(self) -> dict:
        return {"not_serving_s": self.not_serving_s, "in_flight_ok": self.in_flight_ok,
                "exit_status": self.exit_status}


def sigterm_drain(service: launcher.Service, in_flight: Callable[[], object], started: Callable[[], bool],
                  *, timeout: float = 120.0, signalled: threading.Event | None = None) -> Drain:
    """Start `in_flight` (a blocking call) in a thread, wait until `started()` says the server is working on it,
    SIGTERM the service (then set `signalled`, for a client stream that goes on sending), and record how the
    drain went."""
    watch = HealthWatch(service.target)
    outcome: dict[str, object] = {}

    def run() -> None:
        try:
            outcome["value"] = in_flight()
        except Exception as error:  # noqa: BLE001 - recorded, judged by the caller
            outcome["error"] = f"{type(error).__name__}: {error}"

    caller = threading.Thread(target=run, daemon=True)
    caller.start()
    deadline = time.monotonic() + timeout
    while not started():
        if time.monotonic() > deadline or not caller.is_alive():
            raise AssertionError(f"the in-flight call never started: {outcome}\n{service.log()[-2000:]}")
        time.sleep(0.02)
    sent_at = time.monotonic()
    service.process.send_signal(signal.SIGTERM)
    if signalled is not None:
        signalled.set()
    caller.join(timeout)
    try:
        exit_status = service.process.wait(timeout)
    except subprocess.TimeoutExpired:
        exit_status = None
    watch.close()
    not_serving = watch.first("NOT_SERVING")
    log = service.log()
    return Drain(not_serving_s=None if not_serving is None else not_serving - sent_at,
                 in_flight_ok="value" in outcome and not caller.is_alive(),
                 in_flight_error=str(outcome.get("error", "")), exit_status=exit_status,
                 stopped_logged='"stopped"' in log)


def log_events(service: launcher.Service, event: str) -> list[dict]:
    """The JSON log records of `service` whose event is `event`."""
    records = []
    for line in service.log().splitlines():
        if f'"{event}"' in line:
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return records
