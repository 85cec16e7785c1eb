"""Checking a checkpoint against its reference before anything loads it.

Every file the reference lists must exist with exactly its size and SHA-256; a reader never trusts a
directory by its name. Shared by every policy backend and the evaluator.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path, PurePosixPath

from google.protobuf import json_format

from playpen.common.v1 import checkpoint_pb2
from playpen_common.bounds import quoted
from playpen_common.errors import FailedPrecondition, InvalidArgument
from playpen_common.shards import FileEntry, default_workers, resolve, shard_index, verify_files, weight_files

_CHUNK = 8 << 20
# Linux limits of a path and of one of its components, in bytes
PATH_MAX, NAME_MAX = 4096, 255


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
        raise InvalidArgument(f"checkpoint {ref.version}: unsupported location {quoted(ref.uri)} (need a local path)")
    path = Path(uri)
    # What the file system would refuse with ENAMETOOLONG, refused as bad input before any file is touched.
    if len(os.fsencode(uri)) > PATH_MAX or any(len(os.fsencode(part)) > NAME_MAX for part in path.parts):
        raise InvalidArgument(f"checkpoint {ref.version}: location {quoted(ref.uri)} is longer than a path can be")
    return path


def confine(ref: checkpoint_pb2.CheckpointRef, roots: Sequence[Path], *, on_disk: bool = True) -> None:
    """Refuse (InvalidArgument) a checkpoint whose directory, or any file it lists, is not under one of `roots`.

    The location must be an absolute path without `..`; with `on_disk`, every symlink on the way is resolved
    first, so a link inside a root that leads out of it is refused too. Nothing is read. No roots: no
    confinement (a process that was given none, e.g. a local run)."""
    if not roots:
        return
    directory = checkpoint_dir(ref)
    where = ", ".join(str(root) for root in roots)
    shown = quoted(str(directory))
    if not directory.is_absolute() or ".." in directory.parts:
        raise InvalidArgument(f"checkpoint {ref.version}: {shown} must be an absolute path without '..' under the "
                              f"checkpoint roots ({where})")
    if on_disk:
        allowed = [Path(root).resolve() for root in roots]
        directory = directory.resolve()
    else:
        allowed = [Path(os.path.normpath(root)) for root in roots]
    if not any(directory.is_relative_to(root) for root in allowed):
        raise InvalidArgument(f"checkpoint {ref.version}: {shown} is not under the checkpoint roots ({where})")
    for entry in ref.files:
        relative = PurePosixPath(entry.path)
        if relative.is_absolute() or ".." in relative.parts:
            raise InvalidArgument(f"checkpoint {ref.version}: file path {quoted(entry.path)} escapes the directory")
        if on_disk and not any((directory / relative).resolve().is_relative_to(root) for root in allowed):
            raise InvalidArgument(f"checkpoint {ref.version}: file {quoted(entry.path)} leads outside the "
                                  f"checkpoint roots ({where})")


def checkpoint_entries(ref: checkpoint_pb2.CheckpointRef) -> tuple[Path, list[FileEntry]]:
    """The checks that need no hashing: a valid reference, its directory, every listed file present with its
    size, and a safetensors index (if any) consistent with the listed shards. Returns the directory and files."""
    if ref.version <= 0:
        raise InvalidArgument("checkpoint version must be positive")
    if ref.kind == checkpoint_pb2.CHECKPOINT_KIND_UNSPECIFIED:
        raise InvalidArgument(f"checkpoint {ref.version}: kind must be FULL or LORA")
    if not ref.files:
        raise InvalidArgument(f"checkpoint {ref.version}: the reference lists no files")
    root = checkpoint_dir(ref)
    try:
        present = root.is_dir()
    except OSError as error:  # e.g. a component that is not a directory, or no permission
        raise FailedPrecondition(f"checkpoint {ref.version}: cannot read {quoted(str(root))}: "
                                 f"{error.strerror}") from None
    if not present:
        raise FailedPrecondition(f"checkpoint {ref.version}: directory {quoted(str(root))} does not exist")
    entries = [FileEntry(entry.path, entry.sha256, entry.size_bytes) for entry in ref.files]
    for entry in entries:
        resolve(root, entry, f"checkpoint {ref.version}")
    listed = [entry.path for entry in entries]
    if shard_index(root, listed) is not None:
        weight_files(root, listed)
    return root, entries


def verify_checkpoint(ref: checkpoint_pb2.CheckpointRef, *, workers: int | None = None) -> Path:
    """Raise unless every listed file is present and intact; returns the checkpoint directory.

    Files are hashed `workers` at a time (several shards of a big model at once)."""
    root, entries = checkpoint_entries(ref)
    verify_files(root, entries, label=f"checkpoint {ref.version}", workers=workers)
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
    paths = [path for path in sorted(directory.rglob("*")) if path.is_file() and path.name != MANIFEST]
    with ThreadPoolExecutor(max_workers=default_workers()) as pool:  # the shards of a big model at once
        digests = list(pool.map(sha256_file, paths))
    return [checkpoint_pb2.CheckpointFile(path=path.relative_to(directory).as_posix(), sha256=digest,
                                          size_bytes=path.stat().st_size)
            for path, digest in zip(paths, digests, strict=True)]


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
