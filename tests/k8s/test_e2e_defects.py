"""`make k8s-e2e` fails on a defect planted in the chart, because it runs the chart's own pods: nothing of the
configuration is the runner's. Each case starts only the pod concerned (--only) from a copy of the chart; the
unplanted copy passes the same way, so a failure is the defect's."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT, unavailable

pytestmark = pytest.mark.k8s

CHART = REPO_ROOT / "k8s" / "helm" / "playpen"
CONTAINERS_CONF = REPO_ROOT / "k8s" / "images" / "containers.conf"


def image_exists(name: str) -> bool:
    env = {"CONTAINERS_CONF": str(CONTAINERS_CONF), **os.environ}
    return subprocess.run(["podman", "image", "exists", name], env=env).returncode == 0


@pytest.fixture(scope="module", autouse=True)
def prerequisites() -> None:
    if shutil.which("podman") is None:
        unavailable("podman is not installed (make setup-containers)")
    if not (REPO_ROOT / ".venv-k8s" / "bin" / "python").exists():
        unavailable(".venv-k8s not found (make k8s-check installs it)")
    for image in ("playpen-gamemaster:0.1.0", "playpen-policy:0.1.0", "playpen-model-smollm2:0.1.0"):
        if not image_exists(image):
            unavailable(f"image {image} not built (make images)")


def e2e(tmp_path: Path, chart: Path, only: str, timeout_s: float = 600) -> tuple[int, dict, str]:
    result = subprocess.run(
        [sys.executable, "-m", "k8s_e2e", "--profiles", "default", "--only", only, "--chart", str(chart),
         "--stagger-s", "0"], capture_output=True, text=True, timeout=timeout_s,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT / "scripts")}, cwd=tmp_path)
    summary = json.loads(result.stdout[result.stdout.index("{"):result.stdout.rindex("}") + 1])
    return result.returncode, summary, result.stderr


def planted(tmp_path: Path, template: str, old: str, new: str) -> Path:
    chart = shutil.copytree(CHART, tmp_path / "playpen")
    path = chart / "templates" / template
    assert old in path.read_text(), f"{template} no longer holds {old!r}"
    path.write_text(path.read_text().replace(old, new, 1))
    return chart


def test_the_unplanted_chart_passes(tmp_path) -> None:
    code, summary, stderr = e2e(tmp_path, CHART, "gamemaster")
    assert code == 0, stderr
    assert summary["probes_passed"] == 2 and summary["exit_codes"] == {"playpen-gamemaster-0-gamemaster": 0}


def test_a_wrong_port_in_a_probe_fails_the_run(tmp_path) -> None:
    probe = '{{ include "playpen.probePort" (dict "ctx" $ "service" $gm) }}'
    chart = planted(tmp_path, "gamemaster-deployment.yaml", f"startupProbe:\n            grpc: {{port: {probe}}}",
                    f"startupProbe:\n            grpc: {{port: {{{{ add ({probe[3:-3]}) 1 }}}}}}")
    code, summary, stderr = e2e(tmp_path, chart, "gamemaster")
    assert code == 1 and not summary["ok"] and summary["probes_passed"] == 0
    assert "playpen-gamemaster-0/gamemaster: startupProbe failed" in stderr


def test_a_missing_mount_that_the_read_only_root_needs_fails_the_run(tmp_path) -> None:
    # The model's init container without its /models volume: it would write into the read-only root.
    chart = planted(tmp_path, "_helpers.tpl", "    volumeMounts:\n      - name: model\n        mountPath: /models\n",
                    "    volumeMounts:\n")
    code, summary, stderr = e2e(tmp_path, chart, "policy")
    assert code == 1 and not summary["ok"] and summary["exit_codes"] == {}
    assert "init container model of playpen-policy-0 exited 1" in stderr and "Read-only file system" in stderr
