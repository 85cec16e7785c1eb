"""Reading a checkpoint's files fast and only once: every byte is hashed as it is read, shards in parallel.

A multi-GB model comes as several safetensors shards named by an index (`model.safetensors.index.json`,
as `save_pretrained` writes it). Reading a file to hash it and then again to load it doubles the I/O and
leaves a window in which the loaded bytes are not the hashed ones, so a reader that loads keeps the bytes it
hashed (`read_verified`). Files are independent: a bounded pool reads several at once (hashlib and file
reads release the GIL on large buffers, so threads overlap for real).
"""

from __future__ import annotations

import hashlib
import json
import mmap
import os
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from playpen_common.errors import FailedPrecondition, InvalidArgument

CHUNK = 8 << 20
INDEX_SUFFIX = ".safetensors.index.json"


@dataclass(frozen=True)
class FileEntry:
    """One file of a checkpoint as its manifest lists it."""

    path: str
    sha256: str
    size_bytes: int = 0


def default_workers() -> int:
    """Parallel reads: enough to keep a fast disk busy, bounded so a replica never floods its node."""
    return max(1, min(8, os.cpu_count() or 1))


def resolve(root: Path, entry: FileEntry, label: str) -> Path:
    """The entry's path inside `root`, present with the listed size; raises before any byte is read."""
    relative = PurePosixPath(entry.path)
    if relative.is_absolute() or ".." in relative.parts:
        raise InvalidArgument(f"{label}: file path {entry.path!r} escapes the directory")
    path = Path(root) / relative
    if not path.is_file():
        raise FailedPrecondition(f"{label}: {entry.path} is missing")
    size = path.stat().st_size
    if entry.size_bytes and size != entry.size_bytes:
        raise FailedPrecondition(f"{label}: {entry.path} has {size} bytes, the manifest says {entry.size_bytes} "
                                 f"(partial write?)")
    return path


def _mismatch(label: str, entry: FileEntry, actual: str) -> FailedPrecondition:
    return FailedPrecondition(f"{label}: {entry.path} is corrupt "
                              f"(sha256 {actual[:12]}…, expected {entry.sha256[:12]}…)")


def hash_verified(path: Path, entry: FileEntry, label: str) -> None:
    """Hash the file as it streams by (nothing kept); raise unless it matches the entry."""
    digest = hashlib.sha256()
    buffer = bytearray(CHUNK)
    view = memoryview(buffer)
    with open(path, "rb", buffering=0) as handle:
        while count := handle.readinto(buffer):
            digest.update(view[:count])
    if digest.hexdigest() != entry.sha256.lower():
        raise _mismatch(label, entry, digest.hexdigest())


def read_verified(path: Path, entry: FileEntry, label: str) -> mmap.mmap:
    """The file's bytes, hashed while they are read; raises unless size and SHA-256 match the entry.

    Reads straight into one writable buffer of the file's size (no second copy), hashing each chunk as it
    lands. The buffer is anonymous memory: unlike a bytearray it is not zero-filled first (the kernel maps
    pages as the read touches them), which matters at several GB."""
    size = path.stat().st_size
    data = mmap.mmap(-1, max(size, 1))
    view = memoryview(data)[:size]
    digest = hashlib.sha256()
    offset = 0
    with open(path, "rb", buffering=0) as handle:
        while offset < size:
            count = handle.readinto(view[offset:offset + CHUNK])
            if not count:
                raise FailedPrecondition(f"{label}: {entry.path} shrank while it was read")
            digest.update(view[offset:offset + count])
            offset += count
        if handle.read(1):
            raise FailedPrecondition(f"{label}: {entry.path} grew while it was read")
    view.release()
    if digest.hexdigest() != entry.sha256.lower():
        raise _mismatch(label, entry, digest.hexdigest())
    return data


