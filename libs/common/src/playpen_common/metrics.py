"""Prometheus metrics on an isolated registry per service, served on /metrics.

Every service gets `playpen_<service>_last_progress_timestamp_seconds`, which it bumps whenever it
makes progress (an episode finished, a step taken), so a stall can alert.
"""

from __future__ import annotations

import time
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server


class ServiceMetrics:
    """Base for a service's metrics; subclasses declare theirs with `counter`/`gauge`/`histogram`."""

    def __init__(self, service: str, registry: CollectorRegistry | None = None):
        self.service = service
        self.registry = registry or CollectorRegistry(auto_describe=True)
        self.last_progress = self.gauge("last_progress_timestamp_seconds",
                                        "Unix time of the service's last unit of progress")
        self.info = self.gauge("build_info", "Always 1; labels describe the running service", ["version"])
        self._server: WSGIServer | None = None

    def _name(self, name: str) -> str:
        return f"playpen_{self.service}_{name}"

    def counter(self, name: str, doc: str, labels: list[str] | tuple[str, ...] = ()) -> Counter:
        return Counter(self._name(name), doc, list(labels), registry=self.registry)

    def gauge(self, name: str, doc: str, labels: list[str] | tuple[str, ...] = ()) -> Gauge:
        return Gauge(self._name(name), doc, list(labels), registry=self.registry)

    def histogram(self, name: str, doc: str, labels: list[str] | tuple[str, ...] = (),
                  buckets: tuple[float, ...] = Histogram.DEFAULT_BUCKETS) -> Histogram:
        return Histogram(self._name(name), doc, list(labels), registry=self.registry, buckets=buckets)

    def progressed(self) -> None:
        self.last_progress.set(time.time())

    def serve(self, port: int, addr: str = "0.0.0.0") -> int:
        """Start the /metrics endpoint in a daemon thread; returns the bound port (port 0 picks one)."""
        self._server, _thread = start_http_server(port, addr=addr, registry=self.registry)
        return int(self._server.server_port)

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
