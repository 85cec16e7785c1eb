"""The game master over gRPC against a real scripted policy process."""

from __future__ import annotations

import json
import math
import socket
import urllib.request

import grpc
import pytest

from playpen.common.v1 import episode_pb2
from playpen.gamemaster.v1 import gamemaster_pb2 as gm

pytestmark = pytest.mark.integration


def player(target: str, name: str = "scripted") -> gm.PlayerConfig:
    return gm.PlayerConfig(policy=gm.PolicyEndpoint(target=target, name=name))


def play(stub, **fields) -> list[episode_pb2.Episode]:
    return [r.episode for r in stub.PlayEpisodes(gm.PlayEpisodesRequest(**fields), timeout=120)]


def test_list_games_reports_roles_and_instance_counts(gm_stub) -> None:
    games = {g.name: g for g in gm_stub.ListGames(gm.ListGamesRequest(), timeout=30).games}
    taboo = games["taboo"]
    assert [r.name for r in taboo.roles] == ["Describer", "Guesser"]
    assert taboo.training
    counts = {c.split: c.instances for c in taboo.instance_counts}
    assert counts["train"] > counts["validation"] > 0 and counts["test"] > 0
    assert sum(c.instances for e in taboo.experiments for c in e.instance_counts if c.split == "train") \
        == counts["train"]


def test_play_episodes_streams_scored_groups(gm_stub, policy) -> None:
    episodes = play(gm_stub, games=["taboo"], split="validation", instances_per_game=3, group_size=2,
                    default_player=player(policy.target), seed=7, run_id="it")
    assert len(episodes) == 6
    groups: dict[str, list[episode_pb2.Episode]] = {}
    for episode in episodes:
        groups.setdefault(episode.group_id, []).append(episode)
    assert len(groups) == 3 and all(len(g) == 2 for g in groups.values())
    assert len({e.episode_id for e in episodes}) == 6
    for episode in episodes:
        assert episode.status == episode_pb2.EPISODE_STATUS_COMPLETED
        # The script never names the target: every episode is lost after 3 rounds (6 turns).
        assert episode.outcome == episode_pb2.GAME_OUTCOME_LOSE
        assert episode.scores.lose and episode.scores.episode["Main Score"] == 0
        assert [t.role for t in episode.turns] == ["Describer", "Guesser"] * 3
        first_guess = episode.turns[1]
        assert first_guess.messages[-1].content.endswith(episode.turns[0].reply)
        assert first_guess.generation.completion_token_ids == list(first_guess.reply.encode())
        assert len(first_guess.generation.completion_logprobs) == len(first_guess.reply.encode())
        assert first_guess.generation.policy == "scripted"
        assert {p.role: p.policy for p in episode.players} == {"Describer": "scripted", "Guesser": "scripted"}


def test_same_run_id_and_seed_give_the_same_episode_ids(gm_stub, policy) -> None:
    ask = dict(games=["taboo"], split="train", instances_per_game=4, default_player=player(policy.target),
               seed=11, run_id="repeat")
    assert sorted(e.episode_id for e in play(gm_stub, **ask)) == sorted(e.episode_id for e in play(gm_stub, **ask))


@pytest.mark.parametrize(("fields", "message"), [
    ({"games": ["chess"]}, "unknown game"),
    ({"games": ["taboo"], "split": "nope"}, "unknown split"),
    ({"games": ["taboo"], "group_size": -1}, "group_size"),
    ({"games": ["taboo"], "roles": [gm.RoleAssignment(role="Referee", player=player("x:1"))]}, "no selected game"),
    ({"games": ["taboo"], "instance_ids": ["frequent/999999"]}, "no taboo instances"),
    ({"games": ["taboo"], "default_player": gm.PlayerConfig(builtin="oracle")}, "unknown builtin"),
    ({"games": ["taboo"]}, "no player for role"),
    ({"games": ["taboo"], "default_player": gm.PlayerConfig(
        policy=gm.PolicyEndpoint(target="x:1", policy_version=-2))}, "pinned policy_version"),
])
def test_bad_play_requests_are_invalid_argument(gm_stub, fields, message) -> None:
    with pytest.raises(grpc.RpcError) as raised:
        play(gm_stub, **fields)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert message in raised.value.details()
    assert gm_stub.ListGames(gm.ListGamesRequest(), timeout=30).games  # still serving


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_unreachable_policy_is_an_infrastructure_failure_not_a_loss(gm_stub) -> None:
    episodes = play(gm_stub, games=["taboo"], split="test", instances_per_game=2,
                    default_player=player(f"127.0.0.1:{_closed_port()}", "gone"))
    assert len(episodes) == 2
    for episode in episodes:
        assert episode.status == episode_pb2.EPISODE_STATUS_INFRA_FAILURE
        assert episode.outcome == episode_pb2.GAME_OUTCOME_UNFINISHED
        assert "UNAVAILABLE" in episode.error and "gone" in episode.error
        assert not episode.HasField("scores")