def map_file(path: Path) -> tuple[mmap.mmap, int]:
    """A private, writable (copy-on-write: nothing reaches the file) mapping of the file, and its size."""
    with open(path, "rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        if size == 0:
            return mmap.mmap(-1, 1), 0
        data = mmap.mmap(handle.fileno(), size, access=mmap.ACCESS_COPY)
    data.madvise(mmap.MADV_SEQUENTIAL)
    return data, size


def map_verified(path: Path, entry: FileEntry, label: str) -> mmap.mmap:
    """The file mapped into memory and hashed through that mapping; raises unless it matches the entry.

    No copy at all: hashing pages the file in (from the page cache, or the disk with read-ahead) and the
    caller's tensors are views of the same pages. The mapping is private (a write through it never reaches
    the file). What it does not guard against is the file being rewritten in place between the hash and
    the load: committed checkpoints are never rewritten (they are written elsewhere and renamed, manifest
    last); where that cannot be trusted, `read_verified` keeps a private copy of exactly the hashed bytes."""
    data, size = map_file(path)
    digest = hashlib.sha256()
    view = memoryview(data)[:size]
    for offset in range(0, size, CHUNK):
        digest.update(view[offset:offset + CHUNK])
    view.release()
    if digest.hexdigest() != entry.sha256.lower():
        data.close()
        raise _mismatch(label, entry, digest.hexdigest())
    return data


def _run(task, jobs: Sequence, workers: int) -> list:
    if workers <= 1 or len(jobs) <= 1:
        return [task(job) for job in jobs]
    with ThreadPoolExecutor(max_workers=min(workers, len(jobs)), thread_name_prefix="playpen-read") as pool:
        # list() re-raises the first failure in submission order; the pool's exit waits for the rest.
        return list(pool.map(task, jobs))


def verify_files(root: Path, entries: Iterable[FileEntry], *, label: str, workers: int | None = None) -> None:
    """Raise unless every entry is present and intact; files are hashed `workers` at a time."""
    jobs = [(resolve(root, entry, label), entry) for entry in entries]
    _run(lambda job: hash_verified(job[0], job[1], label), jobs, workers or default_workers())


def read_files(root: Path, entries: Iterable[FileEntry], *, label: str, workers: int | None = None,
               copy: bool = False) -> list[tuple[str, mmap.mmap]]:
    """(path, bytes) of every entry, in the given order, each verified as it was read, `workers` at a time:
    mapped (`map_verified`, no copy) or, with `copy`, read into private memory (`read_verified`)."""
    jobs = [(resolve(root, entry, label), entry) for entry in entries]
    read = read_verified if copy else map_verified
    buffers = _run(lambda job: read(job[0], job[1], label), jobs, workers or default_workers())
    return [(entry.path, data) for (_, entry), data in zip(jobs, buffers, strict=True)]


# ----------------------------------------------------------------------------- sharded safetensors

def shard_index(root: Path, listed: Iterable[str]) -> dict[str, str] | None:
    """tensor name -> shard file of the checkpoint's safetensors index, or None for an unsharded one."""
    indexes = [path for path in listed if path.endswith(INDEX_SUFFIX) and "/" not in path]
    if not indexes:
        return None
    if len(indexes) > 1:
        raise FailedPrecondition(f"{root} has several safetensors indexes: {sorted(indexes)}")
    try:
        weight_map = json.loads((Path(root) / indexes[0]).read_text(encoding="utf-8"))["weight_map"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise FailedPrecondition(f"{indexes[0]} is not a safetensors index: {exc}") from exc
    if not isinstance(weight_map, dict) or not weight_map:
        raise FailedPrecondition(f"{indexes[0]} maps no tensors")
    return {str(name): str(shard) for name, shard in weight_map.items()}


def weight_files(root: Path, listed: Iterable[str]) -> list[str]:
    """The safetensors files to load, in load order (the index's order of first mention, else by name).

    With an index, every shard it names must be listed and every listed top-level safetensors file must be
    named by it: a shard missing from the manifest would be loaded unverified, a stray one loaded by nobody."""
    listed = list(listed)
    on_top = [path for path in listed if path.endswith(".safetensors") and "/" not in path]
    index = shard_index(root, listed)
    if index is None:
        if not on_top:
            raise FailedPrecondition(f"{root} holds no .safetensors files")
        return sorted(on_top)
    shards = list(dict.fromkeys(index.values()))
    unlisted = sorted(set(shards) - set(listed))
    if unlisted:
        raise FailedPrecondition(f"the safetensors index names shards the manifest does not list: {unlisted[:3]}")
    stray = sorted(set(on_top) - set(shards))
    if stray:
        raise FailedPrecondition(f"safetensors files that the index does not name: {stray[:3]}")
    return shards
