"""The Helm chart renders, lints and validates offline, and its env names real settings.

scripts/k8s_check.py needs the tools in .venv-k8s (`make k8s-check` creates it); without that venv these
tests skip, except under CI (CI=true), whose .ci/run creates it first.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from playpen_gamemaster.settings import GameMasterSettings
from playpen_policy.settings import PolicySettings
from tests.conftest import REPO_ROOT

K8S_PYTHON = REPO_ROOT / ".venv-k8s" / "bin" / "python"
CHECK = REPO_ROOT / "scripts" / "k8s_check.py"
CHART = REPO_ROOT / "k8s" / "helm" / "playpen"
SETTINGS = {"PLAYPEN_GAMEMASTER_": GameMasterSettings, "PLAYPEN_POLICY_": PolicySettings}


def run_check(*args: str) -> subprocess.CompletedProcess:
    if not K8S_PYTHON.exists():
        message = f"{K8S_PYTHON} not found: run `make k8s-check` once to install the chart tools"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message + " — under CI this must not be skipped")
        pytest.skip(message)
    return subprocess.run([str(K8S_PYTHON), str(CHECK), *args], capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> dict[str, list[dict]]:
    dump = tmp_path_factory.mktemp("rendered")
    result = run_check("--dump", str(dump))
    assert result.returncode == 0, result.stdout + result.stderr
    return {path.stem: json.loads(path.read_text()) for path in dump.glob("*.json")}


def test_chart_passes_lint_strict_schemas_and_consistency(rendered) -> None:
    assert set(rendered) == {"default", "gpu"}
    gpu_policy = next(o for o in rendered["gpu"] if o["kind"] == "Deployment" and o["metadata"]["name"].endswith(
        "-policy"))
    assert gpu_policy["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == 1


def test_every_env_variable_names_a_setting_of_its_service(rendered) -> None:
    for objects in rendered.values():
        for deployment in (o for o in objects if o["kind"] == "Deployment"):
            for container in deployment["spec"]["template"]["spec"]["containers"]:
                for variable in container["env"]:
                    prefix = next(p for p in SETTINGS if variable["name"].startswith(p))
                    field = variable["name"].removeprefix(prefix).lower()
                    assert field in SETTINGS[prefix].model_fields, f"{variable['name']} is no setting"


def test_strict_validation_rejects_an_unknown_field(tmp_path: Path) -> None:
    chart = shutil.copytree(CHART, tmp_path / "playpen")
    service = chart / "templates" / "policy-service.yaml"
    service.write_text(service.read_text().replace("  clusterIP: None", "  clusterIP: None\n  clusterIp: None"))
    result = run_check("--chart", str(chart))
    assert result.returncode == 1
    assert "'clusterIp' was unexpected" in result.stdout
