"""Staging a sharded checkpoint in the worker: the tensors streamed shard by shard are exactly the ones in the
files, whether the shards were read one at a time or several at once; a corrupt shard stages nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from playpen_common.errors import FailedPrecondition
from playpen_common.shards import FileEntry
from playpen_policy.staging import stage
from tests.policy.conftest import make_checkpoint


def _entries(ref) -> list[FileEntry]:
    return [FileEntry(f.path, f.sha256, f.size_bytes) for f in ref.files]


@pytest.mark.parametrize("copy", [False, True], ids=["mapped", "copied"])
def test_streamed_tensors_equal_the_files_for_serial_and_parallel_reads(tmp_path, copy: bool) -> None:
    ref = make_checkpoint(tmp_path, 1, seed=3, max_shard_size="100KB")
    directory = Path(ref.uri)
    expected = {}
    for path in sorted(directory.glob("*.safetensors")):
        expected.update(load_file(str(path)))
    streams = {}
    for workers in (1, 4):
        staged = stage(directory, _entries(ref), label="v1", workers=workers, copy=copy)
        assert staged.bytes == sum(p.stat().st_size for p in directory.glob("*.safetensors"))
        assert len(staged.shards) >= 3
        assert set(staged.shapes()) == set(expected)
        streams[workers] = list(staged.stream())
        assert staged.shards == []  # handed out once
    assert [name for name, _ in streams[1]] == [name for name, _ in streams[4]]
    assert sorted(name for name, _ in streams[4]) == sorted(expected)
    for (name, serial), (_, parallel) in zip(streams[1], streams[4], strict=True):
        assert torch.equal(serial, expected[name]) and torch.equal(parallel, expected[name])


def test_a_corrupt_shard_stages_nothing(tmp_path) -> None:
    ref = make_checkpoint(tmp_path, 1, seed=4, max_shard_size="100KB")
    shard = sorted(Path(ref.uri).glob("*.safetensors"))[-1]
    data = bytearray(shard.read_bytes())
    data[-1] ^= 0x01
    shard.write_bytes(bytes(data))
    with pytest.raises(FailedPrecondition, match="is corrupt"):
        stage(Path(ref.uri), _entries(ref), label="v1", workers=4)
