"""Helpers of the integration tests that start several services: metrics scraping, polling, checkpoints."""

from __future__ import annotations

import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from playpen.common.v1 import checkpoint_pb2
from playpen_common import launcher
from playpen_common.checkpoints import commit_manifest, version_dir


def checkpoint(root: Path, version: int) -> checkpoint_pb2.CheckpointRef:
    """A committed full checkpoint of `version` under `root` (a scripted policy verifies, then "loads" it)."""
    directory = version_dir(root, version)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "model.safetensors").write_bytes(f"weights of version {version}".encode())
    return commit_manifest(directory, checkpoint_pb2.CheckpointRef(
        version=version, kind=checkpoint_pb2.CHECKPOINT_KIND_FULL, step=10 * version))


def scrape(service: launcher.Service) -> dict[str, float]:
    """Every sample of a service's /metrics as 'name{label="value",...}' -> value."""
    text = urllib.request.urlopen(f"http://localhost:{service.metrics_port}/metrics", timeout=10).read().decode()
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
            samples[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return samples


def total(samples: dict[str, float], prefix: str) -> float:
    """The sum of every sample whose key starts with `prefix` (a metric name, maybe with leading labels)."""
    return sum(value for key, value in samples.items() if key.startswith(prefix))


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)
