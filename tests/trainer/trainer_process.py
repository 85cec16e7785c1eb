"""Helpers of the trainer's integration tests: a trainer process, and synthetic episodes it can train on."""

from __future__ import annotations

import json
import random
from pathlib import Path

import grpc

from playpen.common.v1 import chat_pb2, episode_pb2
from playpen.trainer.v1 import trainer_pb2, trainer_pb2_grpc
from playpen_common import launcher


def start_trainer(name: str, workdir: Path, model: Path, data_dir: Path, *flags: str,
                  env: dict[str, str] | None = None, wait_ready: bool = True, processes: int = 1,
                  launcher_flags: list[str] | None = None) -> launcher.Service:
    """The trainer service; with processes > 1, a torchrun job of that many ranks on gloo (rank 0 serves); with
    `launcher_flags`, playpen-trainer-run with exactly those torchrun flags."""
    command = ["playpen-trainer"] if processes == 1 else [
        "playpen-trainer-run", "--standalone", f"--nproc-per-node={processes}", "--max-restarts=0", "--"]
    if launcher_flags is not None:
        command = ["playpen-trainer-run", *launcher_flags, "--"]
    return launcher.start(name, [*command, "--base-model", str(model), "--data-dir", str(data_dir),
                                 "--group-size", "2", "--groups-per-step", "1", "--torch-threads", "1",
                                 "--lr", "1e-3", "--max-staleness", "1000", *flags],
                          workdir, env={"OMP_NUM_THREADS": "1", **(env or {})}, timeout=180, wait_ready=wait_ready)


def rank_pids(service: launcher.Service) -> dict[int, int]:
    """rank -> PID of a torchrun trainer's ranks, from their "trainer ready" log lines."""
    pids = {}
    for line in service.log().splitlines():
        if '"trainer ready"' in line:
            record = json.loads(line)
            pids[record["rank"]] = record["pid"]
    return pids


def synthetic_episode(episode_id: str, group_id: str, *, vocab: int = 300, seed: int = 0, main_score: float = 50.0,
                      aborted: bool = False, version: int = 0) -> episode_pb2.Episode:
    """A completed one-turn episode with plausible token ids and (arbitrary) behaviour logprobs."""
    rng = random.Random(f"{episode_id}:{seed}")
    completion = [rng.randrange(3, vocab) for _ in range(5)]
    episode = episode_pb2.Episode(episode_id=episode_id, group_id=group_id, game="taboo", experiment="t",
                                  instance_id=f"t/{group_id}", split="train",
                                  status=episode_pb2.EPISODE_STATUS_COMPLETED,
                                  outcome=(episode_pb2.GAME_OUTCOME_ABORTED if aborted
                                           else episode_pb2.GAME_OUTCOME_LOSE))
    turn = episode.turns.add(index=0, round=0, role="Describer", player="Player 1", reply="x",
                             status=episode_pb2.TURN_STATUS_PARSE_ERROR if aborted else episode_pb2.TURN_STATUS_OK)
    turn.generation.CopyFrom(chat_pb2.Generation(
        prompt_token_ids=[rng.randrange(3, vocab) for _ in range(8)], completion_token_ids=completion,
        completion_logprobs=[-rng.uniform(3.0, 7.0) for _ in completion], policy_version=version, policy="learner"))
    episode.scores.aborted = aborted
    episode.scores.main_score = float("nan") if aborted else main_score
    episode.scores.episode["Main Score"] = episode.scores.main_score
    episode.scores.episode["Aborted"] = float(aborted)
    return episode


def groups(count: int, *, prefix: str = "g", size: int = 2) -> list[episode_pb2.Episode]:
    """`count` groups of `size` episodes whose scores differ within each group (so advantages are not zero)."""
    return [synthetic_episode(f"{prefix}{g}-{k}", f"{prefix}{g}", main_score=100.0 * k / (size - 1))
            for g in range(count) for k in range(size)]


def submit(target: str, episodes: list[episode_pb2.Episode], timeout: float = 60) -> list:
    with grpc.insecure_channel(target) as channel:
        stub = trainer_pb2_grpc.TrainerServiceStub(channel)
        requests = iter([trainer_pb2.SubmitEpisodesRequest(episode=e) for e in episodes])
        return list(stub.SubmitEpisodes(requests, timeout=timeout))


def status(target: str) -> trainer_pb2.GetStatusResponse:
    with grpc.insecure_channel(target) as channel:
        return trainer_pb2_grpc.TrainerServiceStub(channel).GetStatus(trainer_pb2.GetStatusRequest(), timeout=30)
