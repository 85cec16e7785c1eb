"""The trainer as a process: idempotent durable ingestion, flow control, exactly-once training across kill -9,
and checkpoints that are announced only when intact."""

from __future__ import annotations

import json
import random
import signal
import threading
import time
from pathlib import Path

import grpc
import pytest

from playpen.trainer.v1 import trainer_pb2, trainer_pb2_grpc
from playpen_common.checkpoints import committed_checkpoints, verify_checkpoint
from playpen_trainer.faults import POINTS
from playpen_trainer.store import EpisodeStore
from tests.tiny_model import build_tiny_model
from tests.trainer.trainer_process import groups, start_trainer, status, submit, synthetic_episode


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("trainer-model") / "model")


def wait_for(predicate, timeout: float = 60.0, interval: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(interval)


def test_ingestion_is_idempotent_under_retries_and_refuses_malformed_episodes(model, tmp_path) -> None:
    trainer = start_trainer("ingest", tmp_path, model, tmp_path / "data", "--group-size", "50")
    try:
        episodes = [synthetic_episode(f"e{k}", f"g{k // 2}") for k in range(6)]
        acks = submit(trainer.target, episodes)
        assert [a.status for a in acks] == [trainer_pb2.ACK_STATUS_STORED] * 6
        # The acks of the last three were "lost": the client sends them again.
        acks = submit(trainer.target, episodes[3:])
        assert [a.status for a in acks] == [trainer_pb2.ACK_STATUS_DUPLICATE] * 3
        broken = synthetic_episode("bad", "g9")
        del broken.turns[0].generation.completion_logprobs[-1]
        (ack,) = submit(trainer.target, [broken])
        assert ack.status == trainer_pb2.ACK_STATUS_REJECTED and ack.error.startswith("INVALID_ARGUMENT")
        # Bounds: a 5000-character run_id is refused alone; a long transcript is within its own limit.
        oversized = synthetic_episode("big", "g9")
        oversized.run_id = "r" * 5000
        long_prompt = synthetic_episode("long", "g9")
        long_prompt.turns[0].messages.add(role="user", content="x" * 200_000)
        acks = submit(trainer.target, [oversized, long_prompt])
        assert acks[0].status == trainer_pb2.ACK_STATUS_REJECTED and "run_id has 5000 characters" in acks[0].error
        assert len(acks[0].error) < 400 and acks[1].status == trainer_pb2.ACK_STATUS_STORED
        # Bytes that are not UTF-8 in a string field end the stream as INVALID_ARGUMENT, not UNKNOWN.
        with grpc.insecure_channel(trainer.target) as channel:
            raw = channel.stream_stream("/playpen.trainer.v1.TrainerService/SubmitEpisodes",
                                        request_serializer=lambda data: data, response_deserializer=lambda data: data)
            with pytest.raises(grpc.RpcError) as raised:
                list(raw(iter([b"\x0a\x06\x0a\x04\xff\xfe\xc3("]), timeout=30))
        assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "UTF-8" in raised.value.details()
        assert status(trainer.target).episodes_stored == 7
    finally:
        assert trainer.stop() == 0
    assert EpisodeStore(tmp_path / "data" / "episodes.db").counts().stored == 7  # durable after the stop


def test_a_full_buffer_slows_the_stream_down_instead_of_growing(model, tmp_path) -> None:
    trainer = start_trainer("flow", tmp_path, model, tmp_path / "data", "--group-size", "50", "--max-buffered", "4")
    acks: list = []
    try:
        with grpc.insecure_channel(trainer.target) as channel:
            stub = trainer_pb2_grpc.TrainerServiceStub(channel)
            stream = stub.SubmitEpisodes(iter([trainer_pb2.SubmitEpisodesRequest(
                episode=synthetic_episode(f"e{k}", f"g{k}")) for k in range(12)]), timeout=60)

            def read() -> None:
                try:
                    for ack in stream:
                        acks.append(ack)
                except grpc.RpcError:
                    pass

            reader = threading.Thread(target=read, daemon=True)
            reader.start()
            wait_for(lambda: len(acks) >= 4)
            time.sleep(1.5)  # give a misbehaving server the time to accept more
            assert len(acks) == 4
            assert status(trainer.target).episodes_buffered == 4
            stream.cancel()
            reader.join(10)
    finally:
        assert trainer.stop() == 0


def _check_exactly_once(data_dir: Path, expected_steps: int) -> None:
    refs = committed_checkpoints(data_dir / "checkpoints")
    for ref in refs:
        verify_checkpoint(ref)
    assert refs[-1].step == expected_steps
    consumption = EpisodeStore(data_dir / "episodes.db").consumption()
    assert all(step is not None for step in consumption.values()), consumption
    by_group: dict[str, set[int]] = {}
    for episode_id, step in consumption.items():
        by_group.setdefault(episode_id.split("-")[0], set()).add(step)
    # Each group was trained in exactly one step, every step trained exactly one group (groups_per_step=1).
    assert all(len(steps) == 1 for steps in by_group.values())
    assert sorted(step for steps in by_group.values() for step in steps) == list(range(1, expected_steps + 1))


@pytest.mark.parametrize("point", POINTS)
def test_a_crash_at_any_point_resumes_without_training_twice_or_skipping(model, tmp_path, point) -> None:
    data = tmp_path / "data"
    crashing = start_trainer("crashing", tmp_path, model, data, env={"PLAYPEN_TRAINER_CRASH_AT": point})
    try:
        submit(crashing.target, groups(1, prefix="a"))
        assert crashing.process.wait(60) == 137
    finally:
        crashing.stop()
    trainer = start_trainer("resumed", tmp_path, model, data)
    try:
        submit(trainer.target, groups(2, prefix="b"))
        wait_for(lambda: status(trainer.target).step == 3)
        wait_for(lambda: status(trainer.target).latest_version == 3)
    finally:
        assert trainer.stop() == 0
    _check_exactly_once(data, expected_steps=3)


def test_kill_9_at_random_moments_loses_and_repeats_nothing(model, tmp_path) -> None:
    data = tmp_path / "data"
    rng = random.Random(7)
    episodes = groups(8, prefix="r")
    sent = 0
    while True:
        trainer = start_trainer("random-kill", tmp_path, model, data)
        try:
            if sent < len(episodes):
                submit(trainer.target, episodes[sent:sent + 4])
                sent += 4
            if status(trainer.target).step >= 8 and sent >= len(episodes):
                wait_for(lambda target=trainer.target: status(target).latest_version >= 8)
                assert trainer.stop() == 0
                break
            time.sleep(rng.uniform(0.0, 1.0))
            trainer.process.send_signal(signal.SIGKILL)
            trainer.process.wait(30)
        finally:
            trainer.stop()  # a no-op after the kill; stops it if the test fails on the way
    _check_exactly_once(data, expected_steps=8)


def test_a_corrupt_checkpoint_is_never_announced(model, tmp_path) -> None:
    data = tmp_path / "data"
    trainer = start_trainer("corrupt", tmp_path, model, data)
    try:
        submit(trainer.target, groups(2, prefix="c"))
        wait_for(lambda: status(trainer.target).latest_version == 2)
    finally:
        assert trainer.stop() == 0
    newest = data / "checkpoints" / "v00000002" / "model.safetensors"
    content = bytearray(newest.read_bytes())
    content[-3] ^= 0xFF
    newest.write_bytes(bytes(content))
    # Group size 50 on the restart: the rewound group is not retrained, so v2 is not written again meanwhile.
    trainer = start_trainer("after-corruption", tmp_path, model, data, "--group-size", "50")
    try:
        assert status(trainer.target).latest_version == 1
        with grpc.insecure_channel(trainer.target) as channel:
            stream = trainer_pb2_grpc.TrainerServiceStub(channel).WatchCheckpoints(
                trainer_pb2.WatchCheckpointsRequest(), timeout=10)
            first = next(iter(stream))
            assert first.checkpoint.version == 1
            verify_checkpoint(first.checkpoint)
            stream.cancel()
    finally:
        assert trainer.stop() == 0


def test_episodes_older_than_the_staleness_bound_are_dropped_and_counted(model, tmp_path) -> None:
    trainer = start_trainer("stale", tmp_path, model, tmp_path / "data", "--max-staleness", "0")
    try:
        submit(trainer.target, groups(1, prefix="fresh"))
        wait_for(lambda: status(trainer.target).latest_version == 1)
        submit(trainer.target, groups(1, prefix="old"))  # played by version 0, the trainer is at 1
        wait_for(lambda: status(trainer.target).episodes_dropped == 2)
        final = status(trainer.target)
        assert (final.step, final.episodes_consumed, final.latest_version) == (1, 2, 1)
    finally:
        assert trainer.stop() == 0
    consumption = EpisodeStore(tmp_path / "data" / "episodes.db").consumption()
    assert consumption["old0-0"] is None and consumption["fresh0-0"] == 1


def test_a_warm_start_is_committed_as_version_1_once_and_steps_are_logged(model, tmp_path) -> None:
    import json

    from safetensors.torch import load_file

    from tests.tiny_model import build_tiny_model

    warm = build_tiny_model(tmp_path / "warm", seed=7)
    data = tmp_path / "data"
    trainer = start_trainer("warm", tmp_path, model, data, "--init-from", str(warm))
    try:
        assert status(trainer.target).latest_version == 1  # committed before ready
        (v1,) = committed_checkpoints(data / "checkpoints")
        verify_checkpoint(v1)
        warm_weights, committed = load_file(warm / "model.safetensors"), load_file(Path(v1.uri) / "model.safetensors")
        assert all((committed[name] == tensor).all() for name, tensor in warm_weights.items())
        submit(trainer.target, groups(1, prefix="w"))
        wait_for(lambda: status(trainer.target).latest_version == 2)
    finally:
        assert trainer.stop() == 0
    lines = [json.loads(line) for line in (data / "steps.jsonl").read_text().splitlines()]
    assert [(line["step"], line["version"], line["episodes"]) for line in lines] == [(1, 1, 2)]
    assert lines[0]["reward_per_game"] == {"taboo": 0.5} and lines[0]["aborted_share"] == 0.0
    # A restart resumes from v2: the warm start is not committed again.
    trainer = start_trainer("warm-again", tmp_path, model, data, "--init-from", str(warm))
    try:
        final = status(trainer.target)
        assert (final.latest_version, final.step) == (2, 1)
    finally:
        assert trainer.stop() == 0


def _flat_group(name: str) -> list:
    """Two episodes with the same score: equal rewards, zero advantages, no policy gradient."""
    return [synthetic_episode(f"{name}-{k}", name, main_score=40.0) for k in range(2)]


def test_flat_groups_are_dropped_and_a_step_waits_for_groups_with_signal(model, tmp_path) -> None:
    """--flat-groups drop: a group whose rewards are all equal is set aside ("no signal"), never trained on; a
    group with signal waits, pending, until groups_per_step such groups are there; then one step trains them."""
    data = tmp_path / "data"
    trainer = start_trainer("flat", tmp_path, model, data, "--groups-per-step", "2", "--flat-groups", "drop")
    try:
        submit(trainer.target, [*_flat_group("f0"), *groups(1, prefix="s")])
        wait_for(lambda: status(trainer.target).episodes_dropped == 2)
        now = status(trainer.target)
        assert (now.step, now.episodes_buffered, now.episodes_consumed) == (0, 2, 0)
        submit(trainer.target, [*_flat_group("f1"), *groups(1, prefix="t")])
        wait_for(lambda: status(trainer.target).step == 1)
        now = status(trainer.target)
        assert (now.episodes_dropped, now.episodes_consumed, now.episodes_buffered) == (4, 4, 0)
    finally:
        assert trainer.stop() == 0
    consumption = EpisodeStore(data / "episodes.db").consumption()
    assert {e for e, step in consumption.items() if step == 1} == {"s0-0", "s0-1", "t0-0", "t0-1"}
    lines = [json.loads(line) for line in (data / "steps.jsonl").read_text().splitlines()]
    trained = [line for line in lines if line["episodes"]]
    assert len(trained) == 1 and trained[0]["groups_per_game"] == {"taboo": {"signal": 2, "flat": 0}}
    assert '"flat_groups": {"taboo": 1}' in trainer.log()  # the set-aside groups are logged, not steps.jsonl
    # groups.jsonl: every group once — the flat ones set aside (no step), the two with signal when step 1 took them.
    judged = [json.loads(line) for line in (data / "groups.jsonl").read_text().splitlines()]
    assert sorted((g["instance_id"], g["step"], g["set_aside"], g["signal"]) for g in judged) == [
        ("t/f0", None, True, False), ("t/f1", None, True, False), ("t/s0", 1, False, True), ("t/t0", 1, False, True)]
    flat = next(g for g in judged if g["instance_id"] == "t/f0")
    assert flat["advantages"] == [0.0, 0.0] and len(set(flat["game_rewards"])) == 1 and flat["game"] == "taboo"
    signal = next(g for g in judged if g["instance_id"] == "t/s0")
    assert signal["advantages"][0] == -signal["advantages"][1] != 0 and signal["aborted"] == [False, False]


def test_flat_groups_are_trained_by_default(model, tmp_path) -> None:
    """Default (--flat-groups train): a flat group is consumed by a step like any other (its tokens count)."""
    data = tmp_path / "data"
    trainer = start_trainer("flat-train", tmp_path, model, data)
    try:
        submit(trainer.target, _flat_group("f0"))
        wait_for(lambda: status(trainer.target).step == 1)
        assert status(trainer.target).episodes_dropped == 0
    finally:
        assert trainer.stop() == 0
    (line,) = [json.loads(line) for line in (data / "steps.jsonl").read_text().splitlines()]
    assert line["groups_per_game"] == {"taboo": {"signal": 0, "flat": 1}}
    (judged,) = [json.loads(line) for line in (data / "groups.jsonl").read_text().splitlines()]
    assert (judged["step"], judged["set_aside"], judged["signal"], judged["advantages"]) == (1, False, False, [0, 0])


def test_a_lora_warm_start_is_the_adapters_base_and_version_1_is_the_untrained_adapter(model, tmp_path) -> None:
    from safetensors.torch import load_file

    from playpen.common.v1 import checkpoint_pb2
    from playpen_common.checkpoints import read_manifest

    warm = build_tiny_model(tmp_path / "warm", seed=7)
    data = tmp_path / "data"
    trainer = start_trainer("lora-warm", tmp_path, model, data, "--init-from", str(warm), "--lora", "true",
                            "--lora-rank", "4")
    try:
        assert status(trainer.target).latest_version == 1
        (v1,) = committed_checkpoints(data / "checkpoints")
        verify_checkpoint(v1)
        assert v1.kind == checkpoint_pb2.CHECKPOINT_KIND_LORA and v1.base_model == str(warm)
        adapter = load_file(Path(v1.uri) / "adapter_model.safetensors")
        # PEFT starts every B at zero: the first version serves exactly the warm start it is applied to.
        assert all((tensor == 0).all() for name, tensor in adapter.items() if "lora_B" in name)
        submit(trainer.target, groups(1, prefix="l"))
        wait_for(lambda: status(trainer.target).latest_version == 2)
    finally:
        assert trainer.stop() == 0
    v2 = read_manifest(data / "checkpoints" / Path(committed_checkpoints(data / "checkpoints")[-1].uri).name)
    assert v2.version == 2 and v2.kind == checkpoint_pb2.CHECKPOINT_KIND_LORA
    trained = load_file(Path(v2.uri) / "adapter_model.safetensors")
    assert any((tensor != 0).any() for name, tensor in trained.items() if "lora_B" in name)
    # A restart resumes the adapter over the same base; the warm start is not committed again.
    trainer = start_trainer("lora-warm-again", tmp_path, model, data, "--init-from", str(warm), "--lora", "true",
                            "--lora-rank", "4")
    try:
        assert (status(trainer.target).latest_version, status(trainer.target).step) == (2, 1)
    finally:
        assert trainer.stop() == 0
