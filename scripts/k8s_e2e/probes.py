"""The kubelet's probes, executed as it would: gRPC health, HTTP GET, TCP and exec, at the rendered periods,
timeouts and thresholds. A startup probe that reaches its failure threshold, or a container that exits while
it is being probed, fails the run (a kubelet would restart it forever)."""

from __future__ import annotations

import socket
import time
import urllib.request
from dataclasses import dataclass
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from k8s_e2e.podman import Podman
from k8s_e2e.pods import RunningPod


class ProbeFailed(RuntimeError):
    pass


@dataclass
class ProbeRecord:
    pod: str
    container: str
    kind: str  # startupProbe, readinessProbe
    attempts: int
    seconds: float


def probe_once(podman: Podman, running: RunningPod, container: str, probe: dict[str, Any]) -> bool:
    ip = podman.ip(running.containers[container])
    timeout = float(probe.get("timeoutSeconds", 1))
    try:
        if "grpc" in probe:
            port = running.plan.port(probe["grpc"]["port"])
            with grpc.insecure_channel(f"{ip}:{port}") as channel:
                answer = health_pb2_grpc.HealthStub(channel).Check(
                    health_pb2.HealthCheckRequest(service=probe["grpc"].get("service", "")), timeout=timeout)
            return answer.status == health_pb2.HealthCheckResponse.SERVING
        if "httpGet" in probe:
            get = probe["httpGet"]
            url = f"http://{ip}:{running.plan.port(get['port'])}{get.get('path', '/')}"
            with urllib.request.urlopen(url, timeout=timeout) as response:
                return 200 <= response.status < 400
        if "tcpSocket" in probe:
            with socket.create_connection((ip, running.plan.port(probe["tcpSocket"]["port"])), timeout=timeout):
                return True
        if "exec" in probe:
            return podman("exec", running.containers[container], *probe["exec"]["command"], check=False,
                          timeout=timeout + 5).returncode == 0
    except (grpc.RpcError, OSError):
        return False
    raise ProbeFailed(f"{running.plan.name}/{container}: probe {sorted(probe)} is not emulated")


def _alive(podman: Podman, running: RunningPod, container: str) -> None:
    """Running, and never restarted: a container that exits while it is probed would crash-loop in a cluster."""
    details = podman.inspect(running.containers[container])
    state = details["State"]
    if not state.get("Running") or state.get("Restarting") or details.get("RestartCount", 0):
        raise ProbeFailed(f"{running.plan.name}/{container} exited (code {state.get('ExitCode')}, restarts "
                          f"{details.get('RestartCount', 0)}) while being probed:\n"
                          f"{podman.logs(running.containers[container])}")


class ProbePending(ProbeFailed):
    """Not passed yet, but the kubelet's budget is not spent either (the runner stopped waiting early)."""


def wait_for(podman: Podman, running: RunningPod, container: str, kind: str, probe: dict[str, Any],
             *, patience_s: float | None = None, give_up_s: float | None = None) -> ProbeRecord:
    """Probe until it passes. A startup probe has the kubelet's budget, counted from the container's start
    (initialDelaySeconds + periodSeconds × failureThreshold): spent, the run fails. A readiness probe gets
    `patience_s`. `give_up_s` stops waiting earlier with ProbePending (to start the next pod meanwhile)."""
    period = float(probe.get("periodSeconds", 10))
    delay = float(probe.get("initialDelaySeconds", 0))
    if kind == "startupProbe":
        deadline = running.started_at + delay + period * int(probe.get("failureThreshold", 3))
    else:
        deadline = time.monotonic() + (patience_s or 300)
    stop_at = deadline if give_up_s is None else min(deadline, time.monotonic() + give_up_s)
    time.sleep(max(0.0, running.started_at + delay - time.monotonic()))
    attempts = 0
    while True:
        _alive(podman, running, container)
        attempts += 1
        began = time.monotonic()
        if probe_once(podman, running, container, probe):
            return ProbeRecord(running.plan.name, container, kind, attempts, time.monotonic() - running.started_at)
        if time.monotonic() + period > stop_at:
            if stop_at < deadline:
                raise ProbePending(f"{running.plan.name}/{container}: {kind} not passed yet")
            raise ProbeFailed(f"{running.plan.name}/{container}: {kind} failed {attempts} times "
                              f"({time.monotonic() - running.started_at:.0f} s after the start); last log lines:\n"
                              f"{podman.logs(running.containers[container])}")
        time.sleep(max(0.0, period - (time.monotonic() - began)))


def wait_ready(podman: Podman, running: RunningPod, readiness_patience_s: float = 300,
               started: dict[str, ProbeRecord] | None = None) -> list[ProbeRecord]:
    """Every container of the pod: its startup probe (unless `started` holds its pass), then its readiness probe."""
    records = []
    for spec in running.plan.containers():
        name = spec["name"]
        if started and name in started:
            records.append(started[name])
        elif "startupProbe" in spec:
            records.append(wait_for(podman, running, name, "startupProbe", spec["startupProbe"]))
        if "readinessProbe" in spec:
            records.append(wait_for(podman, running, name, "readinessProbe", spec["readinessProbe"],
                                    patience_s=readiness_patience_s))
        if not set(spec) & {"startupProbe", "readinessProbe"}:
            time.sleep(5)  # nothing to probe: it must at least stay up
            _alive(podman, running, name)
    return records
