"""A full-weights checkpoint staged in host memory, verified, then streamed into the engine shard by shard.

Runs inside vLLM's worker process (see worker_extension): the bytes that were hashed are the bytes that are
loaded, read once from disk — by default through a private mapping of each shard (no copy; hashing pages it
in), or with `copy` into private memory (immune even to a file rewritten in place, one memcpy more).
Staging happens while the old weights keep serving; a shard whose hash does not match fails the staging, so
nothing of the new version ever reaches the model. Loading then parses each staged shard in place (the
tensors are views of its buffer, no second copy) and hands them to vLLM's own `load_weights` one shard after
another, releasing each shard's buffer once its tensors are consumed.
"""

from __future__ import annotations

import json
import mmap
import struct
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from playpen_common.errors import FailedPrecondition
from playpen_common.shards import FileEntry, map_file, read_files, resolve, verify_files, weight_files

_MAX_HEADER = 100 << 20


def _dtypes() -> dict[str, Any]:
    import torch

    return {"F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
            "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8, "U8": torch.uint8,
            "BOOL": torch.bool, "F8_E4M3": torch.float8_e4m3fn, "F8_E5M2": torch.float8_e5m2}


def parse_header(data: mmap.mmap | bytes, name: str) -> tuple[dict[str, Any], int]:
    """The safetensors header of a staged shard and the offset where its tensor data begins."""
    if len(data) < 8:
        raise FailedPrecondition(f"{name} is truncated")
    (length,) = struct.unpack_from("<Q", data, 0)
    if length > _MAX_HEADER or 8 + length > len(data):
        raise FailedPrecondition(f"{name} has an implausible header ({length} bytes)")
    try:
        header = json.loads(bytes(data[8:8 + length]))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FailedPrecondition(f"{name} has a corrupt header: {exc}") from exc
    header.pop("__metadata__", None)
    return header, 8 + length


def shard_tensors(data: mmap.mmap, name: str) -> Iterator[tuple[str, Any]]:
    """(tensor name, tensor) of one safetensors shard held in `data`, in file order; views, not copies."""
    import torch

    dtypes = _dtypes()
    header, base = parse_header(data, name)
    for tensor_name, info in sorted(header.items(), key=lambda item: item[1]["data_offsets"][0]):
        start, end = info["data_offsets"]
        dtype = dtypes.get(info["dtype"])
        if dtype is None:
            raise FailedPrecondition(f"{name}: tensor {tensor_name} has unsupported dtype {info['dtype']}")
        shape = tuple(info["shape"])
        if base + end > len(data) or start > end:
            raise FailedPrecondition(f"{name}: tensor {tensor_name} lies outside the file")
        if start == end:
            yield tensor_name, torch.empty(shape, dtype=dtype)
            continue
        flat = torch.frombuffer(data, dtype=dtype, offset=base + start, count=(end - start) // dtype.itemsize)
        yield tensor_name, flat.view(shape)


@dataclass
class StagedCheckpoint:
    """Verified shards in load order; `stream()` hands them out once and lets go of each as it goes."""

    directory: Path
    shards: list[tuple[str, mmap.mmap]]
    read_s: float
    bytes: int = field(init=False)

    def __post_init__(self) -> None:
        self.bytes = sum(len(data) for _, data in self.shards)

    def stream(self) -> Iterator[tuple[str, Any]]:
        while self.shards:
            name, data = self.shards.pop(0)
            yield from shard_tensors(data, name)
            # Dropping the last reference frees the shard once the model has copied its tensors out.
            del data

    def shapes(self) -> dict[str, tuple[tuple[int, ...], str]]:
        found = {}
        for name, data in self.shards:
            header, _ = parse_header(data, name)
            found.update({tensor: (tuple(info["shape"]), info["dtype"]) for tensor, info in header.items()})
        return found


def stage(directory: Path, files: Sequence[FileEntry], *, label: str, workers: int,
          copy: bool = False) -> StagedCheckpoint:
    """Read and verify a full-weights checkpoint: its weight shards mapped into memory (or, with `copy`, read
    into private memory), `workers` at a time, hashed as they are read; its other files (config, index)
    hashed as they stream by. Raises on any mismatch."""
    started = time.perf_counter()
    by_path = {entry.path: entry for entry in files}
    order = weight_files(directory, list(by_path))
    others = [entry for path, entry in by_path.items() if path not in set(order)]
    verify_files(directory, others, label=label, workers=workers)
    shards = read_files(directory, [by_path[path] for path in order], label=label, workers=workers, copy=copy)
    return StagedCheckpoint(directory=Path(directory), shards=shards, read_s=time.perf_counter() - started)


def map_shards(directory: Path, files: Sequence[str]) -> StagedCheckpoint:
    """The weight shards of an already verified checkpoint, mapped (no copy, no hash) in load order: the
    policy hashes them in its own process first (verify_checkpoint, several at once), which pages them into
    the page cache that these mappings then read."""
    started = time.perf_counter()
    order = weight_files(directory, list(files))
    shards = [(path, map_file(resolve(directory, FileEntry(path, ""), directory.name))[0]) for path in order]
    return StagedCheckpoint(directory=Path(directory), shards=shards, read_s=time.perf_counter() - started)
