"""The evaluation procedure against stand-in game master and policy stubs: replays of failed episodes, refusals,
the version check, and callers of the same evaluation sharing one run."""

import asyncio
from collections.abc import Callable
from pathlib import Path

import grpc
import pytest

from playpen.common.v1 import checkpoint_pb2, episode_pb2
from playpen.gamemaster.v1 import gamemaster_pb2
from playpen.policy.v1 import policy_pb2
from playpen_common.errors import FailedPrecondition, InvalidArgument, NotReady, PlaypenError
from playpen_evaluator.evaluation import Evaluator
from playpen_evaluator.metrics import EvaluatorMetrics
from playpen_evaluator.serving import Serving
from playpen_evaluator.settings import EvaluatorSettings
from playpen_evaluator.store import ResultStore

COMPLETED = episode_pb2.EPISODE_STATUS_COMPLETED
INFRA = episode_pb2.EPISODE_STATUS_INFRA_FAILURE

# (game, instance_id, attempt) -> status; attempt 0 is the first play
Outcome = Callable[[str, str, int], int]


class GameMaster:
    """Plays nothing: answers every requested instance with a scored episode, or the status `outcome` says."""

    def __init__(self, outcome: Outcome, *, played_by: Callable[[int], list[int]] = lambda v: [v]):
        self.outcome, self.played_by = outcome, played_by
        self.requests: list[gamemaster_pb2.PlayEpisodesRequest] = []
        self.attempts: dict[tuple[str, str], int] = {}

    async def ListGames(self, request, timeout=None):
        listing = gamemaster_pb2.ListGamesResponse()
        for name, training in (("taboo", True), ("wordle", True), ("imagegame", False)):
            info = listing.games.add(name=name, training=training)
            info.instance_counts.add(split="validation", instances=5)
            if name != "imagegame":
                info.instance_counts.add(split="test", instances=5)
        return listing

    def PlayEpisodes(self, request, timeout=None):
        self.requests.append(request)
        version = int(request.default_player.policy.name.removeprefix("eval-v"))

        async def stream():
            await asyncio.sleep(0.01)  # concurrent callers arrive while this runs
            for game in request.games:
                ids = list(request.instance_ids) or [f"exp/{i}" for i in range(request.instances_per_game)]
                for instance_id in ids:
                    attempt = self.attempts.get((game, instance_id), 0)
                    self.attempts[game, instance_id] = attempt + 1
                    status = self.outcome(game, instance_id, attempt)
                    episode = episode_pb2.Episode(episode_id=f"{request.run_id}:{game}:{instance_id}", game=game,
                                                  instance_id=instance_id, status=status)
                    if status == COMPLETED:
                        episode.scores.main_score, episode.scores.success = 100.0, True
                    else:
                        episode.error = "policy unavailable"
                    episode.players.add(role="Guesser", policy_versions=self.played_by(version))
                    yield gamemaster_pb2.PlayEpisodesResponse(episode=episode)

        return stream()


class Policy:
    def __init__(self, version: int = 0):
        self.version, self.loads = version, 0
        self.pins: list[int] = []
        self.pin_answers_with = 0

    async def GetStatus(self, request, timeout=None):
        return policy_pb2.GetStatusResponse(policy_version=self.version)

    async def LoadWeights(self, request, timeout=None):
        self.loads += 1
        self.version = request.checkpoint.version
        return policy_pb2.LoadWeightsResponse(policy_version=self.version)

    async def Generate(self, request, timeout=None):
        """A pinned Generate: answered by the pinned version unless `pin_answers_with` says otherwise."""
        self.pins.append(request.policy_version)
        return policy_pb2.GenerateResponse(policy_version=self.pin_answers_with or request.policy_version)

    async def each(self, call):
        """As playpen_common.replicas.Replicas.each, for a target of one replica."""
        return {"fake:1": await call(self)}


def ref(version: int) -> checkpoint_pb2.CheckpointRef:
    checkpoint = checkpoint_pb2.CheckpointRef(version=version, kind=checkpoint_pb2.CHECKPOINT_KIND_FULL)
    if version:
        checkpoint.files.add(path="model.safetensors", sha256="ab" * 32, size_bytes=1)
    return checkpoint


_OPEN: list[ResultStore] = []


@pytest.fixture(autouse=True)
def close_stores():
    yield
    while _OPEN:
        _OPEN.pop().close()


