"""The evaluator against a real game master and a real scripted eval policy (checkpoints verified on load).

The script makes versions play differently: version 2 breaks every reply format (all games aborted), versions
7 and 11-14 are slow (an infrastructure failure, and the follow-mode test), every other version plays the same
well-formed moves. The tests run in file order: they share the evaluator's store and its serving version.
"""

from __future__ import annotations

import asyncio
import json
import math
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import pytest

from playpen.common.v1 import checkpoint_pb2
from playpen.evaluator.v1 import evaluator_pb2, evaluator_pb2_grpc
from playpen.policy.v1 import policy_pb2, policy_pb2_grpc
from playpen.trainer.v1 import trainer_pb2, trainer_pb2_grpc
from playpen_common import launcher
from playpen_games import clemscore
from tests.integration.helpers import checkpoint, scrape, total, wait_until

SLOW_S = 1.5  # a slow reply, under the game master's policy deadline
SCRIPT = {"rules": [
    {"versions": [2], "reply": "I will not play."},
    {"versions": [7], "delay_s": 5.0, "reply": "too late"},
    {"versions": [11, 12, 13, 14], "delay_s": SLOW_S, "reply": "I will not play."},
    {"first": "You are the describer|describe a target word", "reply": "CLUE: something most people know well"},
    {"first": "Your partner knows a secret word|guess a target word", "reply": "GUESS: thing"},
    {"first": "referring expression", "reply": "Expression: the grid that looks different from the other two"},
    {"first": "Decide which of the three grids|which grid", "reply": "Answer: first"},
    {"first": "playing Wordle|language wizard", "reply": "explanation: common letters\nguess: crane"},
], "default": "no idea"}
GAMES = ("--seen-games", "taboo,referencegame", "--unseen-games", "wordle", "--instances-per-game", "6")
MARGIN = 1.0


def episodes_played(gamemaster: launcher.Service) -> float:
    return total(scrape(gamemaster), "playpen_gamemaster_episodes_total{")


def policy_version(target: str) -> int:
    with grpc.insecure_channel(target) as channel:
        return policy_pb2_grpc.PolicyServiceStub(channel).GetStatus(policy_pb2.GetStatusRequest(), timeout=10) \
            .policy_version


class EvaluatorProcess:
    """One evaluator on a state folder, restartable on it."""

    def __init__(self, name: str, workdir: Path, flags: list[str]):
        self.name, self.workdir, self.flags = name, workdir, flags
        self.service = self._start()
        self._channel = grpc.insecure_channel(self.service.target)
        self.stub = evaluator_pb2_grpc.EvaluatorServiceStub(self._channel)

    def _start(self) -> launcher.Service:
        return launcher.start(self.name, ["playpen-evaluator", *self.flags], self.workdir)

    def restart(self) -> None:
        self.stop()
        self.service = self._start()
        self._channel = grpc.insecure_channel(self.service.target)
        self.stub = evaluator_pb2_grpc.EvaluatorServiceStub(self._channel)

    def stop(self) -> None:
        self._channel.close()
        assert self.service.stop() == 0, self.service.log()[-3000:]

    def evaluate(self, ref: checkpoint_pb2.CheckpointRef, **request) -> evaluator_pb2.EvaluationResult:
        return self.stub.EvaluateCheckpoint(evaluator_pb2.EvaluateCheckpointRequest(checkpoint=ref, **request),
                                            timeout=120).result

    def results(self, **request) -> evaluator_pb2.ListResultsResponse:
        return self.stub.ListResults(evaluator_pb2.ListResultsRequest(**request), timeout=30)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("evaluator")


@pytest.fixture(scope="module")
def gm(workdir: Path) -> Iterator[launcher.Service]:
    service = launcher.start("gamemaster", ["playpen-gamemaster", "--policy-timeout-s", "3"], workdir)
    yield service
    assert service.stop() == 0


@pytest.fixture(scope="module")
def eval_policy(workdir: Path) -> Iterator[launcher.Service]:
    script = workdir / "script.json"
    script.write_text(json.dumps(SCRIPT))
    service = launcher.start("eval-policy", ["playpen-policy", "--backend", "scripted", "--script", str(script)],
                             workdir)
    yield service
    assert service.stop() == 0


@pytest.fixture(scope="module")
def ev(workdir: Path, gm: launcher.Service, eval_policy: launcher.Service) -> Iterator[EvaluatorProcess]:
    process = EvaluatorProcess("evaluator", workdir, [
        "--gamemaster-target", gm.target, "--eval-policy-target", eval_policy.target, "--state-dir",
        str(workdir / "state"), "--promotion-margin", str(MARGIN), "--reconnect-s", "0.2", *GAMES])
    yield process
    process.stop()


