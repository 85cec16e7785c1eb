"""playpen_common.bounds and checkpoint confinement: what a request may carry, and where a checkpoint may lie."""

from __future__ import annotations

from pathlib import Path

import pytest

from playpen.common.v1 import checkpoint_pb2, episode_pb2
from playpen.policy.v1 import policy_pb2
from playpen_common.bounds import Limits, check_sizes, json_depth_ok, quoted
from playpen_common.checkpoints import commit_manifest, confine, version_dir
from playpen_common.errors import InvalidArgument


def refusal(call) -> str:
    with pytest.raises(InvalidArgument) as raised:
        call()
    assert len(raised.value.message) < 400
    return raised.value.message


def test_quoted_keeps_a_short_prefix() -> None:
    assert quoted("abc") == "'abc'"
    assert quoted("x" * 10_000) == repr("x" * 64 + "…")


def test_strings_lists_maps_and_json_have_limits_and_long_fields_their_own() -> None:
    episode = episode_pb2.Episode(episode_id="e" * 5000)
    assert "episode_id has 5000 characters" in refusal(lambda: check_sizes(episode))
    turn = episode_pb2.Turn(reply="r" * 50_000, messages=[{"role": "user", "content": "c" * 50_000}])
    assert "turns[0].messages[0].content has 50000" in refusal(lambda: check_sizes(episode_pb2.Episode(turns=[turn])))
    long = Limits(long_text={"reply": 60_000, "content": 60_000})
    check_sizes(episode_pb2.Episode(turns=[turn]), long)
    scores = episode_pb2.Episode(scores=episode_pb2.EpisodeScores(episode={"k" * 5000: 1.0}))
    assert "scores.episode key has 5000" in refusal(lambda: check_sizes(scores))
    many = episode_pb2.Episode(scores=episode_pb2.EpisodeScores(episode={str(k): 1.0 for k in range(10_001)}))
    assert "scores.episode has 10001 entries" in refusal(lambda: check_sizes(many))
    deep = episode_pb2.Episode(turns=[episode_pb2.Turn(parsed_json="[" * 40 + "]" * 40)])
    assert "turns[0].parsed_json: a JSON document nested deeper than 32" in refusal(lambda: check_sizes(deep))
    tokens = policy_pb2.GenerateResponse(prompt_token_ids=list(range(20_000)))
    assert "prompt_token_ids has 20000 entries" in refusal(lambda: check_sizes(tokens))
    check_sizes(tokens, Limits(long_items={"prompt_token_ids": 1 << 20}))
    check_sizes(episode_pb2.Episode(episode_id="e" * 5000), Limits(skip=frozenset({"episode_id"})))


def test_json_depth_ignores_brackets_inside_strings() -> None:
    json_depth_ok('{"a": "' + "[" * 100 + '"}')
    assert "more than 10" in refusal(lambda: json_depth_ok("[" * 11, max_chars=10))


def committed(root: Path, version: int) -> checkpoint_pb2.CheckpointRef:
    directory = version_dir(root, version)
    directory.mkdir(parents=True)
    (directory / "model.safetensors").write_bytes(b"weights")
    return commit_manifest(directory, checkpoint_pb2.CheckpointRef(version=version,
                                                                  kind=checkpoint_pb2.CHECKPOINT_KIND_FULL))


def test_a_checkpoint_must_lie_under_a_root_with_its_links_resolved(tmp_path: Path) -> None:
    root, outside = tmp_path / "root", tmp_path / "outside"
    inside = committed(root, 1)
    confine(inside, [root])
    confine(inside, [])  # no roots configured: anywhere
    foreign = committed(outside, 2)
    assert "not under the checkpoint roots" in refusal(lambda: confine(foreign, [root]))
    (root / "v00000002").symlink_to(outside / "v00000002", target_is_directory=True)
    linked = checkpoint_pb2.CheckpointRef()
    linked.CopyFrom(foreign)
    linked.uri = str(root / "v00000002")
    assert "not under the checkpoint roots" in refusal(lambda: confine(linked, [root]))
    confine(linked, [root], on_disk=False)  # as written it is inside: only a reader of the disk can tell
    dotted = checkpoint_pb2.CheckpointRef()
    dotted.CopyFrom(inside)
    dotted.uri = str(root / ".." / "outside" / "v00000002")
    assert "'..'" in refusal(lambda: confine(dotted, [root], on_disk=False))
    relative = checkpoint_pb2.CheckpointRef()
    relative.CopyFrom(inside)
    relative.uri = "root/v00000001"
    assert "absolute path" in refusal(lambda: confine(relative, [root]))
    # A file of a checkpoint inside the root that is a link out of it.
    (version_dir(root, 1) / "extra.bin").symlink_to(outside / "v00000002" / "model.safetensors")
    inside.files.add(path="extra.bin", sha256="0" * 64, size_bytes=7)
    assert "'extra.bin' leads outside" in refusal(lambda: confine(inside, [root]))
    del inside.files[-1]
    inside.files.add(path="../v00000002/model.safetensors")
    assert "escapes the directory" in refusal(lambda: confine(inside, [root]))
