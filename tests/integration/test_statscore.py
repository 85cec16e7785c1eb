"""Skill retention end to end: a real game master, a real scripted eval policy and the evaluator with a small
suite file of our own. The script answers the suite's tasks so that the base model follows 3 of 4 prompts and
checkpoint 1 only 2 (it starts a lowercase answer with a capital); the evaluator must store, list, expose and
report exactly those statscores with their Wilson intervals."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from playpen.common.v1 import checkpoint_pb2
from playpen.evaluator.v1 import evaluator_pb2, evaluator_pb2_grpc
from playpen_common import launcher
from playpen_evaluator.report import main as report
from playpen_skills import Prompt, wilson
from playpen_skills import constraints as c
from tests.integration.helpers import checkpoint, scrape

pytestmark = pytest.mark.integration

PROMPTS = [Prompt("p0", "Name a colour.", (c.Lowercase(),)),
           Prompt("p1", "Name two fruits.", (c.Bullets(2), c.NoCommas())),
           Prompt("p2", "Describe rain.", (c.MaxWords(3), c.EndsWith("The end."))),
           Prompt("p3", "Give a number.", (c.JsonObject(),)),
           Prompt("p4", "Say hello.", (c.Uppercase(),))]  # beyond --skill-prompts 4: never asked
SCRIPT = {"rules": [
    {"first": "Name a colour", "versions": [0], "reply": "blue"},
    {"first": "Name a colour", "reply": "Blue"},
    {"first": "Name two fruits", "reply": "- apple\n- pear\n"},
    {"first": "Describe rain", "reply": "Water falls from clouds. The end."},
    {"first": "Give a number", "reply": '```json\n{"n": 4}\n```'},
    {"first": "You are the describer|describe a target word", "reply": "CLUE: something most people know well"},
    {"first": "Your partner knows a secret word|guess a target word", "reply": "GUESS: thing"},
], "default": "no idea"}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("statscore")


@pytest.fixture(scope="module")
def suite_file(workdir: Path) -> Path:
    path = workdir / "suite.json"
    path.write_text(json.dumps({"suite": "test-suite", "prompts": [p.to_dict() for p in PROMPTS]}))
    return path


@pytest.fixture(scope="module")
def services(workdir: Path, suite_file: Path) -> Iterator[launcher.Service]:
    script = workdir / "script.json"
    script.write_text(json.dumps(SCRIPT))
    started = [launcher.start("gamemaster", ["playpen-gamemaster"], workdir)]
    started.append(launcher.start("eval-policy", ["playpen-policy", "--backend", "scripted", "--script",
                                                  str(script)], workdir))
    try:
        started.append(launcher.start("evaluator", [
            "playpen-evaluator", "--gamemaster-target", started[0].target, "--eval-policy-target", started[1].target,
            "--state-dir", str(workdir / "state"), "--seen-games", "taboo", "--unseen-games", "",
            "--instances-per-game", "2", "--skill-suite", str(suite_file), "--skill-prompts", "4"], workdir))
        yield started[-1]
    finally:
        for service in reversed(started):
            assert service.stop() == 0, service.log()[-3000:]


def expected(followed: int, prompts: int = 4) -> tuple[float, float, float]:
    low, high = wilson(followed, prompts)
    return 100.0 * followed / prompts, 100.0 * low, 100.0 * high


def test_the_statscore_is_stored_listed_exposed_and_reported(services, workdir: Path, capsys) -> None:
    with grpc.insecure_channel(services.target) as channel:
        stub = evaluator_pb2_grpc.EvaluatorServiceStub(channel)

        def evaluate(ref: checkpoint_pb2.CheckpointRef, label: str) -> evaluator_pb2.EvaluationResult:
            request = evaluator_pb2.EvaluateCheckpointRequest(checkpoint=ref, label=label)
            return stub.EvaluateCheckpoint(request, timeout=120).result

        base = evaluate(checkpoint_pb2.CheckpointRef(version=0), "baseline")
        assert base.overall.episodes == 2  # the games were played as before
        skills = base.skills
        assert (skills.suite, skills.prompts, skills.followed) == ("test-suite", 4, 3)
        assert (skills.statscore, skills.ci_low, skills.ci_high) == pytest.approx(expected(3))
        assert {k.kind: (k.followed, k.checked) for k in skills.constraints} == {
            "lowercase": (1, 1), "bullets": (1, 1), "no_commas": (1, 1), "max_words": (0, 1),
            "ends_with": (1, 1), "json_object": (1, 1)}
        assert scrape(services)["playpen_evaluator_statscore"] == pytest.approx(75.0)

        later = evaluate(checkpoint(workdir / "checkpoints", 1), "grpo")
        assert (later.skills.followed, later.skills.statscore) == (2, pytest.approx(50.0))
        assert {k.kind: k.followed for k in later.skills.constraints}["lowercase"] == 0
        samples = scrape(services)
        assert samples["playpen_evaluator_statscore"] == pytest.approx(50.0)
        assert samples['playpen_evaluator_skill_constraint_followed{kind="lowercase"}'] == 0.0
        assert samples['playpen_evaluator_skill_constraint_followed{kind="bullets"}'] == 100.0

        listed = stub.ListResults(evaluator_pb2.ListResultsRequest(), timeout=30).results
        assert [(r.version, r.skills.followed) for r in listed] == [(0, 3), (1, 2)]
        assert listed[1].skills == later.skills

    assert report(["--state-dir", str(workdir / "state"), "--out", str(workdir / "report")]) == 0
    printed = capsys.readouterr().out
    assert "shows no clear change (the 95% intervals overlap)" in printed
    score0, low0, high0 = expected(3)
    assert f"baseline v0 {score0:.1f}% [{low0:.1f}, {high0:.1f}]" in printed
    markdown = (workdir / "report" / "report.md").read_text()
    assert "| v1 | 10 | grpo | test-suite | 4 | 2 | 50.0 |" in markdown


def test_a_subset_larger_than_the_suite_stops_the_evaluator_at_start(suite_file: Path, tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "playpen_evaluator", "--state-dir", str(tmp_path),
                             "--skill-suite", str(suite_file), "--skill-prompts", "6", "--metrics-port", "-1"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "has only 5 prompts" in result.stdout + result.stderr
