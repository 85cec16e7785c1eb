"""SmolLM2-135M-Instruct plays every game — the training games and the unseen (evaluation-only) games —
through the real game master and the real vLLM policy.

The default run plays one validation episode of every game; the slow run plays more, and official
clembench instances too. Nothing here asserts that the model plays well (it does not, yet): it asserts that
every turn went through the stack and came back with what the trainer needs.
"""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest

from playpen.common.v1 import chat_pb2, episode_pb2
from playpen.gamemaster.v1 import gamemaster_pb2 as gm
from playpen.gamemaster.v1 import gamemaster_pb2_grpc
from playpen_common import launcher
from playpen_games.registry import GAMES, TRAINING_GAMES

UNSEEN_GAMES = tuple(name for name in GAMES if name not in TRAINING_GAMES)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def patient_gamemaster(workdir, shared_or_none) -> Iterator[gamemaster_pb2_grpc.GameMasterServiceStub]:
    """A game master that waits as long as a batch of real generations on two CPU cores can take."""
    env = {"PLAYPEN_GAMEMASTER_CLEMBENCH_DIR": str(shared_or_none / "clembench")} if shared_or_none else {}
    service = launcher.start("gamemaster-real", ["playpen-gamemaster", "--policy-timeout-s", "600"], workdir, env=env)
    with grpc.insecure_channel(service.target) as channel:
        yield gamemaster_pb2_grpc.GameMasterServiceStub(channel)
    service.stop()


def _play(stub, target: str, games=TRAINING_GAMES, **fields) -> list[episode_pb2.Episode]:
    request = gm.PlayEpisodesRequest(
        games=list(games), default_player=gm.PlayerConfig(
            policy=gm.PolicyEndpoint(target=target, name="smollm2"),
            sampling=chat_pb2.SamplingParams(temperature=0.0, max_tokens=48)), **fields)
    return [r.episode for r in stub.PlayEpisodes(request, timeout=900)]


def _check(episodes: list[episode_pb2.Episode]) -> None:
    for episode in episodes:
        assert episode.status == episode_pb2.EPISODE_STATUS_COMPLETED, (episode.game, episode.error)
        assert episode.outcome in (episode_pb2.GAME_OUTCOME_SUCCESS, episode_pb2.GAME_OUTCOME_LOSE,
                                   episode_pb2.GAME_OUTCOME_ABORTED)
        model_turns = [t for t in episode.turns if not t.programmatic]
        assert model_turns, episode.game
        for turn in model_turns:
            generation = turn.generation
            assert generation.policy == "smollm2" and generation.policy_version == 0
            assert generation.prompt_token_ids and generation.completion_token_ids
            assert len(generation.completion_logprobs) == len(generation.completion_token_ids)
            assert len(generation.completion_token_ids) <= 48


def test_smollm2_plays_one_episode_of_every_training_game(patient_gamemaster, smollm2_policy) -> None:
    episodes = _play(patient_gamemaster, smollm2_policy.target, split="validation", instances_per_game=1, seed=3)
    assert sorted(e.game for e in episodes) == sorted(TRAINING_GAMES)
    _check(episodes)


def test_smollm2_plays_one_episode_of_every_unseen_game(patient_gamemaster, smollm2_policy) -> None:
    """An unseen game without generated instances would have no validation split: each must have one."""
    assert set(UNSEEN_GAMES) >= {"codenames", "guesswhat", "matchit_ascii", "textmapworld",
                                 "textmapworld_specificroom", "textmapworld_graphreasoning", "adventuregame"}
    episodes = _play(patient_gamemaster, smollm2_policy.target, games=UNSEEN_GAMES, split="validation",
                     instances_per_game=1, seed=3)
    assert sorted(e.game for e in episodes) == sorted(UNSEEN_GAMES)
    _check(episodes)


@pytest.mark.slow
def test_smollm2_plays_generated_and_official_instances(patient_gamemaster, smollm2_policy, clembench) -> None:
    episodes = _play(patient_gamemaster, smollm2_policy.target, split="test", instances_per_game=4, seed=4)
    episodes += _play(patient_gamemaster, smollm2_policy.target, split="clembench", instances_per_game=2, seed=4)
    assert len(episodes) == 6 * len(TRAINING_GAMES)
    _check(episodes)
