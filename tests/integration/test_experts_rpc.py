"""The builtin experts through the gRPC game master: ListGames flags them, PlayEpisodes plays them in every
role (expert-vs-expert) or in one role beside a policy (teacher-play), and bad requests are refused."""

from __future__ import annotations

import grpc
import pytest

from playpen.common.v1 import episode_pb2
from playpen.gamemaster.v1 import gamemaster_pb2 as gm
from playpen_games.registry import TRAINING_GAMES

pytestmark = pytest.mark.integration

EXPERT = gm.PlayerConfig(builtin="expert")


def play(stub, **fields) -> list[episode_pb2.Episode]:
    return [r.episode for r in stub.PlayEpisodes(gm.PlayEpisodesRequest(**fields), timeout=300)]


def test_list_games_flags_the_roles_with_an_expert(gm_stub) -> None:
    games = {g.name: g for g in gm_stub.ListGames(gm.ListGamesRequest(), timeout=30).games}
    for name in TRAINING_GAMES:
        for role in games[name].roles:
            assert role.expert == (not role.programmatic), (name, role.name)


def test_expert_vs_expert_episodes_are_recorded_as_expert_play(gm_stub) -> None:
    episodes = play(gm_stub, split="validation", instances_per_game=3, group_size=2, default_player=EXPERT,
                    run_id="experts", seed=3)
    assert len(episodes) == 3 * 2 * len(TRAINING_GAMES)
    successes = 0
    for episode in episodes:
        assert episode.status == episode_pb2.EPISODE_STATUS_COMPLETED, episode.error
        assert {p.policy for p in episode.players if not p.programmatic} == {"expert"}
        for turn in episode.turns:
            assert not turn.HasField("generation")
            if not turn.programmatic:
                assert turn.status == episode_pb2.TURN_STATUS_OK, (episode.game, turn.error, turn.reply)
        successes += episode.outcome == episode_pb2.GAME_OUTCOME_SUCCESS
    assert successes >= 0.8 * len(episodes)


def test_an_expert_partners_a_policy_in_teacher_play(gm_stub, policy) -> None:
    learner = gm.PlayerConfig(policy=gm.PolicyEndpoint(target=policy.target, name="learner"))
    episodes = play(gm_stub, games=["taboo"], split="validation", instances_per_game=2, default_player=learner,
                    roles=[gm.RoleAssignment(game="taboo", role="Guesser", player=EXPERT)])
    for episode in episodes:
        assert episode.status == episode_pb2.EPISODE_STATUS_COMPLETED
        assert {p.role: p.policy for p in episode.players} == {"Describer": "learner", "Guesser": "expert"}
        for turn in episode.turns:
            assert turn.HasField("generation") == (turn.role == "Describer")
            if turn.role == "Guesser":
                assert turn.reply.startswith("GUESS: ") and len(turn.reply.split()) == 2


@pytest.mark.parametrize(("fields", "message"), [
    ({"games": ["taboo"], "default_player": gm.PlayerConfig(builtin="oracle")}, "unknown builtin player 'oracle'"),
    ({"games": ["privateshared"], "default_player": EXPERT,
      "roles": [gm.RoleAssignment(role="Questioner", player=EXPERT)]}, "played by the game itself"),
])
def test_bad_builtin_players_are_invalid_arguments(gm_stub, fields, message) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        play(gm_stub, split="validation", instances_per_game=1, **fields)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert message in caught.value.details()
