"""`playpen-fetch-model` (the chart's init container with model.source=hub) against a local stand-in of the hub:
the token is sent, only weights/config/tokenizer files come, a finished download is never repeated, and a
refused or weightless one leaves no model behind."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.hub_standin import HubStandIn

FETCH = Path(sys.executable).parent / "playpen-fetch-model"


@pytest.fixture
def model_folder(tmp_path) -> Path:
    folder = tmp_path / "hub" / "tiny"
    (folder / "sub").mkdir(parents=True)
    (folder / "config.json").write_text('{"model_type": "llama"}')
    (folder / "model.safetensors").write_bytes(os.urandom(4096))
    (folder / "sub" / "tokenizer.json").write_text("{}")
    (folder / "README.md").write_text("not needed")
    return folder


def fetch(hub: HubStandIn, out: Path, token: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_ENDPOINT": hub.endpoint, "HF_TOKEN": token, "HF_HUB_OFFLINE": "1",
           "HF_HOME": str(out.parent / "hf-home")}
    return subprocess.run([str(FETCH), "--id", hub.repo_id, "--out", str(out)], env=env, capture_output=True,
                          text=True, timeout=120)


def test_fetches_once_with_the_token(model_folder, tmp_path) -> None:
    out = tmp_path / "models" / "tiny"
    with HubStandIn("acme/tiny", model_folder, token="s3cret") as hub:
        first = fetch(hub, out, "s3cret")
        assert first.returncode == 0, first.stderr
        assert (out / "model.safetensors").read_bytes() == (model_folder / "model.safetensors").read_bytes()
        assert (out / "sub" / "tokenizer.json").is_file() and not (out / "README.md").exists()
        downloads = [r for r in hub.requests if r.startswith("GET /acme/tiny/resolve/")]
        assert len(downloads) == 3
        again = fetch(hub, out, "s3cret")
        assert again.returncode == 0 and "already holds" in again.stdout
        assert [r for r in hub.requests if r.startswith("GET /acme/tiny/resolve/")] == downloads
    assert sorted(p.name for p in out.parent.iterdir() if not p.name.startswith("hf-")) == ["tiny"]


def test_a_refused_token_or_a_model_without_weights_leaves_no_model(model_folder, tmp_path) -> None:
    out = tmp_path / "models" / "tiny"
    with HubStandIn("acme/tiny", model_folder, token="s3cret") as hub:
        refused = fetch(hub, out, "wrong")
    assert refused.returncode == 1 and "playpen-fetch-model:" in refused.stderr and not out.exists()
    (model_folder / "model.safetensors").unlink()
    with HubStandIn("acme/tiny", model_folder) as hub:
        weightless = fetch(hub, out, "")
    assert weightless.returncode == 1 and "no .safetensors" in weightless.stderr and not out.exists()
