"""The GameMasterService: plays many episodes concurrently so that policy servers see full batches."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import structlog

from playpen.gamemaster.v1 import gamemaster_pb2, gamemaster_pb2_grpc
from playpen_common.errors import InvalidArgument, NotReady
from playpen_common.logging import bound_contextvars
from playpen_gamemaster.bounds import json_depth_ok, quoted
from playpen_gamemaster.convert import episode_message, unbuilt_episode
from playpen_gamemaster.metrics import GameMasterMetrics
from playpen_gamemaster.plan import EpisodeJob, build_plan
from playpen_gamemaster.players import ChannelLease, ChannelPool, PolicyAllowList, PolicyResponder, RetryPolicy
from playpen_gamemaster.settings import GameMasterSettings
from playpen_games.engine import GameDefinitionError
from playpen_games.engine.runner import EpisodeStatus, play_episode
from playpen_games.experts import BUILTIN_PLAYERS, EXPERT, ExpertResponder, experts_of, has_expert
from playpen_games.instances import GameInstance
from playpen_games.instances.catalog import InstanceCatalog
from playpen_games.registry import GAMES, game_class, game_spec
from playpen_games.replay import ScriptedRole

log = structlog.get_logger("playpen.gamemaster")

MAX_EPISODES_PER_CALL = 100_000


class GameMasterServicer(gamemaster_pb2_grpc.GameMasterServiceServicer):
    def __init__(self, settings: GameMasterSettings, metrics: GameMasterMetrics):
        self._settings = settings
        self._metrics = metrics
        self._catalog = InstanceCatalog(settings.clembench_dir, settings.clembench_version)
        self._channels = ChannelPool(settings.max_message_bytes, allowed=PolicyAllowList(settings.allowed_policies),
                                     max_channels=settings.max_policy_channels, idle_s=settings.policy_channel_idle_s,
                                     metrics=metrics, tls=settings.client_tls)
        self._slots = asyncio.Semaphore(settings.max_concurrent_episodes)
        self._expert = ExpertResponder()
        self._retry = RetryPolicy(attempts=settings.policy_attempts, budget_s=settings.policy_retry_budget_s)

    async def close(self) -> None:
        await self._channels.close()

    # ------------------------------------------------------------------ ListGames

    async def ListGames(self, request, context):
        response = gamemaster_pb2.ListGamesResponse()
        for name in self._catalog.games():
            cls = game_class(name)
            info = response.games.add(name=name, training=game_spec(name).training)
            for role in cls.roles:
                info.roles.add(name=role, programmatic=role in cls.programmatic_roles, expert=has_expert(name, role))
            experiments: dict[str, gamemaster_pb2.ExperimentInfo] = {}
            for split in self._catalog.describe(name):
                info.instance_counts.add(split=split.split, instances=split.total)
                for experiment, count in split.experiments.items():
                    if experiment not in experiments:
                        experiments[experiment] = info.experiments.add(name=experiment)
                    experiments[experiment].instance_counts.add(split=split.split, instances=count)
        return response

    # ------------------------------------------------------------------ PlayEpisodes

    def _responder(self, lease: ChannelLease, config: gamemaster_pb2.PlayerConfig, game: str, role: str):
        backend = config.WhichOneof("backend")
        if backend == "policy":
            if not config.policy.target:
                raise InvalidArgument("a policy player needs a target (host:port, host:port,host:port or dns:///name:port)")
            name = config.policy.name or config.policy.target
            version = config.policy.policy_version if config.policy.HasField("policy_version") else None
            if version is not None and version < 0:
                raise InvalidArgument("a pinned policy_version must be >= 0 (0 is the base model)")
            stub = lease.stub(config.policy.target)
            return PolicyResponder(stub, name, config.sampling, self._settings.policy_timeout_s,
                                   retry=self._retry, metrics=self._metrics, version=version), name
        if backend == "builtin":
            if config.builtin not in BUILTIN_PLAYERS:
                raise InvalidArgument(f"unknown builtin player {config.builtin!r}; builtin players: "
                                      f"{', '.join(BUILTIN_PLAYERS)}")
            if not has_expert(game, role):
                supported = ", ".join(sorted(experts_of(game))) or "none"
                raise InvalidArgument(f"there is no builtin expert for role {role!r} of {game} "
                                      f"(roles with an expert: {supported})")
            return self._expert, EXPERT
        raise InvalidArgument("a player config needs a policy endpoint or a builtin player")

    async def PlayEpisodes(self, request, context) -> AsyncIterator[gamemaster_pb2.PlayEpisodesResponse]:
        # The request's bounds were checked on admission (GrpcService). Planning reads instance files and lists up
        # to MAX_EPISODES_PER_CALL episodes: it runs in a thread, so that health checks and other calls are
        # answered meanwhile; players are made on the event loop, where the channel pool lives.
        lease = self._channels.lease()
        loop = asyncio.get_running_loop()
        abandoned = False  # the call ended while the planning thread still runs: it may lease nothing more

        async def make_responder(config, game, role):
            if abandoned:
                raise NotReady("the call ended while it was planned")
            return self._responder(lease, config, game, role)

        def responder_from_thread(config, game, role):
            return asyncio.run_coroutine_threadsafe(make_responder(config, game, role), loop).result(timeout=60)

        try:
            plan = await asyncio.to_thread(build_plan, request, self._catalog, responder_from_thread,
                                           server_concurrency=self._settings.max_concurrent_episodes,
                                           max_episodes=MAX_EPISODES_PER_CALL)
        except BaseException:
            abandoned = True
            lease.release()
            raise
        log.info("play episodes", run_id=quoted(plan.run_id), episodes=plan.episodes, concurrency=plan.concurrency)
        finished: asyncio.Queue[gamemaster_pb2.PlayEpisodesResponse | Exception] = asyncio.Queue()
        jobs = plan.jobs()

        async def worker() -> None:
            # A few workers take the episodes in order, rather than one task per episode: 100,000 tasks made at
            # once would hold the event loop for seconds.
            try:
                for job in jobs:
                    async with self._slots:
                        episode = await self._play_one(job, plan.run_id)
                    await finished.put(gamemaster_pb2.PlayEpisodesResponse(episode=episode))
            except Exception as error:  # noqa: BLE001 - handed to the call, which fails with it
                await finished.put(error)

        workers = [asyncio.create_task(worker()) for _ in range(min(plan.concurrency, plan.episodes))]
        try:
            for _ in range(plan.episodes):
                item = await finished.get()
                if isinstance(item, Exception):
                    raise item
                yield item
        finally:
            for task in workers:
                task.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
            lease.release()

    async def _play_one(self, job: EpisodeJob, run_id: str):
        with bound_contextvars(episode_id=job.episode_id, game=job.instance.game):
            try:
                game = job.instance.build()
            except GameDefinitionError as exc:
                # A catalog instance that cannot be built is our data bug: report it on the episode.
                log.error("instance cannot be built", error=str(exc))
                return unbuilt_episode(job.instance, job.episode_id, str(exc), group_id=job.group_id,
                                       run_id=run_id)
            self._metrics.in_flight.inc()
            try:
                result = await play_episode(game, job.responders, episode_id=job.episode_id,
                                            max_reply_chars=self._settings.max_reply_chars)
            finally:
                self._metrics.in_flight.dec()
            self._metrics.record(result)
            log.info("episode finished", status=result.status.value, outcome=result.outcome.value,
                     turns=len(result.turns), seconds=round(result.duration_s, 3),
                     **({"error": result.error} if result.error else {}))
            return episode_message(result, job.instance, group_id=job.group_id, run_id=run_id,
                                   policies=job.policies)

    # ------------------------------------------------------------------ ReplayEpisode

    async def ReplayEpisode(self, request, context):
        if request.game not in GAMES:
            raise InvalidArgument(f"unknown game {quoted(request.game)}; known: {', '.join(GAMES)}")
        if not any(recorded.replies for recorded in request.replies):
            raise InvalidArgument("replies: a replay needs the recorded replies of at least one role")
        experiment = _json_object(request.experiment_json, "experiment_json")
        instance_data = _json_object(request.instance_json, "instance_json")
        cls = game_class(request.game)
        order: list[str] = []
        scripts: dict[str, ScriptedRole] = {}
        for recorded in request.replies:
            if recorded.role not in cls.roles or recorded.role in cls.programmatic_roles:
                raise InvalidArgument(f"{request.game} has no model-backed role {recorded.role!r}")
            if recorded.role in scripts:
                raise InvalidArgument(f"replies for role {recorded.role!r} given twice")
            for reply in recorded.replies:
                if len(reply) > self._settings.max_reply_chars:
                    raise InvalidArgument(f"a reply of {recorded.role} has {len(reply)} characters, more than "
                                          f"the limit of {self._settings.max_reply_chars}")
            scripts[recorded.role] = ScriptedRole(recorded.role, list(recorded.replies), order)
        clembench = self._settings.clembench_dir
        instance = GameInstance(request.game, experiment, instance_data, "replay", "ReplayEpisode",
                                clembench / game_spec(request.game).clembench_folder if clembench else None)
        try:
            game = instance.build()
        except GameDefinitionError as exc:
            raise InvalidArgument(f"cannot play this instance: {exc}") from None
        episode_id = f"replay:{request.game}:{instance.instance_id}"
        result = await play_episode(game, scripts, episode_id=episode_id,
                                    max_reply_chars=self._settings.max_reply_chars)
        response = gamemaster_pb2.ReplayEpisodeResponse()
        divergence = result.error if result.status is not EpisodeStatus.COMPLETED else ""
        leftovers = [f"{s.role} {s.remaining}" for s in scripts.values() if s.remaining]
        if not divergence and leftovers:
            divergence = "game ended with replies left over: " + ", ".join(leftovers)
        response.diverged, response.divergence = bool(divergence), divergence
        response.episode.CopyFrom(episode_message(result, instance))
        return response


def _json_object(text: str, field: str) -> dict:
    json_depth_ok(text)
    try:
        value = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise InvalidArgument(f"{field} is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise InvalidArgument(f"{field} must be a JSON object")
    return value

