"""Podman, as the runner uses it: every object it creates carries the run's prefix and is removed by name at the
end (never anything else). CONTAINERS_CONF defaults to k8s/images/containers.conf (see there)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


class PodmanError(RuntimeError):
    pass


class Podman:
    def __init__(self, prefix: str, engine: str = "podman"):
        self.prefix, self.engine = prefix, engine
        self.env = {**os.environ}
        self.env.setdefault("CONTAINERS_CONF", str(REPO / "k8s" / "images" / "containers.conf"))
        self.pods: list[str] = []
        self.volumes: list[str] = []
        self.network = f"{prefix}-net"

    def __call__(self, *args: str, check: bool = True, timeout: float = 600) -> subprocess.CompletedProcess:
        result = subprocess.run([self.engine, *args], capture_output=True, text=True, env=self.env, timeout=timeout)
        if check and result.returncode != 0:
            raise PodmanError(f"{self.engine} {' '.join(args[:3])} …: {result.stderr.strip()[-1500:]}")
        return result

    def create_network(self) -> None:
        self("network", "rm", "-f", self.network, check=False)
        self("network", "create", self.network)

    def create_volume(self, name: str, *, uid: int | None = None, gid: int | None = None,
                      memory: bool = False) -> str:
        """A named volume owned by uid:gid (as the kubelet makes an emptyDir writable by fsGroup). A memory-backed
        one is a tmpfs; its sizeLimit is not applied (Podman reads size= as a disk quota), as the kubelet counts
        it toward the container's memory limit instead."""
        full = f"{self.prefix}-{name}"
        if full in self.volumes:
            return full
        options = ["--opt", "type=tmpfs", "--opt", "device=tmpfs"] if memory else []
        ownership = ",".join(f"{k}={v}" for k, v in (("uid", uid), ("gid", gid)) if v is not None)
        if ownership:
            options += ["--opt", f"o={ownership}"]
        self("volume", "rm", "-f", full, check=False)
        self("volume", "create", *options, full)
        self.volumes.append(full)
        return full

    def create_pod(self, name: str, aliases: list[str]) -> str:
        full = f"{self.prefix}-{name}"
        self("pod", "rm", "-f", full, check=False)
        self("pod", "create", "--name", full, "--network", self.network,
             *(f"--network-alias={alias}" for alias in aliases))
        self.pods.append(full)
        return full

    def inspect(self, container: str) -> dict:
        return json.loads(self("inspect", container).stdout)[0]

    def ip(self, container: str) -> str:
        networks = self.inspect(container)["NetworkSettings"]["Networks"]
        return networks[self.network]["IPAddress"]

    def state(self, container: str) -> dict:
        return self.inspect(container)["State"]

    def logs(self, container: str, tail: int = 40) -> str:
        result = self("logs", "--tail", str(tail), container, check=False)
        return (result.stdout + result.stderr).strip()

    def cleanup(self) -> None:
        for pod in reversed(self.pods):
            self("pod", "rm", "-f", "-t", "0", pod, check=False, timeout=120)
        for volume in self.volumes:
            self("volume", "rm", "-f", volume, check=False)
        self("network", "rm", "-f", self.network, check=False)
