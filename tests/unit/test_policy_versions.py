"""One engine, many versions (scripted backend): pinning a version, the adapter LRU, and refusals."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from playpen.common.v1 import chat_pb2, checkpoint_pb2
from playpen.policy.v1 import policy_pb2
from playpen_common.checkpoints import commit_manifest, version_dir
from playpen_common.errors import FailedPrecondition, InvalidArgument
from playpen_policy.scripted import ScriptedBackend
from playpen_policy.service import validate_generate

LORA, FULL = checkpoint_pb2.CHECKPOINT_KIND_LORA, checkpoint_pb2.CHECKPOINT_KIND_FULL
SCRIPT = {"rules": [{"versions": [v], "reply": f"reply of v{v}", "delay_s": 0.3 if v == 1 else 0.0}
                    for v in (1, 2, 3, 4)], "default": "base reply"}


def commit(root: Path, version: int, kind: int = LORA) -> checkpoint_pb2.CheckpointRef:
    directory = version_dir(root, version)
    directory.mkdir(parents=True)
    name = "adapter_model.safetensors" if kind == LORA else "model.safetensors"
    (directory / name).write_bytes(f"weights of {version}".encode())
    if kind == LORA:
        (directory / "adapter_config.json").write_text(json.dumps({"r": 8}))
    return commit_manifest(directory, checkpoint_pb2.CheckpointRef(version=version, kind=kind, step=version))


@pytest.fixture
def root(tmp_path: Path) -> Path:
    for version in (1, 2, 3, 4):
        commit(tmp_path / "ckpts", version)
    commit(tmp_path / "ckpts", 5, FULL)
    return tmp_path / "ckpts"


async def ask(backend: ScriptedBackend, version: int | None = None):
    return await backend.generate([chat_pb2.ChatMessage(role="user", content="hi")], chat_pb2.SamplingParams(),
                                  version)


def run(coroutine):
    return asyncio.run(coroutine)


def test_a_pinned_version_is_loaded_from_the_roots_and_answers_while_unpinned_stays_current(root) -> None:
    backend = ScriptedBackend(SCRIPT, roots=[root])
    assert run(ask(backend)).text == "base reply" and backend.versions.held() == [0]
    pinned = run(ask(backend, 2))
    assert (pinned.text, pinned.policy_version) == ("reply of v2", 2)
    assert run(ask(backend, 3)).policy_version == 3
    unpinned = run(ask(backend))
    assert (unpinned.text, unpinned.policy_version, backend.version) == ("base reply", 0, 0)
    assert run(ask(backend, 0)).text == "base reply"  # the base itself can be pinned
    assert backend.versions.held() == [0, 2, 3]


def test_loaded_adapter_becomes_current_and_earlier_ones_stay_pinnable(root) -> None:
    backend = ScriptedBackend(SCRIPT)  # no roots: only what was loaded can be pinned
    run(backend.load(commit(root.parent / "other", 1)))
    run(backend.load(commit(root.parent / "other", 2)))
    assert run(ask(backend)).policy_version == 2 and backend.kind == LORA
    assert run(ask(backend, 1)).text == "reply of v1"


def test_the_lru_evicts_the_least_recently_used_idle_adapter_never_the_current_one(root) -> None:
    backend = ScriptedBackend(SCRIPT, max_adapters=2, roots=[root])
    run(backend.load(commit(root.parent / "other", 4)))  # current
    run(ask(backend, 1))
    run(ask(backend, 2))  # evicts 1, the least recently used idle adapter; 4 is current
    assert backend.versions.held() == [0, 2, 4]
    run(ask(backend, 1))  # loaded again from the roots
    assert backend.versions.held() == [0, 1, 4]

    backend = ScriptedBackend(SCRIPT, max_adapters=2, roots=[root])
    for version in (1, 2, 1, 3):  # 1 was used after 2: 2 goes
        run(ask(backend, version))
    assert backend.versions.held() == [0, 1, 3]


def test_an_adapter_a_running_request_uses_is_not_evicted(root) -> None:
    backend = ScriptedBackend(SCRIPT, max_adapters=1, roots=[root])

    async def scenario():
        slow = asyncio.create_task(ask(backend, 1))  # v1 replies after 0.3 s
        await asyncio.sleep(0.05)
        assert (await ask(backend, 2)).policy_version == 2
        assert backend.versions.held() == [0, 1, 2]  # over the bound while v1 is in use
        assert (await slow).text == "reply of v1"
        await ask(backend, 3)
        assert backend.versions.held() == [0, 3]

    run(scenario())


def test_versions_that_cannot_be_pinned_are_refused_with_a_reason(root, tmp_path) -> None:
    backend = ScriptedBackend(SCRIPT, roots=[root])
    with pytest.raises(FailedPrecondition, match="not held by this policy"):
        run(ask(backend, 9))
    with pytest.raises(FailedPrecondition, match="full-weights checkpoint"):
        run(ask(backend, 5))
    (version_dir(root, 3) / "adapter_model.safetensors").write_bytes(b"rewritten after the manifest")
    with pytest.raises(FailedPrecondition):
        run(ask(backend, 3))
    assert backend.versions.held() == [0]
    with pytest.raises(FailedPrecondition, match="none configured"):
        run(ask(ScriptedBackend(SCRIPT), 1))


def test_a_link_out_of_a_root_is_refused(root, tmp_path) -> None:
    outside = tmp_path / "elsewhere"
    commit(outside, 7)
    version_dir(root, 7).symlink_to(version_dir(outside, 7))
    with pytest.raises(FailedPrecondition, match="outside the checkpoint root"):
        run(ask(ScriptedBackend(SCRIPT, roots=[root]), 7))


def test_full_weights_replace_the_base_and_drop_every_adapter(root) -> None:
    backend = ScriptedBackend(SCRIPT, roots=[root])
    run(ask(backend, 1))
    run(backend.load(commit(root.parent / "full", 6, FULL)))
    assert backend.versions.held() == [6] and run(ask(backend)).policy_version == 6
    assert run(ask(backend, 6)).policy_version == 6  # the engine's own full version can be pinned
    with pytest.raises(FailedPrecondition, match="not held"):
        run(ask(backend, 0))  # the old base is gone from this engine
    assert run(ask(backend, 2)).policy_version == 2  # adapters can be pinned again over the new base


def test_a_negative_pinned_version_is_invalid() -> None:
    request = policy_pb2.GenerateRequest(messages=[chat_pb2.ChatMessage(role="user", content="x")],
                                         policy_version=-1)
    with pytest.raises(InvalidArgument, match="policy_version"):
        validate_generate(request, 100)
    request.policy_version = 0
    validate_generate(request, 100)
