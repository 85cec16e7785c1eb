"""Evaluating one checkpoint: load it into the eval policy, play the game set, score, store, promote.

- The eval policy is the evaluator's own PolicyService process: only the evaluator loads weights into it, so
  evaluation never disturbs the serving replicas. One evaluation runs at a time; callers asking for the same
  (version, split, protocol) while it runs share its result.
- Version 0 is the base model. A checkpoint reference of version 0 has no files a policy could load, so the
  base model is evaluated by an eval policy that still serves what it started with: GetStatus must report
  version 0, otherwise the evaluation is refused (restart the eval policy, or evaluate the base model first).
- Every version plays the same instances (fixed seed, group size 1) at temperature 0.
- An episode that failed for infrastructure reasons (or an engine error) is replayed up to `episode_retries`
  times; if it still fails the evaluation fails with the reason and nothing is stored.
- Every reply must come from the evaluated version; any other version in an episode fails the evaluation.
- After the games, the skill suite (skills.py) when configured: its statscore is stored in the same result.
- With `pin_versions`, nothing is loaded: every Generate of the evaluation pins the version, so the eval
  policy may be shared with the rollouts (one engine, many versions; LoRA checkpoints under the policy's
  checkpoint roots). Before playing, one short pinned Generate per replica makes it load the version, or
  refuses the evaluation with the policy's reason.
"""

from __future__ import annotations

import asyncio
import time

import grpc
import structlog

from playpen.common.v1 import chat_pb2, checkpoint_pb2, episode_pb2
from playpen.evaluator.v1 import evaluator_pb2
from playpen.gamemaster.v1 import gamemaster_pb2, gamemaster_pb2_grpc
from playpen.policy.v1 import policy_pb2, policy_pb2_grpc
from playpen_common.errors import FailedPrecondition, InvalidArgument, NotReady, PlaypenError
from playpen_common.logging import bound_contextvars
from playpen_common.replicas import Replicas
from playpen_evaluator import scoring
from playpen_evaluator.games import GameCatalog, GameSet
from playpen_evaluator.metrics import EvaluatorMetrics
from playpen_evaluator.serving import Serving
from playpen_evaluator.settings import EvaluatorSettings
from playpen_evaluator.skills import SkillSuite
from playpen_evaluator.store import ResultStore

log = structlog.get_logger("playpen.evaluator")

Key = tuple[int, str, str]  # version, split, protocol


def downstream(error: grpc.aio.AioRpcError, what: str) -> PlaypenError:
    """A failed call to another service, as the error this service reports."""
    code, message = error.code(), f"{what}: {error.code().name}: {error.details()}"
    if code == grpc.StatusCode.INVALID_ARGUMENT:
        return InvalidArgument(message)
    if code == grpc.StatusCode.FAILED_PRECONDITION:
        return FailedPrecondition(message)
    if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.RESOURCE_EXHAUSTED):
        return NotReady(message)
    return PlaypenError(message)


def same_files(a: checkpoint_pb2.CheckpointRef, b: checkpoint_pb2.CheckpointRef) -> bool:
    return sorted((f.path, f.sha256.lower()) for f in a.files) == sorted((f.path, f.sha256.lower()) for f in b.files)


