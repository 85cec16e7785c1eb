"""Start Playpen services as local subprocesses on port 0, wait on their health RPC, stop them by PID.

Used by `make run` to bring the services up on one machine, and by the integration tests.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

BIN = Path(sys.executable).parent


class ServiceFailed(RuntimeError):
    pass


@dataclass
class Service:
    name: str
    process: subprocess.Popen
    log_path: Path
    grpc_port: int = 0
    metrics_port: int = -1
    # The plaintext health-only port (--health-port), if the service has one: how a TLS service is waited on.
    health_port: int = -1
    token_port: int = -1
    _reader: threading.Thread | None = field(default=None, repr=False)

    @property
    def target(self) -> str:
        return f"localhost:{self.grpc_port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, timeout: float = 20.0) -> int:
        """SIGTERM, then SIGKILL if it does not exit in time; returns the exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        if self._reader is not None:
            self._reader.join(5)
        return self.process.returncode


def start(name: str, command: list[str], workdir: Path, *, env: dict[str, str] | None = None,
          timeout: float = 60.0, wait_ready: bool = True) -> Service:
    """Run `command` (a console script of this environment, then its flags) on free ports and wait until
    its health service says SERVING (or, with wait_ready=False, only until it has bound its ports). Its log
    goes to <workdir>/<name>.log."""
    log_path = Path(workdir) / f"{name}.log"
    executable = BIN / command[0]
    argv = [str(executable if executable.exists() else command[0]), *command[1:],
            "--port", "0", "--metrics-port", "0", "--log-format", "json"]
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               env={**os.environ, **(env or {})}, start_new_session=True)
    service = Service(name, process, log_path)
    bound = threading.Event()

    def pump() -> None:
        # Copies the child's log to a file and notices the line announcing its ports.
        with open(log_path, "w") as sink:
            assert process.stdout is not None
            for line in process.stdout:
                sink.write(line)
                sink.flush()
                if not bound.is_set() and '"serving"' in line:
                    try:
                        record = json.loads(line)
                    except json.JSONDecodeError:
                        continue
                    service.grpc_port, service.metrics_port = record["port"], record["metrics_port"]
                    service.health_port = record.get("health_port", -1)
                    service.token_port = record.get("token_port", -1)
                    bound.set()
        bound.set()

    service._reader = threading.Thread(target=pump, daemon=True)
    service._reader.start()
    try:
        if not bound.wait(timeout) or process.poll() is not None or not service.grpc_port:
            raise ServiceFailed(f"{name} did not bind a port")
        if wait_ready:
            probe = f"localhost:{service.health_port}" if service.health_port > 0 else service.target
            wait_healthy(probe, timeout=timeout, alive=lambda: process.poll() is None)
    except (ServiceFailed, grpc.RpcError) as failure:
        service.stop()
        raise ServiceFailed(f"{name} did not start ({failure}):\n{service.log()[-4000:]}") from None
    return service


def wait_healthy(target: str, *, timeout: float = 60.0, service: str = "",
                 alive: Callable[[], bool] = lambda: True) -> None:
    """Block until the health service reports SERVING (Watch streams each status change)."""
    deadline = time.monotonic() + timeout
    with grpc.insecure_channel(target) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while True:
            remaining = deadline - time.monotonic()
            if not alive():
                raise ServiceFailed(f"{target}: the process exited before it was ready")
            if remaining <= 0:
                raise ServiceFailed(f"{target} not SERVING within {timeout:.0f} s")
            try:
                for update in stub.Watch(health_pb2.HealthCheckRequest(service=service), timeout=remaining):
                    if update.status == health_pb2.HealthCheckResponse.SERVING:
                        return
            except grpc.RpcError as error:
                # A stream cut while the server starts up is watched again; anything else is a failure.
                if error.code() not in (grpc.StatusCode.CANCELLED, grpc.StatusCode.UNAVAILABLE):
                    raise
                time.sleep(0.2)
