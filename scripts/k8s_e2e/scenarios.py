"""What a user with `kubectl port-forward` does once the pods are ready, against the containers' own addresses:
play every game through the game master (default profile), and watch the closed loop turn (closed-loop profile).
Addresses of peers are the rendered Services' names, exactly as the chart hands them to the services."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field

import grpc

from k8s_e2e.cluster import RenderedRelease
from playpen.common.v1 import chat_pb2, episode_pb2
from playpen.evaluator.v1 import evaluator_pb2, evaluator_pb2_grpc
from playpen.gamemaster.v1 import gamemaster_pb2, gamemaster_pb2_grpc
from playpen.policy.v1 import policy_pb2, policy_pb2_grpc
from playpen.trainer.v1 import trainer_pb2, trainer_pb2_grpc

SCORED = {episode_pb2.EPISODE_STATUS_COMPLETED, episode_pb2.EPISODE_STATUS_CONTEXT_EXCEEDED}


class ScenarioFailed(RuntimeError):
    pass


@dataclass
class Findings:
    episodes: Counter = field(default_factory=Counter)  # game -> scored episodes
    versions: dict[str, int] = field(default_factory=dict)  # what each policy role serves at the end
    acknowledged: int = 0
    promoted: int = 0


def service_target(release: RenderedRelease, name: str) -> str:
    """host:port of a Service's gRPC port, as the chart writes it into its pods' flags."""
    service = release.named("Service", name)
    port = next(p["port"] for p in service["spec"]["ports"] if p["name"] == "grpc")
    return f"{name}.{release.namespace}.svc:{port}"


def play_every_game(gamemaster: str, policy_target: str, *, instances: int, max_tokens: int,
                    findings: Findings) -> None:
    """ListGames, then PlayEpisodes on `instances` validation instances of every game: all must be scored."""
    with grpc.insecure_channel(gamemaster) as channel:
        stub = gamemaster_pb2_grpc.GameMasterServiceStub(channel)
        listing = stub.ListGames(gamemaster_pb2.ListGamesRequest(), timeout=60)
        games = [g.name for g in listing.games
                 if any(c.split == "validation" and c.instances for c in g.instance_counts)]
        if "codenames" not in games:
            raise ScenarioFailed(f"the game master lists no codenames instances ({', '.join(games)})")
        request = gamemaster_pb2.PlayEpisodesRequest(
            games=games, split="validation", instances_per_game=instances, group_size=1, seed=0, run_id="e2e",
            concurrency=4, default_player=gamemaster_pb2.PlayerConfig(
                policy=gamemaster_pb2.PolicyEndpoint(target=policy_target, name="e2e"),
                sampling=chat_pb2.SamplingParams(temperature=0.0, max_tokens=max_tokens)))
        problems = []
        for response in stub.PlayEpisodes(request, timeout=3600):
            episode = response.episode
            if episode.status in SCORED:
                findings.episodes[episode.game] += 1
            else:
                problems.append(f"{episode.game} {episode.instance_id}: "
                                f"{episode_pb2.EpisodeStatus.Name(episode.status)} {episode.error[:300]}")
    missing = sorted(set(games) - set(findings.episodes))
    if problems or missing:
        raise ScenarioFailed("episodes not scored: " + "; ".join(problems) + (f"; no episode of {missing}"
                                                                              if missing else ""))


def _poll(what: str, timeout_s: float, check):
    deadline = time.monotonic() + timeout_s
    last_error = None
    while time.monotonic() < deadline:
        try:
            value = check()
            if value:
                return value
        except grpc.RpcError as error:
            last_error = f"{error.code().name}: {error.details()}"
        time.sleep(3)
    detail = f" (last error {last_error})" if last_error else ""
    raise ScenarioFailed(f"{what}: not within {timeout_s:.0f} s{detail}")


def closed_loop(addresses: dict[str, str], findings: Findings, timeout_s: float) -> None:
    """self-play → trainer → checkpoint → the rollout policy serves it → the evaluator evaluates and promotes it
    → the serving policy serves the promoted version."""
    channels = {role: grpc.insecure_channel(address) for role, address in addresses.items()}
    try:
        trainer = trainer_pb2_grpc.TrainerServiceStub(channels["trainer"])
        status = _poll("the trainer commits a checkpoint", timeout_s, lambda: (
            s if (s := trainer.GetStatus(trainer_pb2.GetStatusRequest(), timeout=10)).latest_version >= 1 else None))
        version = status.latest_version
        rollout = policy_pb2_grpc.PolicyServiceStub(channels["rollout"])
        reply = _poll(f"the rollout policy replies with version {version}", timeout_s, lambda: (
            r if (r := rollout.Generate(policy_pb2.GenerateRequest(
                messages=[chat_pb2.ChatMessage(role="user", content="Say something.")],
                sampling=chat_pb2.SamplingParams(temperature=0.0, max_tokens=4)), timeout=120)).policy_version
            >= version else None))
        findings.versions["rollout"] = reply.policy_version
        evaluator = evaluator_pb2_grpc.EvaluatorServiceStub(channels["evaluator"])
        listed = _poll("the evaluator promotes a trained checkpoint", timeout_s, lambda: (
            r if (r := evaluator.ListResults(evaluator_pb2.ListResultsRequest(), timeout=30)).serving_version >= 1
            else None))
        findings.promoted = listed.serving_version
        serving = policy_pb2_grpc.PolicyServiceStub(channels["serving"])
        # The loop goes on meanwhile: a later promotion may already be served.
        served = _poll(f"the serving policy serves the promoted version {listed.serving_version}", timeout_s,
                       lambda: (s if (s := serving.GetStatus(policy_pb2.GetStatusRequest(), timeout=10))
                                .policy_version >= listed.serving_version else None))
        findings.versions["serving"] = served.policy_version
        findings.acknowledged = trainer.GetStatus(trainer_pb2.GetStatusRequest(), timeout=10).episodes_stored
    finally:
        for channel in channels.values():
            channel.close()


def episodes_stored(trainer: str) -> int:
    with grpc.insecure_channel(trainer) as channel:
        return trainer_pb2_grpc.TrainerServiceStub(channel).GetStatus(trainer_pb2.GetStatusRequest(),
                                                                      timeout=30).episodes_stored