class Evaluator:
    def __init__(self, settings: EvaluatorSettings, store: ResultStore, serving: Serving, metrics: EvaluatorMetrics,
                 gamemaster: gamemaster_pb2_grpc.GameMasterServiceStub,
                 policy: Replicas[policy_pb2_grpc.PolicyServiceStub], *, skills: SkillSuite | None = None,
                 skills_policy: policy_pb2_grpc.PolicyServiceStub | None = None):
        self.settings, self.store, self.serving, self.metrics = settings, store, serving, metrics
        self._gamemaster, self._policy = gamemaster, policy
        # The skill suite's prompts go to one channel over the eval policy's replicas (any of them will do).
        self._skills = skills if skills_policy is not None else None
        self._skills_policy = skills_policy
        self.catalog: GameCatalog | None = None
        self._lock = asyncio.Lock()
        self._running: dict[Key, asyncio.Task[evaluator_pb2.EvaluationResult]] = {}
        # The store's promotion history and the in-memory serving checkpoint change together, in one order.
        self.serving_lock = asyncio.Lock()

    async def resolve_games(self) -> GameCatalog:
        """Read the game master's games (waiting until it answers) and fix the configured game set."""
        while self.catalog is None:
            try:
                listing = await self._gamemaster.ListGames(gamemaster_pb2.ListGamesRequest(),
                                                           timeout=self.settings.rpc_timeout_s)
            except grpc.aio.AioRpcError as error:
                log.warning("game master not reachable yet", target=self.settings.gamemaster_target,
                            error=error.code().name)
                await asyncio.sleep(self.settings.reconnect_s)
                continue
            self.catalog = GameCatalog(listing, self.settings)
            log.info("game set", seen=self.catalog.default.names(scoring.SEEN),
                     unseen=self.catalog.default.names(scoring.UNSEEN))
        return self.catalog

    async def close(self) -> None:
        """Stop evaluations in progress (at shutdown); one already writing its result finishes that write."""
        running = list(self._running.values())
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)

    @property
    def default_protocol(self) -> str:
        if self.catalog is None:
            raise NotReady("the evaluator has not read the game master's games yet")
        return self.catalog.default.protocol(self.settings)

    # ------------------------------------------------------------------------------------------ entry point

    async def evaluate(self, checkpoint: checkpoint_pb2.CheckpointRef, split: str, games: list[str],
                       label: str) -> evaluator_pb2.EvaluationResult:
        if self.catalog is None:
            raise NotReady("the evaluator has not read the game master's games yet")
        game_set = self.catalog.select(games, split)
        key = (checkpoint.version, split, game_set.protocol(self.settings))
        stored = await asyncio.to_thread(self.store.find, *key)
        if stored is not None:
            result, stored_ref = stored
            if checkpoint.files and stored_ref.files and not same_files(checkpoint, stored_ref):
                raise FailedPrecondition(f"version {checkpoint.version} was evaluated with other files; "
                                         "a version names one checkpoint")
            self.metrics.evaluations.labels(outcome="stored").inc()
            return result
        task = self._running.get(key)
        if task is None:
            task = asyncio.create_task(self._run(key, checkpoint, game_set, label))
            self._running[key] = task
            task.add_done_callback(lambda done, key=key: self._finished(key, done))
        # A caller that gives up does not cancel the evaluation others may be waiting for.
        return await asyncio.shield(task)

    def _finished(self, key: Key, task: asyncio.Task) -> None:
        self._running.pop(key, None)
        if not task.cancelled():
            task.exception()  # retrieved here too: every caller may have given up before it ended

    async def _run(self, key: Key, checkpoint: checkpoint_pb2.CheckpointRef, game_set: GameSet,
                   label: str) -> evaluator_pb2.EvaluationResult:
        version, split, protocol = key
        async with self._lock:
            stored = await asyncio.to_thread(self.store.find, *key)
            if stored is not None:  # finished by an evaluation that ended after this caller looked
                return stored[0]
            with bound_contextvars(policy_version=version, split=split):
                started = time.perf_counter()
                try:
                    result = await self._evaluate(checkpoint, split, game_set, protocol, label)
                except Exception:
                    self.metrics.evaluations.labels(outcome="failed").inc()
                    raise
                self.metrics.duration.observe(time.perf_counter() - started)
                self.metrics.evaluations.labels(outcome="promoted" if result.promoted else "not_promoted").inc()
                self.metrics.record(result)
                log.info("checkpoint evaluated", clemscore=result.overall.clemscore,
                         statscore=result.skills.statscore if result.HasField("skills") else None,
                         promoted=result.promoted,
                         reason=result.promotion_reason, seconds=round(time.perf_counter() - started, 1))
                return result

    async def _evaluate(self, checkpoint: checkpoint_pb2.CheckpointRef, split: str, game_set: GameSet,
                        protocol: str, label: str) -> evaluator_pb2.EvaluationResult:
        await self._load(checkpoint)
        episodes = await self._play(checkpoint.version, split, game_set)
        scored = scoring.score(episodes, game_set.groups)
        result = scored.result
        if self._skills is not None and self._skills_policy is not None:
            try:
                result.skills.CopyFrom(await self._skills.evaluate(
                    self._skills_policy, checkpoint.version, pin=self.settings.pin_versions))
            except grpc.aio.AioRpcError as error:
                raise downstream(error, "eval policy, answering the skill suite") from None
        result.version, result.split, result.label, result.step = checkpoint.version, split, label, checkpoint.step
        result.evaluated_at.GetCurrentTime()
        assert self.catalog is not None
        eligible = split == "validation" and self.catalog.is_default(game_set)
        reason = ("" if eligible else "test-split results never decide a promotion" if split != "validation"
                  else "not the configured game set: only that decides a promotion")
        transcripts = {e.episode_id: e for e in episodes} if self.settings.keep_transcripts else {}
        async with self.serving_lock:
            stored = await asyncio.to_thread(
                self.store.record, result, checkpoint, protocol=protocol, episodes=scored.episodes,
                transcripts=transcripts, promote_metric=scored.promote_metric, eligible=eligible,
                ineligible_reason=reason, margin=self.settings.promotion_margin)
            if stored.promoted:
                self.serving.publish(checkpoint)
                self.metrics.serving_version.set(checkpoint.version)
        return stored  # its episodes are read with ListResults(include_episodes)

    # ------------------------------------------------------------------------------------------ the eval policy

    async def _pin(self, version: int) -> None:
        """Make every replica hold `version` (a pinned Generate loads it), or fail with the policy's reason."""
        probe = policy_pb2.GenerateRequest(messages=[chat_pb2.ChatMessage(role="user", content="Hello")],
                                           sampling=chat_pb2.SamplingParams(temperature=0.0, max_tokens=1),
                                           request_id=f"eval-v{version}-pin", policy_version=version)
        try:
            replies = await self._policy.each(lambda stub: stub.Generate(probe, timeout=self.settings.load_timeout_s))
        except grpc.aio.AioRpcError as error:
            raise downstream(error, f"eval policy, pinning version {version}") from None
        for address, reply in replies.items():
            if reply.policy_version != version:
                raise FailedPrecondition(f"the eval policy at {address} replied with version {reply.policy_version} "
                                         f"to a request pinning {version}")
        log.info("version pinned on the eval policy", replicas=len(replies))

    async def _load(self, checkpoint: checkpoint_pb2.CheckpointRef) -> None:
        """Into every replica the eval policy target names (a list or a headless Service: each must serve it)."""
        if self.settings.pin_versions:
            await self._pin(checkpoint.version)
            return
        timeout = self.settings.rpc_timeout_s
        try:
            if checkpoint.version == 0:
                statuses = await self._policy.each(
                    lambda stub: stub.GetStatus(policy_pb2.GetStatusRequest(), timeout=timeout))
                for address, status in statuses.items():
                    if status.policy_version != 0:
                        raise FailedPrecondition(
                            f"the eval policy at {address} serves version {status.policy_version}; the base model "
                            "(version 0) can only be evaluated by an eval policy that has loaded no checkpoint "
                            "(restart it)")
                return
            request = policy_pb2.LoadWeightsRequest(checkpoint=checkpoint)
            loaded = await self._policy.each(
                lambda stub: stub.LoadWeights(request, timeout=self.settings.load_timeout_s))
        except grpc.aio.AioRpcError as error:
            raise downstream(error, f"eval policy, loading version {checkpoint.version}") from None
        for address, reply in loaded.items():
            if reply.policy_version != checkpoint.version:
                raise FailedPrecondition(f"the eval policy at {address} reports version {reply.policy_version} "
                                         f"after loading {checkpoint.version}")
        log.info("checkpoint loaded into the eval policy", replicas=len(loaded),
                 seconds=round(max(reply.load_s for reply in loaded.values()), 2))

    # ------------------------------------------------------------------------------------------ playing

    def _request(self, version: int, split: str, games: list[str], run_id: str,
                 instance_ids: list[str] | None = None) -> gamemaster_pb2.PlayEpisodesRequest:
        sampling = chat_pb2.SamplingParams(temperature=0.0)
        if self.settings.max_tokens:
            sampling.max_tokens = self.settings.max_tokens
        player = gamemaster_pb2.PlayerConfig(
            policy=gamemaster_pb2.PolicyEndpoint(target=self.settings.eval_policy_target, name=f"eval-v{version}"),
            sampling=sampling)
        if self.settings.pin_versions:
            player.policy.policy_version = version
        return gamemaster_pb2.PlayEpisodesRequest(
            games=games, split=split, instance_ids=instance_ids or [],
            instances_per_game=0 if instance_ids else self.settings.instances_per_game, group_size=1,
            default_player=player, concurrency=self.settings.concurrency, seed=self.settings.seed, run_id=run_id)

    async def _stream(self, request: gamemaster_pb2.PlayEpisodesRequest) -> list[episode_pb2.Episode]:
        episodes = []
        try:
            async for response in self._gamemaster.PlayEpisodes(request, timeout=self.settings.play_timeout_s):
                status = episode_pb2.EpisodeStatus.Name(response.episode.status)
                self.metrics.episodes.labels(status=status.removeprefix("EPISODE_STATUS_").lower()).inc()
                episodes.append(response.episode)
        except grpc.aio.AioRpcError as error:
            raise downstream(error, "game master, playing the evaluation episodes") from None
        return episodes

    async def _play(self, version: int, split: str, game_set: GameSet) -> list[episode_pb2.Episode]:
        run_id = f"eval-v{version}-{split}"
        played = await self._stream(self._request(version, split, game_set.games, run_id))
        completed = [e for e in played if scoring.counts(e)]
        failed = [e for e in played if not scoring.counts(e)]
        for attempt in range(1, self.settings.episode_retries + 1):
            if not failed:
                break
            log.warning("replaying episodes that failed", episodes=len(failed), attempt=attempt,
                        first_error=failed[0].error)
            retried: list[episode_pb2.Episode] = []
            for game in dict.fromkeys(e.game for e in failed):
                ids = [e.instance_id for e in failed if e.game == game]
                retried += await self._stream(self._request(version, split, [game], f"{run_id}-retry{attempt}", ids))
            completed += [e for e in retried if scoring.counts(e)]
            failed = [e for e in retried if not scoring.counts(e)]
        if failed:
            first = failed[0]
            message = (f"{len(failed)} evaluation episode(s) could not be played after "
                       f"{self.settings.episode_retries} replay(s), e.g. {first.game} {first.instance_id}: "
                       f"{first.error or 'no error given'}; nothing was stored")
            if any(e.status == episode_pb2.EPISODE_STATUS_ENGINE_ERROR for e in failed):
                raise PlaypenError("game engine error: " + message)
            raise NotReady(message)
        for episode in completed:
            for player in episode.players:
                if not player.programmatic and list(player.policy_versions) not in ([version], []):
                    raise FailedPrecondition(
                        f"episode {episode.episode_id} was played by versions {list(player.policy_versions)}, not "
                        f"{version}: something else loaded weights into the eval policy during the evaluation")
        return completed