async def evaluator_for(tmp_path: Path, gamemaster: GameMaster, policy: Policy, **settings) -> Evaluator:
    settings.setdefault("unseen_games", "")  # the fake game master's imagegame would be unseen by default
    config = EvaluatorSettings(_cli_parse_args=[], state_dir=tmp_path, instances_per_game=3, seen_games="taboo,wordle",
                               **settings)
    store = ResultStore(config.store_path)
    _OPEN.append(store)
    evaluator = Evaluator(config, store, Serving(store.serving()), EvaluatorMetrics(), gamemaster, policy)
    await evaluator.resolve_games()
    return evaluator


async def test_an_episode_that_failed_is_replayed_and_counted_once(tmp_path) -> None:
    gamemaster = GameMaster(lambda game, instance, attempt: INFRA if (instance, attempt) == ("exp/1", 0) else COMPLETED)
    evaluator = await evaluator_for(tmp_path, gamemaster, Policy())
    result = await evaluator.evaluate(ref(1), "validation", [], "grpo")
    assert [r.instance_ids for r in gamemaster.requests[1:]] == [["exp/1"], ["exp/1"]]  # taboo's, then wordle's
    assert [list(r.games) for r in gamemaster.requests[1:]] == [["taboo"], ["wordle"]]
    assert {g.game: g.score.episodes for g in result.games} == {"taboo": 3, "wordle": 3}
    assert result.overall.played == 100 and result.promoted
    rows = evaluator.store.results([1], "validation", include_episodes=True)[0].episodes
    assert len(rows) == 6 and sum("retry1" in e.episode_id for e in rows) == 2


async def test_episodes_that_keep_failing_fail_the_evaluation_and_store_nothing(tmp_path) -> None:
    gamemaster = GameMaster(lambda game, instance, attempt: INFRA if instance == "exp/2" else COMPLETED)
    evaluator = await evaluator_for(tmp_path, gamemaster, Policy(), episode_retries=1)
    with pytest.raises(NotReady, match=r"2 evaluation episode\(s\) could not be played after 1 replay"):
        await evaluator.evaluate(ref(1), "validation", [], "grpo")
    assert evaluator.store.results([], "", include_episodes=False) == [] and evaluator.serving.current is None

    broken = GameMaster(lambda game, instance, attempt: episode_pb2.EPISODE_STATUS_ENGINE_ERROR
                        if instance == "exp/0" else COMPLETED)
    evaluator = await evaluator_for(tmp_path / "engine", broken, Policy())
    with pytest.raises(PlaypenError, match="game engine error") as raised:
        await evaluator.evaluate(ref(1), "validation", [], "grpo")
    assert raised.value.code == grpc.StatusCode.INTERNAL


async def test_every_reply_must_come_from_the_evaluated_version(tmp_path) -> None:
    gamemaster = GameMaster(lambda *_: COMPLETED, played_by=lambda version: [version, version + 1])
    evaluator = await evaluator_for(tmp_path, gamemaster, Policy())
    with pytest.raises(FailedPrecondition, match=r"played by versions \[4, 5\], not 4"):
        await evaluator.evaluate(ref(4), "validation", [], "")


async def test_the_base_model_needs_an_eval_policy_that_loaded_nothing(tmp_path) -> None:
    policy = Policy(version=3)
    evaluator = await evaluator_for(tmp_path, GameMaster(lambda *_: COMPLETED), policy)
    with pytest.raises(FailedPrecondition, match="serves version 3"):
        await evaluator.evaluate(ref(0), "validation", [], "baseline")
    policy.version = 0
    result = await evaluator.evaluate(ref(0), "validation", [], "baseline")
    assert result.version == 0 and result.promoted and policy.loads == 0


async def test_callers_of_one_evaluation_share_it_and_later_ones_get_the_stored_result(tmp_path) -> None:
    gamemaster, policy = GameMaster(lambda *_: COMPLETED), Policy()
    evaluator = await evaluator_for(tmp_path, gamemaster, policy)
    results = await asyncio.gather(*(evaluator.evaluate(ref(2), "validation", [], "grpo") for _ in range(3)))
    assert len(gamemaster.requests) == 1 and policy.loads == 1
    assert len({r.SerializeToString(deterministic=True) for r in results}) == 1
    stored = await evaluator.evaluate(ref(2), "validation", [], "grpo")
    assert len(gamemaster.requests) == 1 and stored.evaluated_at == results[0].evaluated_at
    assert stored.episodes == []  # episodes come from ListResults
    other_files = ref(2)
    other_files.files[0].sha256 = "cd" * 32
    with pytest.raises(FailedPrecondition, match="other files"):
        await evaluator.evaluate(other_files, "validation", [], "grpo")


