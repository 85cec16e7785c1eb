"""Checking a checkpoint against its reference before anything loads it.

Every file the reference lists must exist with exactly its size and SHA-256; a reader never trusts a
directory by its name. Shared by every policy backend and the evaluator.
"""

from __future__ import annotations

import hashlib
from pathlib import Path, PurePosixPath

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
