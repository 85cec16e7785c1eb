"""A real Prometheus (Debian's package) scraping every container the way the chart tells a cluster's Prometheus
to: the pods' prometheus.io/{scrape,port,path} annotations and, where rendered, the ServiceMonitor's endpoints
(port name and path). The targets are static (there is no API server to discover them from), the addresses
the containers' own. Then every query of the shipped Grafana dashboard must return finite data."""

from __future__ import annotations

import json
import math
import shutil
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path

from k8s_e2e.cluster import RenderedRelease
from k8s_e2e.podman import Podman
from k8s_e2e.pods import RunningPod


class PrometheusFailed(RuntimeError):
    pass


def scrape_targets(release: RenderedRelease, running: list[RunningPod], podman: Podman) -> list[dict]:
    """One static target per scraped pod, with job/pod labels like kubernetes_sd's relabelling would give."""
    monitored = {}
    for monitor in release.of_kind("ServiceMonitor"):
        selector = monitor["spec"]["selector"].get("matchLabels", {})
        for service in release.of_kind("Service"):
            if selector.items() <= service["metadata"].get("labels", {}).items():
                for endpoint in monitor["spec"]["endpoints"]:
                    monitored[service["metadata"]["name"]] = endpoint
    targets = []
    for pod in running:
        container = next(iter(pod.containers.values()))
        address = podman.ip(container)
        annotations = pod.plan.annotations
        if annotations.get("prometheus.io/scrape") == "true":
            targets.append({"address": f"{address}:{annotations['prometheus.io/port']}",
                            "path": annotations.get("prometheus.io/path", "/metrics"), "pod": pod.plan.name,
                            "job": pod.plan.workload["metadata"]["name"], "via": "annotations"})
        for service in {a for a in pod.plan.aliases if "." not in a}:
            endpoint = monitored.get(service)
            if endpoint:
                targets.append({"address": f"{address}:{pod.plan.port(endpoint['port'])}",
                                "path": endpoint.get("path", "/metrics"), "pod": pod.plan.name, "job": service,
                                "via": "servicemonitor"})
    return targets


class Prometheus:
    def __init__(self, workdir: Path, targets: list[dict], interval_s: int = 5):
        if shutil.which("prometheus") is None:
            raise PrometheusFailed("prometheus is not installed (Debian: apt-get install prometheus)")
        self.workdir, self.targets = workdir, targets
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        jobs = []
        for index, target in enumerate(targets):
            jobs.append({"job_name": f"{target['via']}-{index}", "metrics_path": target["path"],
                         "scrape_interval": f"{interval_s}s",
                         "static_configs": [{"targets": [target["address"]],
                                             "labels": {"pod": target["pod"], "service": target["job"]}}]})
        (workdir / "prometheus.yml").write_text(json.dumps({"global": {"scrape_interval": f"{interval_s}s"},
                                                            "scrape_configs": jobs}))
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.log = open(self.workdir / "prometheus.log", "w")
        self.process = subprocess.Popen(
            ["prometheus", f"--config.file={self.workdir / 'prometheus.yml'}",
             f"--storage.tsdb.path={self.workdir / 'tsdb'}", f"--web.listen-address=127.0.0.1:{self.port}"],
            stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/-/ready", timeout=2):
                    return
            except OSError:
                time.sleep(1)
        raise PrometheusFailed("prometheus did not become ready")

    def _get(self, path: str, **params) -> dict:
        url = f"http://127.0.0.1:{self.port}{path}?{urllib.parse.urlencode(params)}"
        with urllib.request.urlopen(url, timeout=30) as response:
            return json.loads(response.read())["data"]

    def targets_up(self, timeout_s: float = 60) -> dict[str, str]:
        """scrape URL -> health, once every target has been scraped (or the timeout passed)."""
        deadline = time.monotonic() + timeout_s
        while True:
            active = self._get("/api/v1/targets")["activeTargets"]
            health = {t["scrapeUrl"]: t["health"] for t in active}
            if (len(health) == len(self.targets) and all(h == "up" for h in health.values())) \
                    or time.monotonic() > deadline:
                return health
            time.sleep(2)

    def query(self, expression: str) -> list[float]:
        result = self._get("/api/v1/query", query=expression)["result"]
        return [float(item["value"][1]) for item in result]

    def check_dashboard(self, dashboard: dict, timeout_s: float = 600) -> dict[str, int]:
        """Every panel query -> number of finite series it returns. Rates and increases need two scrapes that
        straddle an event, so queries are asked again (every 10 s, while the loop goes on) until each has
        returned data once; one that never does within timeout_s fails."""
        queries = [(panel["title"], target["expr"]) for panel in dashboard.get("panels", [])
                   for target in panel.get("targets", [])]
        found: dict[str, int] = {}
        deadline = time.monotonic() + timeout_s
        while True:
            for title, expression in queries:
                key = f"{title}: {expression}"
                if not found.get(key):
                    found[key] = len([v for v in self.query(expression) if math.isfinite(v)])
            empty = [key for key, count in found.items() if not count]
            if not empty:
                return found
            if time.monotonic() > deadline:
                raise PrometheusFailed("dashboard queries without data: " + "; ".join(empty))
            time.sleep(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.process = None
