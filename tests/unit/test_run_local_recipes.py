"""`make run --recipe sft|grpo|dpo` plumbing, without starting a service: each recipe's run folder and phases,
which engines a phase starts on which cores (one engine with LoRA), the trainer's warm start, the final version."""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from pathlib import Path

import pytest

from playpen.common.v1 import checkpoint_pb2
from playpen_common.checkpoints import commit_manifest, version_dir

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def run_local():
    spec = importlib.util.spec_from_file_location("run_local_under_test", REPO / "scripts" / "run_local.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


def loop(run_local, tmp_path: Path, *flags: str):
    options = run_local.parse_args(["--run-dir", str(tmp_path / "run"), "--model", str(tmp_path / "model"), *flags])
    (options.run_dir / "logs").mkdir(parents=True, exist_ok=True)
    closed = run_local.ClosedLoop(options)
    closed._gamemaster = None  # run() sets it; the phases start the game master on first use
    return closed


class Started:
    """Stands in for Services.start: records what would run, returns a service with a made-up target."""

    def __init__(self):
        self.calls: list[tuple[str, list[str]]] = []

    def __call__(self, name: str, command: list[str], **_):
        self.calls.append((name, command))
        return type("Service", (), {"target": f"localhost:{1000 + len(self.calls)}"})()

    def command(self, name: str) -> list[str]:
        return next(command for started, command in self.calls if started == name)


def flag(command: list[str], name: str) -> str | None:
    return command[command.index(name) + 1] if name in command else None


def committed(root: Path, version: int, kind=checkpoint_pb2.CHECKPOINT_KIND_FULL, step: int = 0) -> Path:
    directory = version_dir(root, version)
    directory.mkdir(parents=True)
    (directory / "weights.bin").write_bytes(b"w")
    commit_manifest(directory, checkpoint_pb2.CheckpointRef(version=version, kind=kind, step=step))
    return directory


def test_every_recipe_has_its_own_folder_and_phases(run_local) -> None:
    assert run_local.parse_args([]).run_dir == Path("runs") / "default"  # the default recipe, grpo, as before
    assert run_local.parse_args(["--recipe", "sft"]).run_dir == Path("runs") / "sft"
    assert run_local.parse_args(["--recipe", "dpo"]).run_dir == Path("runs") / "dpo"
    assert run_local.parse_args(["--recipe", "dpo", "--run-dir", "elsewhere"]).run_dir == Path("elsewhere")
    assert run_local.RECIPES["sft"] == ("baseline", "demonstrations", "warm-start", "final-evaluation", "report")
    assert run_local.RECIPES["dpo"][3:5] == ("preferences", "dpo")
    with pytest.raises(SystemExit):
        run_local.parse_args(["--recipe", "ppo"])


def test_the_run_goes_through_its_recipes_phases_in_order_and_resumes(run_local, tmp_path, monkeypatch) -> None:
    closed = loop(run_local, tmp_path, "--recipe", "dpo", "--policy", "scripted")
    ran: list[str] = []
    for phase in run_local.RECIPES["dpo"][:-1]:
        method = "phase_" + phase.replace("-", "_")
        monkeypatch.setattr(closed, method, lambda phase=phase: (ran.append(phase), closed.state.finish(phase)))
    monkeypatch.setattr(closed, "phase_report", lambda: 0)
    closed.state.finish("baseline")  # finished before an interruption: not run again
    assert closed.run() == 0
    assert ran == ["demonstrations", "warm-start", "preferences", "dpo", "final-evaluation"]
    saved = json.loads((tmp_path / "run" / "state.json").read_text())["config"]
    assert saved["recipe"] == "dpo" and saved["dpo_steps"] == 24


def start_grpo(run_local, closed, monkeypatch) -> Started:
    """phase_grpo up to where self-play would start: the services it started are what matter."""
    started = Started()
    monkeypatch.setattr(closed.services, "start", started)
    monkeypatch.setattr(closed, "_resolve_games", lambda: None)
    closed.config.update(games=["taboo"], unseen_games=[])
    def popen(command, **_):  # self-play: its command is recorded, and the phase stops there
        started.calls.append(("selfplay", command))
        raise KeyboardInterrupt

    monkeypatch.setattr(run_local.subprocess, "Popen", popen)
    with pytest.raises(KeyboardInterrupt):
        closed.phase_grpo()
    return started


def test_by_default_the_one_engine_plays_only_rollouts_during_grpo(run_local, tmp_path, monkeypatch) -> None:
    """No evaluator during GRPO: an evaluation sharing the one engine took the 12-minute phase's engine time
    (2 steps); the warm start and the final version are evaluated after it."""
    for flags in ((), ("--no-lora",)):
        closed = loop(run_local, tmp_path / "-".join(flags or ("lora",)), *flags)
        committed(closed.paths.warm_start, 1)
        started = start_grpo(run_local, closed, monkeypatch)
        assert [name for name, _ in started.calls if name != "gamemaster"] == ["trainer", "rollout-policy",
                                                                              "selfplay"]
        assert flag(started.command("selfplay"), "--curriculum") == "signal"
        cores = sorted(os.sched_getaffinity(0))
        assert flag(started.command("rollout-policy"), "--cpu-cores") == ",".join(map(str, cores[2:] or cores[-1:]))
        assert closed.config["eval_during_grpo"] is False


def test_lora_grpo_serves_rollouts_and_evaluations_from_one_engine_over_the_warm_start(run_local, tmp_path,
                                                                                        monkeypatch) -> None:
    closed = loop(run_local, tmp_path, "--trainer-threads", "1", "--eval-during-grpo")
    warm = committed(closed.paths.warm_start, 1)
    started = Started()
    monkeypatch.setattr(closed.services, "start", started)
    monkeypatch.setattr(closed, "_resolve_games", lambda: None)
    closed.config.update(games=["taboo"], unseen_games=[])
    monkeypatch.setattr(run_local.subprocess, "Popen", lambda *a, **k: (_ for _ in ()).throw(KeyboardInterrupt))
    with pytest.raises(KeyboardInterrupt):  # stopped where self-play would start: the services are what matter
        closed.phase_grpo()
    names = [name for name, _ in started.calls]
    assert "eval-policy" not in names and names.count("rollout-policy") == 1
    trainer, policy, evaluator = (started.command(n) for n in ("trainer", "rollout-policy", "evaluator"))
    assert flag(trainer, "--lora") == "true" and flag(trainer, "--init-from") == str(warm.resolve())
    assert float(flag(trainer, "--lr")) == run_local.DEFAULT_LR[True]
    assert flag(policy, "--model") == str(warm.resolve())  # the merged warm start is the engine's base
    assert flag(policy, "--enable-lora") == "true"
    assert flag(policy, "--checkpoint-roots") == str(closed.paths.trainer / "checkpoints")
    cores = sorted(os.sched_getaffinity(0))
    # One core for vLLM's scheduler and the other services, one for the trainer, the rest the engine's.
    assert flag(policy, "--cpu-cores") == ",".join(map(str, cores[2:] or cores[-1:]))
    assert flag(evaluator, "--pin-versions") == "true"
    rollout_target = f"localhost:{1000 + names.index('rollout-policy') + 1}"
    assert flag(evaluator, "--eval-policy-target") == rollout_target


def test_without_lora_the_evaluator_keeps_its_own_engine_as_today(run_local, tmp_path, monkeypatch) -> None:
    closed = loop(run_local, tmp_path, "--no-lora", "--eval-during-grpo")
    committed(closed.paths.warm_start, 1)
    started = Started()
    monkeypatch.setattr(closed.services, "start", started)
    monkeypatch.setattr(closed, "_resolve_games", lambda: None)
    closed.config.update(games=["taboo"], unseen_games=[])
    monkeypatch.setattr(run_local.subprocess, "Popen", lambda *a, **k: (_ for _ in ()).throw(KeyboardInterrupt))
    with pytest.raises(KeyboardInterrupt):
        closed.phase_grpo()
    trainer, policy, evaluator = (started.command(n) for n in ("trainer", "rollout-policy", "evaluator"))
    assert "--lora" not in trainer and float(flag(trainer, "--lr")) == run_local.DEFAULT_LR[False]
    assert flag(policy, "--model") == str(tmp_path / "model") and "--enable-lora" not in policy
    assert "--pin-versions" not in evaluator
    names = [name for name, _ in started.calls]
    assert flag(evaluator, "--eval-policy-target") == f"localhost:{1000 + names.index('eval-policy') + 1}"
    eval_policy = started.command("eval-policy")
    assert flag(eval_policy, "--cpu-cores") != flag(policy, "--cpu-cores") or len(os.sched_getaffinity(0)) == 1


def test_the_final_version_is_the_recipes_own(run_local, tmp_path) -> None:
    sft = loop(run_local, tmp_path / "sft", "--recipe", "sft")
    assert sft.final_version() == (None, "warm-start")
    committed(sft.paths.warm_start, 1)
    ref, label = sft.final_version()
    assert (ref.version, label) == (1, "warm-start")

    dpo = loop(run_local, tmp_path / "dpo", "--recipe", "dpo")
    committed(dpo.paths.warm_start, 1)
    assert dpo.final_version()[1] == "warm-start"  # no pair to learn from: the warm start stays the model
    committed(dpo.paths.dpo, 2)
    ref, label = dpo.final_version()
    assert (ref.version, label) == (2, "dpo")

    grpo = loop(run_local, tmp_path / "grpo")
    committed(grpo.paths.trainer / "checkpoints", 1, checkpoint_pb2.CHECKPOINT_KIND_LORA, step=0)
    assert grpo.final_version()[1] == "warm-start"
    committed(grpo.paths.trainer / "checkpoints", 2, checkpoint_pb2.CHECKPOINT_KIND_LORA, step=1)
    ref, label = grpo.final_version()
    assert (ref.version, ref.kind, label) == (2, checkpoint_pb2.CHECKPOINT_KIND_LORA, "grpo")


def test_an_adapter_is_evaluated_pinned_over_its_base_with_the_cores_left(run_local, tmp_path, monkeypatch) -> None:
    closed = loop(run_local, tmp_path)
    warm = committed(closed.paths.warm_start, 1)
    committed(closed.paths.trainer / "checkpoints", 2, checkpoint_pb2.CHECKPOINT_KIND_LORA, step=1)
    started = Started()
    monkeypatch.setattr(closed.services, "start", started)
    monkeypatch.setattr(closed, "_resolve_games", lambda: None)
    monkeypatch.setattr(closed, "evaluated_labels", lambda: {"baseline", "warm-start"})
    closed.config.update(games=["taboo"], unseen_games=[])
    evaluated = []
    monkeypatch.setattr(closed, "evaluate", lambda evaluator, ref, label: evaluated.append((ref.version, label)))
    closed.phase_final_evaluation()
    assert evaluated == [(2, "grpo")]
    policy, evaluator = started.command("eval-policy"), started.command("evaluator")
    assert flag(policy, "--model") == str(warm.resolve()) and flag(policy, "--enable-lora") == "true"
    cores = sorted(os.sched_getaffinity(0))
    assert flag(policy, "--cpu-cores") == ",".join(map(str, cores[1:] or cores[-1:]))
    assert flag(evaluator, "--pin-versions") == "true"


def test_a_warm_start_grpo_never_got_to_evaluate_is_evaluated_first(run_local, tmp_path, monkeypatch) -> None:
    closed = loop(run_local, tmp_path)
    committed(closed.paths.warm_start, 1)
    committed(closed.paths.trainer / "checkpoints", 3, checkpoint_pb2.CHECKPOINT_KIND_LORA, step=2)
    started = Started()
    monkeypatch.setattr(closed.services, "start", started)
    monkeypatch.setattr(closed, "_resolve_games", lambda: None)
    closed.config.update(games=["taboo"], unseen_games=[])
    evaluated = []
    monkeypatch.setattr(closed, "evaluate", lambda evaluator, ref, label: evaluated.append((ref.version, label)))
    closed.phase_final_evaluation()  # no result stored yet
    assert evaluated == [(1, "warm-start"), (3, "grpo")]
    first_policy = started.command("eval-policy")  # the warm start's full weights, loaded into the base model
    assert flag(first_policy, "--model") == str(tmp_path / "model") and "--enable-lora" not in first_policy
