"""Sharded checkpoints: the manifest lists every shard and the index, verification hashes them in parallel,
reads keep exactly the hashed bytes, and an index that disagrees with the manifest is refused."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from playpen.common.v1 import checkpoint_pb2
from playpen_common.checkpoints import commit_manifest, verify_checkpoint, version_dir
from playpen_common.errors import FailedPrecondition
from playpen_common.shards import FileEntry, read_files, weight_files

INDEX = "model.safetensors.index.json"


def _sharded(root: Path, version: int = 1, shards: int = 3, size: int = 300_000) -> checkpoint_pb2.CheckpointRef:
    directory = version_dir(root, version)
    directory.mkdir(parents=True)
    names = [f"model-{i + 1:05d}-of-{shards:05d}.safetensors" for i in range(shards)]
    weight_map = {}
    for index, name in enumerate(names):
        (directory / name).write_bytes(os.urandom(size + index))
        weight_map.update({f"layers.{index}.{part}": name for part in ("a", "b")})
    (directory / INDEX).write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
    (directory / "config.json").write_text("{}")
    return commit_manifest(directory, checkpoint_pb2.CheckpointRef(
        version=version, kind=checkpoint_pb2.CHECKPOINT_KIND_FULL))


def _entries(ref: checkpoint_pb2.CheckpointRef) -> list[FileEntry]:
    return [FileEntry(f.path, f.sha256, f.size_bytes) for f in ref.files]


def test_the_manifest_of_a_sharded_checkpoint_lists_every_shard_and_verifies(tmp_path) -> None:
    ref = _sharded(tmp_path)
    assert sorted(f.path for f in ref.files) == sorted(
        ["config.json", INDEX] + [f"model-{i:05d}-of-00003.safetensors" for i in (1, 2, 3)])
    for workers in (1, 4):
        assert verify_checkpoint(ref, workers=workers) == Path(ref.uri)
    assert weight_files(Path(ref.uri), [f.path for f in ref.files]) == [
        f"model-{i:05d}-of-00003.safetensors" for i in (1, 2, 3)]


def test_a_shard_corrupted_after_the_manifest_fails_verification_and_reading(tmp_path) -> None:
    ref = _sharded(tmp_path)
    shard = Path(ref.uri) / "model-00002-of-00003.safetensors"
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0x01  # same size: only the hash can tell
    shard.write_bytes(bytes(data))
    for workers in (1, 4):
        with pytest.raises(FailedPrecondition, match=r"model-00002-of-00003\.safetensors is corrupt"):
            verify_checkpoint(ref, workers=workers)
        for copy in (False, True):
            with pytest.raises(FailedPrecondition, match="is corrupt"):
                read_files(Path(ref.uri), _entries(ref), label="v1", workers=workers, copy=copy)


@pytest.mark.parametrize("copy", [False, True], ids=["mapped", "copied"])
def test_parallel_reads_equal_serial_reads_and_the_files_on_disk(tmp_path, copy: bool) -> None:
    ref = _sharded(tmp_path, shards=5)
    serial = read_files(Path(ref.uri), _entries(ref), label="v1", workers=1, copy=copy)
    parallel = read_files(Path(ref.uri), _entries(ref), label="v1", workers=4, copy=copy)
    assert [path for path, _ in parallel] == [path for path, _ in serial] == [f.path for f in ref.files]
    for (path, one), (_, other) in zip(serial, parallel, strict=True):
        assert bytes(one) == bytes(other) == (Path(ref.uri) / path).read_bytes()


def test_an_index_naming_a_shard_the_manifest_does_not_list_is_refused(tmp_path) -> None:
    ref = _sharded(tmp_path)
    listed = checkpoint_pb2.CheckpointRef()
    listed.CopyFrom(ref)
    del listed.files[:]
    listed.files.extend(f for f in ref.files if not f.path.startswith("model-00003"))
    with pytest.raises(FailedPrecondition, match="does not list"):
        verify_checkpoint(listed)


def test_a_stray_shard_the_index_does_not_name_is_refused(tmp_path) -> None:
    directory = Path(_sharded(tmp_path).uri)
    (directory / "model-extra.safetensors").write_bytes(b"x" * 10)
    (directory / "manifest.json").unlink()
    ref = commit_manifest(directory, checkpoint_pb2.CheckpointRef(
        version=1, kind=checkpoint_pb2.CHECKPOINT_KIND_FULL))
    with pytest.raises(FailedPrecondition, match="does not name"):
        verify_checkpoint(ref)


def test_a_truncated_shard_is_refused_before_it_is_hashed(tmp_path) -> None:
    ref = _sharded(tmp_path)
    shard = Path(ref.uri) / "model-00001-of-00003.safetensors"
    shard.write_bytes(shard.read_bytes()[:1000])
    with pytest.raises(FailedPrecondition, match="partial write"):
        verify_checkpoint(ref)
