"""Checking a checkpoint against its reference before anything loads it.

Every file the reference lists must exist with exactly its size and SHA-256; a reader never trusts a
directory by its name. Shared by every policy backend and the evaluator.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path, PurePosixPath

from google.protobuf import json_format

from playpen.common.v1 import checkpoint_pb2
from playpen_common.errors import FailedPrecondition, InvalidArgument

_CHUNK = 1 << 20


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def checkpoint_dir(ref: checkpoint_pb2.CheckpointRef) -> Path:
    uri = ref.uri
    if uri.startswith("file://"):
        uri = uri[len("file://"):]
    if not uri or "://" in uri:
        raise InvalidArgument(f"checkpoint {ref.version}: unsupported location {ref.uri!r} (need a local path)")
    return Path(uri)


def verify_checkpoint(ref: checkpoint_pb2.CheckpointRef) -> Path:
    """Raise unless every listed file is present and intact; returns the checkpoint directory."""
    if ref.version <= 0:
        raise InvalidArgument("checkpoint version must be positive")
    if ref.kind == checkpoint_pb2.CHECKPOINT_KIND_UNSPECIFIED:
        raise InvalidArgument(f"checkpoint {ref.version}: kind must be FULL or LORA")
    if not ref.files:
        raise InvalidArgument(f"checkpoint {ref.version}: the reference lists no files")
    root = checkpoint_dir(ref)
    if not root.is_dir():
        raise FailedPrecondition(f"checkpoint {ref.version}: directory {root} does not exist")
    for entry in ref.files:
        relative = PurePosixPath(entry.path)
        if relative.is_absolute() or ".." in relative.parts:
            raise InvalidArgument(f"checkpoint {ref.version}: file path {entry.path!r} escapes the directory")
        path = root / relative
        if not path.is_file():
            raise FailedPrecondition(f"checkpoint {ref.version}: {entry.path} is missing")
        if entry.size_bytes and path.stat().st_size != entry.size_bytes:
            raise FailedPrecondition(f"checkpoint {ref.version}: {entry.path} has {path.stat().st_size} bytes, "
                                     f"the manifest says {entry.size_bytes} (partial write?)")
        actual = sha256_file(path)
        if actual != entry.sha256.lower():
            raise FailedPrecondition(f"checkpoint {ref.version}: {entry.path} is corrupt "
                                     f"(sha256 {actual[:12]}…, expected {entry.sha256[:12]}…)")
    return root


# ----------------------------------------------------------------------------- committed checkpoints on disk
#
# A checkpoint directory holds its files and, written last, MANIFEST (the CheckpointRef as JSON). A directory
# without a manifest is not a checkpoint (a writer died mid-way); readers skip it. Versions live side by side
# under one root as v<version>/, so the newest committed one is found by listing.

MANIFEST = "manifest.json"


def version_dir(root: Path, version: int) -> Path:
    return Path(root) / f"v{version:08d}"


def describe_files(directory: Path) -> list[checkpoint_pb2.CheckpointFile]:
    """Every regular file below `directory` except the manifest, with size and SHA-256."""
    directory = Path(directory)
    return [checkpoint_pb2.CheckpointFile(path=path.relative_to(directory).as_posix(), sha256=sha256_file(path),
                                          size_bytes=path.stat().st_size)
            for path in sorted(directory.rglob("*")) if path.is_file() and path.name != MANIFEST]


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def commit_manifest(directory: Path, ref: checkpoint_pb2.CheckpointRef) -> checkpoint_pb2.CheckpointRef:
    """Make `directory` a committed checkpoint: fsync its files, then write the manifest atomically."""
    directory = Path(directory)
    committed = checkpoint_pb2.CheckpointRef()
    committed.CopyFrom(ref)
    committed.uri = str(directory.resolve())
    if not committed.files:
        committed.files.extend(describe_files(directory))
    if not committed.HasField("committed_at"):
        committed.committed_at.GetCurrentTime()
    for entry in committed.files:
        with open(directory / entry.path, "rb") as handle:
            os.fsync(handle.fileno())
    temporary = directory / f".{MANIFEST}.tmp"
    with open(temporary, "w", encoding="utf-8") as handle:
        handle.write(json_format.MessageToJson(committed, preserving_proto_field_name=True))
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, directory / MANIFEST)
    _fsync_dir(directory)
    return committed


def read_manifest(directory: Path) -> checkpoint_pb2.CheckpointRef:
    """The reference of a committed checkpoint; its uri is where it was found, wherever it was written."""
    directory = Path(directory)
    try:
        text = (directory / MANIFEST).read_text(encoding="utf-8")
        ref = json_format.Parse(text, checkpoint_pb2.CheckpointRef())
    except (OSError, json_format.ParseError) as exc:
        raise FailedPrecondition(f"{directory} is not a committed checkpoint: {exc}") from exc
    ref.uri = str(directory.resolve())
    return ref


def committed_checkpoints(root: Path) -> list[checkpoint_pb2.CheckpointRef]:
    """Every committed checkpoint under `root`, oldest version first; unreadable ones are skipped."""
    found = []
    for directory in sorted(Path(root).glob("v*")):
        if (directory / MANIFEST).is_file():
            try:
                found.append(read_manifest(directory))
            except FailedPrecondition:
                continue
    return sorted(found, key=lambda ref: ref.version)