async def test_games_and_splits_are_checked_before_anything_is_played(tmp_path) -> None:
    gamemaster = GameMaster(lambda *_: COMPLETED)
    evaluator = await evaluator_for(tmp_path, gamemaster, Policy(), unseen_games="imagegame")
    with pytest.raises(InvalidArgument, match="unknown game"):
        await evaluator.evaluate(ref(1), "validation", ["taboo", "chess"], "")
    with pytest.raises(InvalidArgument, match="imagegame has no instances in split 'test'"):
        await evaluator.evaluate(ref(1), "test", [], "")
    assert gamemaster.requests == []
    custom = await evaluator.evaluate(ref(1), "validation", ["wordle", "imagegame"], "")
    assert {g.game: g.group for g in custom.games} == {"wordle": "seen", "imagegame": "unseen"}
    assert not custom.promoted and "configured game set" in custom.promotion_reason
    full = await evaluator.evaluate(ref(1), "validation", [], "")
    assert full.promoted and len(gamemaster.requests) == 2


async def test_a_game_set_that_does_not_match_the_game_master_is_refused(tmp_path) -> None:
    with pytest.raises(ValueError, match="unknown to the game master"):
        await evaluator_for(tmp_path, GameMaster(lambda *_: COMPLETED), Policy(), unseen_games="chess")
    with pytest.raises(ValueError, match="both seen and unseen"):
        await evaluator_for(tmp_path / "b", GameMaster(lambda *_: COMPLETED), Policy(), unseen_games="taboo")


async def test_unseen_games_default_to_every_non_training_game_and_an_empty_list_means_none(tmp_path) -> None:
    from playpen_evaluator.games import GameCatalog
    from playpen_evaluator.settings import EvaluatorSettings

    listing = await GameMaster(lambda *_: COMPLETED).ListGames(None)
    default = GameCatalog(listing, EvaluatorSettings(_cli_parse_args=[], state_dir=tmp_path))
    assert default.default.groups == {"taboo": "seen", "wordle": "seen", "imagegame": "unseen"}
    none = GameCatalog(listing, EvaluatorSettings(_cli_parse_args=[], state_dir=tmp_path, unseen_games=""))
    assert none.default.groups == {"taboo": "seen", "wordle": "seen"}
    # A held-out game without instances in the evaluated split is left out rather than failing every request.
    test_split = GameCatalog(listing, EvaluatorSettings(_cli_parse_args=[], state_dir=tmp_path, split="test"))
    assert test_split.default.groups == {"taboo": "seen", "wordle": "seen"}


class PolicyReplicas:
    """Several eval policy replicas behind one target; `lagging` ones report another version after loading."""

    def __init__(self, count: int, lagging: frozenset[int] = frozenset()):
        self.replicas = [Policy() for _ in range(count)]
        self._lagging = lagging

    async def each(self, call):
        replies = {f"10.0.0.{i}:50055": await call(replica) for i, replica in enumerate(self.replicas)}
        for i in self._lagging:
            replies[f"10.0.0.{i}:50055"] = policy_pb2.LoadWeightsResponse(policy_version=0)
        return replies


async def test_every_eval_policy_replica_loads_the_evaluated_checkpoint(tmp_path) -> None:
    policies = PolicyReplicas(3)
    evaluator = await evaluator_for(tmp_path, GameMaster(lambda game, instance, attempt: COMPLETED), policies)
    await evaluator.evaluate(ref(1), "validation", [], "grpo")
    assert [(p.version, p.loads) for p in policies.replicas] == [(1, 1)] * 3

    stuck = await evaluator_for(tmp_path / "stuck", GameMaster(lambda game, instance, attempt: COMPLETED),
                                PolicyReplicas(3, lagging=frozenset({2})))
    with pytest.raises(FailedPrecondition, match=r"the eval policy at 10\.0\.0\.2:50055 reports version 0"):
        await stuck.evaluate(ref(1), "validation", [], "grpo")


async def test_pinning_plays_the_version_on_a_shared_policy_without_loading_it(tmp_path) -> None:
    gamemaster, policy = GameMaster(lambda *_: COMPLETED), Policy(version=9)  # serving 9 to the rollouts
    evaluator = await evaluator_for(tmp_path, gamemaster, policy, pin_versions=True)
    result = await evaluator.evaluate(ref(4), "validation", [], "")
    assert result.version == 4 and policy.loads == 0 and policy.version == 9 and policy.pins == [4]
    assert {request.default_player.policy.policy_version for request in gamemaster.requests} == {4}
    policy.pin_answers_with = 9
    with pytest.raises(FailedPrecondition, match="replied with version 9 to a request pinning 5"):
        await evaluator.evaluate(ref(5), "validation", [], "")
