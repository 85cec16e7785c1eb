from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from playpen.gamemaster.v1 import gamemaster_pb2_grpc
from playpen_common import launcher as servers
from tests.conftest import unavailable

pytestmark = pytest.mark.integration

TABOO_SCRIPT = {
    "rules": [
        {"when": r"\AGUESS:", "replies": ["CLUE: you can find it at home", "CLUE: it is very common"]},
        {"when": "You are the describer", "reply": "CLUE: something people often talk about"},
        {"when": r"CLUE:[^\n]*\Z", "replies": ["GUESS: thing", "GUESS: object"]},
    ],
    "default": "no idea",
}


def write_script(path: Path, script: dict) -> Path:
    path.write_text(json.dumps(script))
    return path


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("services")


@pytest.fixture(scope="module")
def policy(workdir: Path) -> Iterator[servers.Service]:
    script = write_script(workdir / "taboo_script.json", TABOO_SCRIPT)
    service = servers.start("policy", ["playpen-policy", "--backend", "scripted", "--script", str(script)], workdir)
    yield service
    service.stop()


@pytest.fixture(scope="module")
def gamemaster(workdir: Path, shared_or_none) -> Iterator[servers.Service]:
    env = {"PLAYPEN_GAMEMASTER_CLEMBENCH_DIR": str(shared_or_none / "clembench")} if shared_or_none else {}
    service = servers.start("gamemaster", ["playpen-gamemaster", "--policy-timeout-s", "10"], workdir, env=env)
    yield service
    service.stop()


@pytest.fixture(scope="module")
def shared_or_none():
    from tests.conftest import shared_dir

    path = shared_dir()
    return path if (path / "clembench").is_dir() else None


@pytest.fixture(scope="module")
def gm_stub(gamemaster: servers.Service) -> Iterator[gamemaster_pb2_grpc.GameMasterServiceStub]:
    with grpc.insecure_channel(gamemaster.target) as channel:
        yield gamemaster_pb2_grpc.GameMasterServiceStub(channel)


POLICY_VENV_BIN = Path(__file__).resolve().parents[2] / ".venv-policy" / "bin"


@pytest.fixture(scope="module")
def smollm2_policy(workdir: Path) -> Iterator[servers.Service]:
    """The real policy: vLLM on CPU serving SmolLM2-135M-Instruct, from the policy's own environment."""

    executable = POLICY_VENV_BIN / "playpen-policy"
    if not executable.exists():
        message = f"the policy environment is not installed ({executable}); run `make setup`"
        unavailable(message)
    service = servers.start("smollm2-policy", [str(executable)], workdir, timeout=300,
                            env={"VLLM_CPU_KVCACHE_SPACE": "2"})
    yield service
    assert service.stop() == 0, service.log()[-3000:]