def _replay_request(fixture: dict) -> gm.ReplayEpisodeRequest:
    return gm.ReplayEpisodeRequest(
        game=fixture["game"], experiment_json=json.dumps(fixture["experiment"]),
        instance_json=json.dumps(fixture["instance"]),
        replies=[gm.RecordedReplies(role=role, replies=replies) for role, replies in fixture["responses"].items()])


def test_replay_episode_scores_a_recorded_episode(gm_stub, shared) -> None:
    fixture = json.loads((shared / "parity" / "taboo" / "llama8b_medium_3.json").read_text())
    response = gm_stub.ReplayEpisode(_replay_request(fixture), timeout=30)
    assert not response.diverged
    scores = response.episode.scores.episode
    assert scores["Main Score"] == pytest.approx(fixture["expected"]["Main Score"])
    assert scores["Success"] == 1 and len(response.episode.turns) == len(fixture["response_order"])


def test_replay_reports_divergence(gm_stub, shared) -> None:
    fixture = json.loads((shared / "parity" / "taboo" / "llama8b_medium_3.json").read_text())
    fixture["responses"]["Guesser"].append("GUESS: extra")
    response = gm_stub.ReplayEpisode(_replay_request(fixture), timeout=30)
    assert response.diverged and "left over" in response.divergence


@pytest.mark.parametrize(("mutate", "message"), [
    (lambda r: setattr(r, "experiment_json", "{not json"), "not valid JSON"),
    (lambda r: setattr(r, "instance_json", json.dumps({"game_id": 1})), "malformed instance"),
    (lambda r: setattr(r, "game", "nosuchgame"), "unknown game"),
    (lambda r: r.replies.add(role="Referee", replies=["x"]), "no model-backed role"),
    (lambda r: r.replies[0].replies.append("CLUE: " + "x" * 40_000), "more than the limit"),
])
def test_bad_replay_requests_are_invalid_argument(gm_stub, mutate, message) -> None:
    request = gm.ReplayEpisodeRequest(
        game="taboo", experiment_json=json.dumps({"name": "t", "max_turns": 3, "describer_initial_prompt": "d",
                                                  "guesser_initial_prompt": "g"}),
        instance_json=json.dumps({"game_id": 1, "target_word": "winter", "related_word": ["a", "b", "c"]}),
        replies=[gm.RecordedReplies(role="Describer", replies=["CLUE: cold season"])])
    mutate(request)
    with pytest.raises(grpc.RpcError) as raised:
        gm_stub.ReplayEpisode(request, timeout=30)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert message in raised.value.details()


def test_metrics_count_episodes_by_game_and_outcome(gm_stub, gamemaster, policy) -> None:
    play(gm_stub, games=["taboo"], split="validation", instances_per_game=1, default_player=player(policy.target))
    text = urllib.request.urlopen(f"http://localhost:{gamemaster.metrics_port}/metrics", timeout=10).read().decode()
    lines = [line for line in text.splitlines() if line.startswith("playpen_gamemaster_episodes_total{")]
    assert any('game="taboo"' in line and 'outcome="lose"' in line and 'status="completed"' in line
               for line in lines)
    assert "playpen_gamemaster_turn_latency_seconds_bucket" in text
    assert "playpen_gamemaster_last_progress_timestamp_seconds" in text
    assert not any(math.isnan(float(line.rsplit(" ", 1)[1])) for line in lines)


def test_official_clembench_instances_are_a_playable_split(gm_stub, policy, clembench) -> None:
    games = {g.name: g for g in gm_stub.ListGames(gm.ListGamesRequest(), timeout=30).games}
    official = {c.split: c.instances for c in games["taboo"].instance_counts}["clembench"]
    document = json.loads((clembench / "taboo" / "in" / "instances.json").read_text())
    assert official == sum(len(e["game_instances"]) for e in document["experiments"])
    episodes = play(gm_stub, games=["taboo"], split="clembench", experiments=["high_en"], instances_per_game=2,
                    default_player=player(policy.target))
    assert {e.experiment for e in episodes} == {"high_en"}
    assert all(e.status == episode_pb2.EPISODE_STATUS_COMPLETED and e.split == "clembench" for e in episodes)
