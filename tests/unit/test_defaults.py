"""Each shared default is defined once (playpen_common.defaults); what cannot import it must agree with it."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from playpen_common.defaults import PORTS, default_model_dir
from playpen_evaluator.settings import EvaluatorSettings
from playpen_gamemaster.settings import GameMasterSettings
from playpen_policy.settings import PolicySettings
from playpen_selfplay.settings import SelfPlaySettings
from tests.conftest import REPO_ROOT

SETTINGS = {"gamemaster": GameMasterSettings, "policy": PolicySettings, "evaluator": EvaluatorSettings,
            "selfplay": SelfPlaySettings}


@pytest.mark.parametrize("service", sorted(PORTS))
def test_dockerfile_exposes_the_default_ports(service) -> None:
    dockerfile = (REPO_ROOT / "services" / service / "Dockerfile").read_text()
    exposed = [int(port) for line in re.findall(r"^EXPOSE (.+)$", dockerfile, re.MULTILINE) for port in line.split()]
    assert exposed == [port for port in PORTS[service] if port is not None]


@pytest.mark.parametrize("service", sorted(PORTS))
def test_chart_values_use_the_default_ports(service) -> None:
    values = (REPO_ROOT / "k8s" / "helm" / "playpen" / "values.yaml").read_text()
    section = re.search(rf"^{service}:\n((?:[ #].*\n|\n)+)", values, re.MULTILINE)
    assert section, f"values.yaml has no {service} section"
    grpc, metrics = PORTS[service]
    assert re.search(rf"^  metricsPort: {metrics}$", section.group(1), re.MULTILINE)
    if grpc is not None:
        assert re.search(rf"^  port: {grpc}$", section.group(1), re.MULTILINE)


@pytest.mark.parametrize("service", sorted(SETTINGS))
def test_settings_default_to_the_shared_ports(service, monkeypatch) -> None:
    for variable in [v for v in os.environ if v.startswith("PLAYPEN_")]:
        monkeypatch.delenv(variable)
    settings = SETTINGS[service]()
    grpc, metrics = PORTS[service]
    assert settings.metrics_port == metrics and getattr(settings, "port", None) == grpc


def test_the_model_default_is_read_when_asked(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("PLAYPEN_POLICY_MODEL", raising=False)
    assert default_model_dir() == tmp_path / ".cache" / "playpen" / "models" / "SmolLM2-135M-Instruct"
    assert PolicySettings().model == str(default_model_dir())
    assert Path(PolicySettings().model).parent.name == "models"
