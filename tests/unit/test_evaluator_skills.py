"""The skill suite inside an evaluation, against stand-in stubs: the statscore stored with the version, its
interval, the per-kind rates and the gauge; the version check; the settings that turn it off or take a subset."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from playpen.policy.v1 import policy_pb2
from playpen_common.errors import FailedPrecondition
from playpen_evaluator.evaluation import Evaluator
from playpen_evaluator.metrics import EvaluatorMetrics
from playpen_evaluator.serving import Serving
from playpen_evaluator.settings import EvaluatorSettings
from playpen_evaluator.skills import SkillSuite
from playpen_evaluator.store import ResultStore
from playpen_skills import constraints as c
from playpen_skills import suite, wilson
from tests.unit.test_evaluator_play import COMPLETED, GameMaster, Policy, ref

# Task -> the reply the stand-in policy gives (as a model at temperature 0 would: the same every time).
PROMPTS = [
    ("Name a colour.", (c.Lowercase(),), "blue"),  # followed
    ("Name two fruits.", (c.Bullets(2), c.NoCommas()), "- apple\n- pear"),  # followed
    ("Describe rain.", (c.MaxWords(3), c.EndsWith("The end.")), "Water falls down. The end."),  # max_words broken
    ("Give a number.", (c.JsonObject(),), '```json\n{"n": 4}\n```'),  # followed
    ("Say hello.", (c.Uppercase(),), "hello"),  # broken; beyond the subset of 4 below
]


class SkillPolicy(Policy):
    def __init__(self, answered_by: int | None = None):
        super().__init__()
        self.answered_by, self.requests = answered_by, []
        self.replies = {suite.Prompt(f"p{i}", task, kinds).text: reply
                        for i, (task, kinds, reply) in enumerate(PROMPTS)}

    async def Generate(self, request, timeout=None):
        self.requests.append(request)
        version = self.version if self.answered_by is None else self.answered_by
        return policy_pb2.GenerateResponse(text=self.replies[request.messages[-1].content], policy_version=version)


def suite_file(tmp_path: Path) -> Path:
    prompts = [suite.Prompt(f"p{i}", task, kinds) for i, (task, kinds, _) in enumerate(PROMPTS)]
    path = tmp_path / "suite.json"
    path.write_text(json.dumps({"suite": "test-suite", "prompts": [p.to_dict() for p in prompts]}))
    return path


async def evaluator_with_skills(tmp_path: Path, policy: SkillPolicy, **settings) -> Evaluator:
    config = EvaluatorSettings(_cli_parse_args=[], state_dir=tmp_path, instances_per_game=2, seen_games="taboo",
                               unseen_games="", skill_suite=suite_file(tmp_path), **settings)
    store = ResultStore(config.store_path)
    evaluator = Evaluator(config, store, Serving(store.serving()), EvaluatorMetrics(),
                          GameMaster(lambda *_: COMPLETED), policy, skills=SkillSuite.from_settings(config),
                          skills_policy=policy)
    await evaluator.resolve_games()
    return evaluator


async def test_the_statscore_is_stored_with_the_version_and_exposed(tmp_path) -> None:
    policy = SkillPolicy()
    evaluator = await evaluator_with_skills(tmp_path, policy, skill_prompts=4, skill_max_tokens=99)
    try:
        result = await evaluator.evaluate(ref(3), "validation", [], "grpo")
        skills = result.skills
        assert (skills.suite, skills.prompts, skills.followed) == ("test-suite", 4, 3)
        assert skills.statscore == pytest.approx(75.0)
        low, high = wilson(3, 4)
        assert (skills.ci_low, skills.ci_high) == pytest.approx((100 * low, 100 * high))
        assert {k.kind: (k.followed, k.checked) for k in skills.constraints} == {
            "lowercase": (1, 1), "bullets": (1, 1), "no_commas": (1, 1), "max_words": (0, 1), "ends_with": (1, 1),
            "json_object": (1, 1)}
        # single-turn, temperature 0, the configured max tokens; the first 4 prompts only
        assert len(policy.requests) == 4
        for request in policy.requests:
            assert len(request.messages) == 1 and request.messages[0].role == "user"
            assert request.sampling.temperature == 0 and request.sampling.max_tokens == 99
        (stored,) = evaluator.store.results([3], "validation", include_episodes=False)
        assert stored.skills == skills
        assert evaluator.metrics.statscore._value.get() == pytest.approx(75.0)
        followed = evaluator.metrics.skill_kind_followed
        assert followed.labels(kind="max_words")._value.get() == 0.0
        assert followed.labels(kind="json_object")._value.get() == 100.0
    finally:
        evaluator.store.close()


async def test_replies_from_another_version_fail_the_evaluation(tmp_path) -> None:
    evaluator = await evaluator_with_skills(tmp_path, SkillPolicy(answered_by=2), skill_prompts=2)
    try:
        with pytest.raises(FailedPrecondition, match="answered by version 2, not 3"):
            await evaluator.evaluate(ref(3), "validation", [], "grpo")
        assert evaluator.store.results([], "", include_episodes=False) == []
    finally:
        evaluator.store.close()


async def test_skills_off_leaves_the_field_unset(tmp_path) -> None:
    policy = SkillPolicy()
    evaluator = await evaluator_with_skills(tmp_path, policy, skills=False)
    try:
        result = await evaluator.evaluate(ref(1), "validation", [], "grpo")
        assert not result.HasField("skills") and policy.requests == []
        assert math.isnan(evaluator.metrics.statscore._value.get())
    finally:
        evaluator.store.close()


def test_the_suite_settings(tmp_path) -> None:
    default = SkillSuite.from_settings(EvaluatorSettings(_cli_parse_args=[]))
    assert default is not None and default.name == suite.SUITE and len(default.prompts) == 40
    assert default.prompts == tuple(suite.generate()[:40])
    with pytest.raises(ValueError, match="has only 5 prompts"):
        SkillSuite.from_settings(EvaluatorSettings(_cli_parse_args=[], skill_suite=suite_file(tmp_path),
                                                   skill_prompts=6))
    assert SkillSuite.from_settings(EvaluatorSettings(_cli_parse_args=[], skills=False)) is None