@pytest.fixture(scope="module")
def ckpts(workdir: Path) -> Callable[[int], checkpoint_pb2.CheckpointRef]:
    return lambda version: checkpoint(workdir / "checkpoints", version)


def code_of(call: Callable[[], object]) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as raised:
        call()
    return raised.value.code(), raised.value.details()


# ------------------------------------------------------------------------------------------------ evaluation

def test_base_model_and_checkpoints_are_scored_stored_and_promoted(ev, gm, eval_policy, ckpts) -> None:
    base = ev.evaluate(checkpoint_pb2.CheckpointRef(version=0), label="baseline")
    assert base.promoted and base.promotion_reason.startswith("first evaluated checkpoint")
    assert (base.version, base.split, base.label, base.step) == (0, "validation", "baseline", 0)

    played_before = episodes_played(gm)
    result = ev.evaluate(ckpts(1), label="warm-start")
    assert episodes_played(gm) == played_before + 18 and policy_version(eval_policy.target) == 1
    assert (result.version, result.step, result.label) == (1, 10, "warm-start")
    assert {(g.game, g.group, g.score.episodes) for g in result.games} == {
        ("taboo", "seen", 6), ("referencegame", "seen", 6), ("wordle", "unseen", 6)}
    groups = {g.group: g.score for g in result.groups}
    assert set(groups) == {"seen", "unseen"} and result.overall.episodes == 18
    assert groups["seen"].clemscore > MARGIN, "the script's well-formed moves must score for the promotion tests"
    assert result.promoted and "≥ best promoted" in result.promotion_reason

    # the episodes stored are the ones scored: recomputing clembench's aggregates from them agrees
    assert not result.episodes  # only ListResults(include_episodes) carries them
    rows = ev.results(versions=[1], include_episodes=True).results[0].episodes
    assert len(rows) == 18
    by_game = clemscore.by_game(clemscore.ScoredEpisode(e.game, e.aborted, e.main_score) for e in rows)
    for game in result.games:
        assert (by_game[game.game].played, by_game[game.game].clemscore) == (game.score.played, game.score.clemscore)
    seen = clemscore.aggregate({g: s for g, s in by_game.items() if g != "wordle"})
    assert seen.clemscore == groups["seen"].clemscore

    # asked again: the stored result, nothing played
    again = ev.evaluate(ckpts(1), label="ignored")
    assert episodes_played(gm) == played_before + 18
    assert again.evaluated_at == result.evaluated_at and again.label == "warm-start" and again.promoted
    assert scrape(ev.service)['playpen_evaluator_evaluations_total{outcome="stored"}'] == 1

    # the base model again, on a game set not evaluated yet: the eval policy serves version 1 now
    code, details = code_of(lambda: ev.evaluate(checkpoint_pb2.CheckpointRef(version=0), games=["taboo"]))
    assert code == grpc.StatusCode.FAILED_PRECONDITION and "serves version 1" in details


def test_list_results_filters_and_returns_episodes(ev) -> None:
    everything = ev.results()
    assert [r.version for r in everything.results] == [0, 1] and everything.serving_version == 1
    assert all(not r.episodes for r in everything.results)
    one = ev.results(versions=[1], split="validation", include_episodes=True)
    assert [r.version for r in one.results] == [1] and len(one.results[0].episodes) == 18
    rows = one.results[0].episodes
    assert {e.group for e in rows if e.game == "wordle"} == {"unseen"} and all(e.turns > 0 for e in rows)
    assert all(math.isnan(e.main_score) for e in rows if e.aborted)
    assert len({e.episode_id for e in rows}) == 18 and len({(e.game, e.instance_id) for e in rows}) == 18
    assert ev.results(split="test").results == [] and ev.results(versions=[42]).results == []


def test_promotion_is_gated_by_the_margin_and_watchers_see_every_change(ev, ckpts) -> None:
    watcher = ev.stub.WatchPromotions(evaluator_pb2.WatchPromotionsRequest(current_version=0), timeout=60)
    assert next(watcher).checkpoint.version == 1  # the serving checkpoint first

    worse = ev.evaluate(ckpts(2), label="grpo")
    assert not worse.promoted and worse.overall.played == 0
    assert " < best promoted " in worse.promotion_reason and "not promoted" in worse.promotion_reason
    assert ev.results().serving_version == 1

    assert ev.evaluate(ckpts(3), label="grpo").promoted
    first = next(watcher).checkpoint
    assert (first.version, first.step) == (3, 30) and first.files and first.uri.endswith("v00000003")

    up_to_date = ev.stub.WatchPromotions(evaluator_pb2.WatchPromotionsRequest(current_version=3), timeout=60)
    rolled = ev.stub.Rollback(evaluator_pb2.RollbackRequest(version=1), timeout=10).checkpoint
    assert rolled.version == 1 and ev.results().serving_version == 1
    assert next(watcher).checkpoint.version == 1
    assert next(up_to_date).checkpoint.version == 1  # it had 3: nothing was sent before the rollback
    watcher.cancel()
    up_to_date.cancel()

    for version, expected, words in [(2, grpc.StatusCode.FAILED_PRECONDITION, "never promoted"),
                                     (99, grpc.StatusCode.INVALID_ARGUMENT, "never evaluated"),
                                     (-1, grpc.StatusCode.INVALID_ARGUMENT, "negative"),
                                     (0, grpc.StatusCode.FAILED_PRECONDITION, "base model")]:
        code, details = code_of(lambda v=version: ev.stub.Rollback(evaluator_pb2.RollbackRequest(version=v),
                                                                   timeout=10))
        assert code == expected and words in details, (version, details)
    assert ev.results().serving_version == 1


