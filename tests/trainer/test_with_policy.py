"""The trainer with the real policy service (vLLM on CPU, fp32, a tiny model) and the real game master.

- The trainer's log-probabilities of the tokens the policy sampled at version v equal the policy's own, and
  differ once the trainer has moved on.
- The loop closes: episodes from the game master flow into the trainer, it commits a checkpoint, the replica
  (following the trainer) serves it, and the next episodes carry the new version.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from playpen.common.v1 import chat_pb2, checkpoint_pb2
from playpen.gamemaster.v1 import gamemaster_pb2 as gm
from playpen.gamemaster.v1 import gamemaster_pb2_grpc
from playpen.policy.v1 import policy_pb2, policy_pb2_grpc
from playpen.trainer.v1 import trainer_pb2, trainer_pb2_grpc
from playpen_common import launcher
from playpen_common.checkpoints import commit_manifest, version_dir
from playpen_trainer.samples import TurnSample
from tests.conftest import unavailable
from tests.tiny_model import build_tiny_model
from tests.trainer.trainer_process import start_trainer, status

REPO = Path(__file__).resolve().parents[2]
POLICY = REPO / ".venv-policy" / "bin" / "playpen-policy"
GAMEMASTER = REPO / ".venv" / "bin" / "playpen-gamemaster"
POLICY_ENV = {"VLLM_CPU_KVCACHE_SPACE": "1", "OMP_NUM_THREADS": "1"}


def _require(executable: Path) -> None:
    if not executable.exists():
        message = f"{executable} is not installed; run `make setup`"
        unavailable(message)


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("parity-model") / "model")


@pytest.fixture(scope="module")
def policy(tmp_path_factory, model) -> Iterator[launcher.Service]:
    _require(POLICY)
    service = launcher.start("parity-policy", [str(POLICY), "--model", str(model)],
                             tmp_path_factory.mktemp("parity"), env=POLICY_ENV, timeout=240)
    yield service
    service.stop()


def _sample(stub, prompt: str, seed: int) -> TurnSample:
    response = stub.Generate(policy_pb2.GenerateRequest(
        messages=[chat_pb2.ChatMessage(role="user", content=prompt)],
        sampling=chat_pb2.SamplingParams(temperature=1.0, max_tokens=12, seed=seed)), timeout=60)
    return TurnSample(episode_id=f"p{seed}", group_id="g", game="taboo", role="Describer", turn_index=0,
                      prompt_ids=list(response.prompt_token_ids), completion_ids=list(response.completion_token_ids),
                      behaviour_logprobs=list(response.completion_logprobs), policy_version=response.policy_version,
                      well_formed=True)


def _max_gap(model, samples) -> float:
    """Largest |trainer − policy| log-probability over all sampled tokens."""
    import torch

    from playpen_trainer.grpo import sequence_logprobs

    with torch.no_grad():
        computed = sequence_logprobs(model.module, samples)
    gaps = [(c - torch.tensor(s.behaviour_logprobs)).abs().max() for c, s in zip(computed, samples, strict=True)]
    return float(max(gaps))


def test_trainer_logprobs_equal_the_policys_at_the_same_version(policy, model, tmp_path) -> None:
    from playpen_trainer.grpo import GrpoConfig, grpo_step
    from playpen_trainer.model import PolicyModel, make_optimizer

    learner = PolicyModel.load(model, lora=None)
    with grpc.insecure_channel(policy.target) as channel:
        stub = policy_pb2_grpc.PolicyServiceStub(channel)
        samples = [_sample(stub, prompt, seed) for seed, prompt in
                   enumerate(["CLUE: a cold season", "GUESS: winter", "Answer: first", "the lazy dog"])]
        assert _max_gap(learner, samples) < 2e-4  # version 0 on both sides

        for sample, advantage in zip(samples, [1.0, -1.0, 1.0, -1.0], strict=True):
            sample.advantage = advantage
        optimizer = make_optimizer(learner, lr=5e-2, weight_decay=0.0)
        grpo_step(learner, optimizer, samples, GrpoConfig(), ref_model=None, current_version=0, max_grad_norm=10.0)
        assert _max_gap(learner, samples) > 1e-2  # the trainer has moved on; the policy still serves v0

        # Publish the trainer's weights as version 1: what the policy samples at v1, the trainer scores the same.
        directory = version_dir(tmp_path, 1)
        directory.mkdir(parents=True)
        learner.save(directory)
        ref = commit_manifest(directory, checkpoint_pb2.CheckpointRef(
            version=1, kind=checkpoint_pb2.CHECKPOINT_KIND_FULL))
        stub.LoadWeights(policy_pb2.LoadWeightsRequest(checkpoint=ref), timeout=120)
        fresh = [_sample(stub, "CLUE: a cold season", seed) for seed in range(10, 13)]
        assert {s.policy_version for s in fresh} == {1}
        assert _max_gap(learner, fresh) < 2e-4


def test_the_loop_closes_episodes_to_trainer_to_checkpoint_to_replicas(model, tmp_path) -> None:
    _require(POLICY)
    _require(GAMEMASTER)
    trainer = start_trainer("loop-trainer", tmp_path, model, tmp_path / "data", "--learner", "learner")
    replica = gamemaster = None
    try:
        replica = launcher.start("loop-policy", [str(POLICY), "--model", str(model), "--follow-trainer",
                                                 trainer.target, "--follow-poll-s", "0.2"], tmp_path, env=POLICY_ENV,
                                 timeout=240)
        gamemaster = launcher.start("loop-gamemaster", [str(GAMEMASTER), "--policy-timeout-s", "120"], tmp_path)
        with grpc.insecure_channel(gamemaster.target) as gm_channel, \
                grpc.insecure_channel(trainer.target) as tr_channel, \
                grpc.insecure_channel(replica.target) as po_channel:
            games = gamemaster_pb2_grpc.GameMasterServiceStub(gm_channel)
            ingest = trainer_pb2_grpc.TrainerServiceStub(tr_channel)
            replicas = policy_pb2_grpc.PolicyServiceStub(po_channel)

            def play(run_id: str) -> list:
                request = gm.PlayEpisodesRequest(
                    games=["taboo"], split="train", instances_per_game=2, group_size=2, run_id=run_id, seed=1,
                    default_player=gm.PlayerConfig(policy=gm.PolicyEndpoint(target=replica.target, name="learner"),
                                                   sampling=chat_pb2.SamplingParams(temperature=1.0, max_tokens=8)))
                return [r.episode for r in games.PlayEpisodes(request, timeout=300)]

            first = play("first")
            assert {t.generation.policy_version for e in first for t in e.turns} == {0}
            acks = list(ingest.SubmitEpisodes(iter(trainer_pb2.SubmitEpisodesRequest(episode=e) for e in first),
                                              timeout=60))
            assert {a.status for a in acks} == {trainer_pb2.ACK_STATUS_STORED}
            deadline = time.monotonic() + 120
            while replicas.GetStatus(policy_pb2.GetStatusRequest(), timeout=10).policy_version < 1:
                assert time.monotonic() < deadline, "the replica never loaded the trainer's checkpoint"
                time.sleep(0.2)
            assert status(trainer.target).latest_version >= 1
            second = play("second")
            assert min(t.generation.policy_version for e in second for t in e.turns) >= 1
    finally:
        for service in (gamemaster, replica, trainer):
            if service is not None:
                service.stop()
