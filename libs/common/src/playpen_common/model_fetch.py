"""`playpen-fetch-model`: download a model from the Hugging Face Hub (or a mirror, `HF_ENDPOINT`) into a folder,
once. The chart's init container runs it with `model.source=hub`; the token, if any, comes from `HF_TOKEN` (a
Secret). The files land beside the target and are renamed into place when complete, with a marker naming the id
and revision, so a restarted init container finds a finished download and does nothing, and a half-written one
never looks finished. Needs huggingface_hub (the policy and trainer images have it); it is the only code of
Playpen that downloads weights, and only when asked to.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from playpen_common.settings import CommandSettings, parse_command_line

MARKER = ".playpen-fetched.json"


class FetchSettings(CommandSettings):
    model_config = SettingsConfigDict(env_prefix="PLAYPEN_FETCH_")

    id: str = Field(min_length=1, description="model id on the hub, e.g. HuggingFaceTB/SmolLM2-135M-Instruct")
    revision: str = Field("main", min_length=1, description="branch, tag or commit")
    out: Path = Field(description="folder the model is written to (its parent must be writable)")
    allow: list[str] = Field(["*.json", "*.safetensors", "*.txt", "*.model", "*.jinja"],
                             description="file patterns to download (weights as safetensors, config, tokenizer)")


def fetched(out: Path, settings: FetchSettings) -> bool:
    try:
        marker = json.loads((out / MARKER).read_text())
    except (OSError, ValueError):
        return False
    return marker.get("id") == settings.id and marker.get("revision") == settings.revision


def fetch(settings: FetchSettings) -> str:
    """Download unless already there; returns what happened, in words."""
    from huggingface_hub import snapshot_download

    out = settings.out
    if fetched(out, settings):
        return f"{out} already holds {settings.id}@{settings.revision}"
    staging = out.with_name(f".{out.name}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    snapshot_download(settings.id, revision=settings.revision, local_dir=staging, allow_patterns=settings.allow,
                      token=os.environ.get("HF_TOKEN") or None)
    shutil.rmtree(staging / ".cache", ignore_errors=True)  # the hub client's own bookkeeping
    if not any(staging.glob("*.safetensors")):
        raise FileNotFoundError(f"{settings.id}@{settings.revision} has no .safetensors weights")
    (staging / MARKER).write_text(json.dumps({"id": settings.id, "revision": settings.revision}))
    shutil.rmtree(out, ignore_errors=True)
    staging.rename(out)
    return f"fetched {settings.id}@{settings.revision} into {out}"


def main(argv: list[str] | None = None) -> int:
    settings = parse_command_line(FetchSettings, sys.argv[1:] if argv is None else argv, "playpen-fetch-model")
    # The images set HF_HUB_OFFLINE=1 so that nothing else ever downloads; this command is the one exception.
    os.environ["HF_HUB_OFFLINE"] = "0"
    try:
        print(fetch(settings), flush=True)
    except Exception as error:  # noqa: BLE001 — one line for the pod's log, whatever the hub client raised
        print(f"playpen-fetch-model: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