def test_test_split_and_other_game_sets_never_promote(ev, ckpts) -> None:
    on_test = ev.evaluate(ckpts(3), split="test")
    assert on_test.split == "test" and not on_test.promoted and "test-split" in on_test.promotion_reason
    custom = ev.evaluate(ckpts(3), games=["referencegame"])
    assert [g.game for g in custom.games] == ["referencegame"] and not custom.promoted
    assert ev.results().serving_version == 1 and len(ev.results(versions=[3]).results) == 3


def test_bad_requests_are_invalid_arguments(ev, ckpts) -> None:
    cases = [
        (lambda: ev.evaluate(ckpts(1), split="train"), "unknown split"),
        (lambda: ev.evaluate(ckpts(1), games=["taboo", "chess"]), "unknown game"),
        (lambda: ev.evaluate(checkpoint_pb2.CheckpointRef(version=-3)), "must not be negative"),
        (lambda: ev.evaluate(checkpoint_pb2.CheckpointRef(version=4, kind=checkpoint_pb2.CHECKPOINT_KIND_FULL)),
         "lists no files"),
        (lambda: ev.stub.EvaluateCheckpoint(evaluator_pb2.EvaluateCheckpointRequest(), timeout=10),
         "needs a checkpoint"),
        (lambda: ev.evaluate(ckpts(1), label="x" * 500), "label"),
        (lambda: ev.results(versions=[-1]), "negative"),
        (lambda: ev.results(split="bogus"), "unknown split"),
        (lambda: next(ev.stub.WatchPromotions(evaluator_pb2.WatchPromotionsRequest(current_version=-1), timeout=10)),
         "negative"),
    ]
    for call, words in cases:
        code, details = code_of(call)
        assert code == grpc.StatusCode.INVALID_ARGUMENT and words in details, details


def test_a_corrupt_checkpoint_is_refused_and_nothing_is_stored(ev, ckpts) -> None:
    ref = ckpts(5)
    Path(ref.uri, "model.safetensors").write_bytes(b"weights of version 5, overwritten")
    code, details = code_of(lambda: ev.evaluate(ref))
    assert code == grpc.StatusCode.FAILED_PRECONDITION and "partial write" in details
    assert ev.results(versions=[5]).results == []


def test_episodes_that_fail_for_infrastructure_reasons_fail_the_evaluation(ev, ckpts) -> None:
    # version 7 answers after the game master's deadline: every episode is an INFRA_FAILURE, replayed twice
    code, details = code_of(lambda: ev.evaluate(ckpts(7), games=["referencegame"]))
    assert code == grpc.StatusCode.UNAVAILABLE and "could not be played after 2 replay(s)" in details
    assert ev.results(versions=[7]).results == []
    assert scrape(ev.service)['playpen_evaluator_episodes_total{status="infra_failure"}'] == 18


# ------------------------------------------------------------------------------------------------ serving

def test_serving_replicas_follow_promotions_and_rollbacks(ev, workdir, ckpts) -> None:
    script = workdir / "script.json"
    replica = launcher.start("replica", ["playpen-policy", "--backend", "scripted", "--script", str(script),
                                         "--follow-evaluator", ev.service.target, "--follow-poll-s", "0.2"], workdir)
    try:
        assert policy_version(replica.target) == 1  # the serving version, loaded before it reported ready
        assert ev.evaluate(ckpts(6)).promoted
        wait_until(lambda: policy_version(replica.target) == 6, "the replica to load version 6")
        ev.stub.Rollback(evaluator_pb2.RollbackRequest(version=3), timeout=10)
        wait_until(lambda: policy_version(replica.target) == 3, "the replica to roll back to version 3")
    finally:
        assert replica.stop() == 0, replica.log()[-3000:]


