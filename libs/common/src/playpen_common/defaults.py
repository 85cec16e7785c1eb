"""Defaults that several services, tools and the chart share — each defined here and nowhere else.

Settings classes, scripts and tests take them from here; the Dockerfiles' EXPOSE lines and the Helm chart's
values cannot import Python, so a unit test checks that they agree with these numbers.
"""

from __future__ import annotations

from pathlib import Path

#: the model of the embedded default, converted once by `playpen-policy-setup` (`make setup`)
DEFAULT_MODEL_NAME = "SmolLM2-135M-Instruct"

#: service -> (gRPC port, Prometheus /metrics port); the self-play actor serves metrics only
PORTS: dict[str, tuple[int | None, int]] = {
    "gamemaster": (50051, 9101),
    "policy": (50052, 9102),
    "trainer": (50053, 9103),
    "evaluator": (50054, 9104),
    "selfplay": (None, 9105),
}
#: the evaluator's own policy process (a second PolicyService on one host; in a cluster, its own Service)
EVAL_POLICY_PORT = 50055


def default_model_dir() -> Path:
    """Where `make setup` puts the embedded default's model: ~/.cache/playpen/models/<name> (read when called)."""
    return Path.home() / ".cache" / "playpen" / "models" / DEFAULT_MODEL_NAME


def grpc_port(service: str) -> int:
    port = PORTS[service][0]
    if port is None:
        raise KeyError(f"{service} serves no gRPC")
    return port


def metrics_port(service: str) -> int:
    return PORTS[service][1]


def local_target(service: str) -> str:
    """host:port of a service on this machine at its default port."""
    return f"localhost:{grpc_port(service)}"
