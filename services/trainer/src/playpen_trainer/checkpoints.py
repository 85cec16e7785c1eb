"""Committed checkpoints: written atomically, verified before they are trusted, announced to subscribers.

Layout under the data directory:
    checkpoints/v00000007/   the weights (HF safetensors dir or PEFT adapter) and, written last, manifest.json
    state/v00000007/         the trainer's own state for resuming (optimizer, step, RNG) — not published,
                             so that replicas hash only what they load

Order of a commit: weights into a staging dir → fsync → trainer state (fsync, rename) → staging dir renamed to
its version → manifest (temp + fsync + rename, in playpen_common.checkpoints). A crash before the manifest
leaves a directory without one, which every reader ignores and the next start removes. Only a checkpoint whose
every file matches its manifest is resumed from or announced.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import structlog

from playpen.common.v1 import checkpoint_pb2
from playpen_common.checkpoints import MANIFEST, commit_manifest, committed_checkpoints, verify_checkpoint, version_dir
from playpen_common.errors import PlaypenError
from playpen_trainer.faults import crash_point

log = structlog.get_logger("playpen.trainer.checkpoints")
STATE_FILE = "trainer_state.pt"


def _fsync_tree(directory: Path) -> None:
    for path in directory.rglob("*"):
        if path.is_file():
            with open(path, "rb") as handle:
                os.fsync(handle.fileno())
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class CheckpointPublisher:
    def __init__(self, data_dir: Path, *, base_model: str, config_hash: str, keep_last: int):
        self.root = data_dir / "checkpoints"
        self.state_root = data_dir / "state"
        self.root.mkdir(parents=True, exist_ok=True)
        self.state_root.mkdir(parents=True, exist_ok=True)
        self._base_model, self._config_hash, self._keep_last = base_model, config_hash, keep_last
        self.latest: checkpoint_pb2.CheckpointRef | None = None
        self._changed: asyncio.Condition | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    # ------------------------------------------------------------------------------------------ startup

    def recover(self) -> checkpoint_pb2.CheckpointRef | None:
        """Remove what a crash left half-written; return the newest checkpoint that verifies (and has state)."""
        for leftover in list(self.root.glob(".staging-*")) + list(self.state_root.glob(".staging-*")):
            shutil.rmtree(leftover, ignore_errors=True)
        for directory in self.root.glob("v*"):
            if not (directory / MANIFEST).is_file():
                log.warning("removing uncommitted checkpoint", path=str(directory))
                shutil.rmtree(directory, ignore_errors=True)
        for ref in reversed(committed_checkpoints(self.root)):
            try:
                verify_checkpoint(ref)
            except PlaypenError as error:
                log.error("committed checkpoint fails verification; skipped", version=ref.version, reason=error.message)
                continue
            if not (self.state_dir(ref.version) / STATE_FILE).is_file():
                log.error("checkpoint has no trainer state; skipped", version=ref.version)
                continue
            self.latest = ref
            break
        if self.latest is not None:
            # States of versions newer than the one resumed belong to no committed checkpoint.
            for directory in self.state_root.glob("v*"):
                if int(directory.name[1:]) > self.latest.version:
                    shutil.rmtree(directory, ignore_errors=True)
        return self.latest

    def state_dir(self, version: int) -> Path:
        return version_dir(self.state_root, version)

    # ------------------------------------------------------------------------------------------ writing

    def write(self, *, version: int, step: int, kind: int, save_weights, save_state,
              keep: set[int] = frozenset()) -> checkpoint_pb2.CheckpointRef:
        """Commit version `version`: `save_weights(dir)` and `save_state(dir)` write the files. Blocking."""
        staging = self.root / f".staging-v{version}-{os.getpid()}"
        state_staging = self.state_root / f".staging-v{version}-{os.getpid()}"
        for directory in (staging, state_staging):
            shutil.rmtree(directory, ignore_errors=True)
            directory.mkdir()
        save_weights(staging)
        _fsync_tree(staging)
        crash_point("checkpoint:weights_written")
        save_state(state_staging)
        _fsync_tree(state_staging)
        shutil.rmtree(self.state_dir(version), ignore_errors=True)
        os.replace(state_staging, self.state_dir(version))
        crash_point("checkpoint:state_written")
        target = version_dir(self.root, version)
        shutil.rmtree(target, ignore_errors=True)
        os.replace(staging, target)
        ref = commit_manifest(target, checkpoint_pb2.CheckpointRef(
            version=version, kind=kind, step=step, parent_version=self.latest.version if self.latest else 0,
            base_model=self._base_model, config_hash=self._config_hash))
        crash_point("checkpoint:committed")
        self.latest = ref
        self._retain(keep | {version})
        self._announce()
        return ref

    def _retain(self, keep: set[int]) -> None:
        committed = committed_checkpoints(self.root)
        newest = {ref.version for ref in committed[-self._keep_last:]}
        for ref in committed:
            if ref.version not in newest and ref.version not in keep:
                shutil.rmtree(ref.uri, ignore_errors=True)
                shutil.rmtree(self.state_dir(ref.version), ignore_errors=True)

    # ------------------------------------------------------------------------------------------ announcing

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop, self._changed = loop, asyncio.Condition()

    def _announce(self) -> None:
        if self._loop is None or self._changed is None:
            return
        changed = self._changed

        async def notify() -> None:
            async with changed:
                changed.notify_all()

        asyncio.run_coroutine_threadsafe(notify(), self._loop)

    async def watch(self, after_version: int) -> AsyncIterator[checkpoint_pb2.CheckpointRef]:
        """The latest committed checkpoint newer than `after_version`, then each newer one as it commits."""
        assert self._changed is not None
        sent = after_version
        while True:
            async with self._changed:
                await self._changed.wait_for(
                    lambda sent=sent: self.latest is not None and self.latest.version > sent)
                latest: Any = self.latest
            sent = latest.version
            yield latest