def test_a_restart_keeps_results_and_the_serving_version(ev) -> None:
    before = ev.results(include_episodes=True)
    assert before.serving_version == 3
    ev.restart()
    after = ev.results(include_episodes=True)
    assert after == before
    watcher = ev.stub.WatchPromotions(evaluator_pb2.WatchPromotionsRequest(current_version=0), timeout=30)
    serving = next(watcher).checkpoint
    watcher.cancel()
    assert serving.version == 3 and serving.files and serving.uri.endswith("v00000003")


# ------------------------------------------------------------------------------------------------ follow mode

class FakeTrainer(trainer_pb2_grpc.TrainerServiceServicer):
    """Streams every committed checkpoint after the watcher's version, in order; can restart on its port."""

    def __init__(self) -> None:
        self.checkpoints: list[checkpoint_pb2.CheckpointRef] = []
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()
        self._changed: asyncio.Condition | None = None
        self._server: grpc.aio.Server | None = None
        self.port = 0

    def _run(self, coroutine):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(30)

    async def _start(self) -> None:
        self._changed = self._changed or asyncio.Condition()
        self._server = grpc.aio.server()
        trainer_pb2_grpc.add_TrainerServiceServicer_to_server(self, self._server)
        self.port = self._server.add_insecure_port(f"127.0.0.1:{self.port}")
        await self._server.start()

    async def _publish(self, refs: list[checkpoint_pb2.CheckpointRef]) -> None:
        assert self._changed is not None
        async with self._changed:
            self.checkpoints.extend(refs)
            self._changed.notify_all()

    def start(self) -> None:
        self._run(self._start())

    def stop(self) -> None:
        assert self._server is not None
        self._run(self._server.stop(0))

    def publish(self, *refs: checkpoint_pb2.CheckpointRef) -> None:
        self._run(self._publish(list(refs)))

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)

    async def WatchCheckpoints(self, request, context):
        assert self._changed is not None
        sent = request.after_version
        while True:
            async with self._changed:
                await self._changed.wait_for(lambda sent=sent: any(c.version > sent for c in self.checkpoints))
                newer = [c for c in self.checkpoints if c.version > sent]
            for ref in newer:
                sent = ref.version
                yield trainer_pb2.WatchCheckpointsResponse(checkpoint=ref)


def test_follow_mode_evaluates_the_newest_checkpoint_and_reconnects(workdir, gm, eval_policy, ckpts) -> None:
    trainer = FakeTrainer()
    trainer.start()
    follower = EvaluatorProcess("follow-evaluator", workdir, [
        "--gamemaster-target", gm.target, "--eval-policy-target", eval_policy.target, "--state-dir",
        str(workdir / "follow-state"), "--follow-trainer", f"127.0.0.1:{trainer.port}", "--reconnect-s", "0.2",
        "--seen-games", "taboo,referencegame", "--unseen-games", "wordle", "--instances-per-game", "2"])
    try:
        def evaluated() -> list[int]:
            return [r.version for r in follower.results().results]

        trainer.publish(ckpts(11))
        # version 11 plays slowly: 12 and 13 both arrive while it is being evaluated
        wait_until(lambda: policy_version(eval_policy.target) == 11, "the follower to load version 11")
        trainer.publish(ckpts(12), ckpts(13))
        wait_until(lambda: evaluated() == [11, 13], "versions 11 and 13 to be evaluated", timeout=60)
        assert scrape(follower.service)["playpen_evaluator_skipped_checkpoints_total"] == 1
        labels = {r.label for r in follower.results().results}
        assert labels == {"grpo"}

        trainer.stop()  # the trainer restarts on its port; the follower reconnects
        trainer.start()
        trainer.publish(ckpts(14))
        wait_until(lambda: evaluated() == [11, 13, 14], "version 14 after the trainer restarted", timeout=60)
    finally:
        follower.stop()
        trainer.stop()
        trainer.close()


def test_a_replica_whose_evaluator_is_gone_still_stops_cleanly(workdir, gm, eval_policy) -> None:
    """SIGTERM while the follower reconnects to a stopped evaluator: exit 0 (the follower stops before its
    channel closes, as when `helm uninstall` stops every pod at once)."""
    source = EvaluatorProcess("gone-evaluator", workdir, [
        "--gamemaster-target", gm.target, "--eval-policy-target", eval_policy.target, "--state-dir",
        str(workdir / "state-gone"), "--reconnect-s", "0.2", *GAMES])
    script = workdir / "script.json"
    replica = launcher.start("orphan", ["playpen-policy", "--backend", "scripted", "--script", str(script),
                                        "--follow-evaluator", source.service.target, "--follow-poll-s", "0.005"],
                             workdir)
    try:
        source.stop()
        wait_until(lambda: "checkpoint stream interrupted" in replica.log(), "the replica to notice")
    finally:
        assert replica.stop() == 0, replica.log()[-3000:]
