"""The trainer as N processes (torchrun, gloo on CPU): the same loss, gradients and weights as one process on the
same batches, for DDP and FSDP2, full weights and LoRA, with and without the KL term; the consolidated checkpoint
is the single-process one; groups are sharded whole and evenly."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from playpen_trainer.distributed import autocast_dtype, resolve_device
from playpen_trainer.loop import shard_groups
from tests.tiny_model import build_tiny_model
from tests.trainer.dist_steps import step_samples
from tests.trainer.test_trainer_service import _check_exactly_once, wait_for
from tests.trainer.trainer_process import groups, rank_pids, start_trainer, status, submit

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "tests" / "trainer" / "dist_steps.py"


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("dist-model") / "model")


def run_steps(model: Path, out: Path, processes: int, *flags: str) -> dict:
    out.mkdir(parents=True)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    if processes == 1:  # no torchrun at all: the single-process trainer as `playpen-trainer` runs it
        command = [sys.executable, str(SCRIPT)]
    else:
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(processes),
                   str(SCRIPT)]
    done = subprocess.run([*command, str(model), str(out), *flags], env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-4000:]
    return torch.load(out / "result.pt", weights_only=False)


CASES = {
    "ddp-full": ("--parallel", "ddp"),
    "fsdp-full-kl": ("--parallel", "fsdp", "--kl", "0.1"),
    "ddp-lora-kl": ("--parallel", "ddp", "--lora", "--kl", "0.1"),
    "fsdp-lora": ("--parallel", "fsdp", "--lora"),
}


@pytest.mark.timeout(600)
@pytest.mark.parametrize("case", sorted(CASES))
def test_two_processes_train_exactly_as_one(model, tmp_path, case) -> None:
    flags = CASES[case]
    one = run_steps(model, tmp_path / "one", 1, *flags)
    two = run_steps(model, tmp_path / "two", 2, *flags)
    assert two["world_size"] == 2
    for number, (a, b) in enumerate(zip(one["steps"], two["steps"], strict=True)):
        # Counts are exact; sums differ only by the order floats are added in.
        assert (a["tokens"], a["samples"], a["skipped"]) == (b["tokens"], b["samples"], b["skipped"])
        assert a["samples"] > 0 and a["skipped"] + a["samples"] == 15 and a["grads"]
        for key in ("loss", "grad_norm", "kl", "mismatch"):
            assert b[key] == pytest.approx(a[key], rel=1e-4, abs=1e-6), (number, key)
        assert a["grads"].keys() == b["grads"].keys()
        # The first step's gradients come from identical weights; later ones from weights that Adam moved by
        # float-rounding differences of the step before.
        tolerance = 1e-5 if number == 0 else 5e-4
        for name in a["grads"]:
            torch.testing.assert_close(b["grads"][name], a["grads"][name], rtol=1e-3, atol=tolerance, msg=name)
    assert one["weights"].keys() == two["weights"].keys()
    for name in one["weights"]:
        torch.testing.assert_close(two["weights"][name], one["weights"][name], rtol=1e-3, atol=5e-4, msg=name)
    # The consolidated checkpoint: the same files and tensor names as one process writes, the trained values.
    one_dir, two_dir = tmp_path / "one" / "checkpoint", tmp_path / "two" / "checkpoint"
    names = sorted(p.name for p in one_dir.glob("*.safetensors"))
    assert names == sorted(p.name for p in two_dir.glob("*.safetensors")) and names
    for name in names:
        saved_one, saved_two = load_file(one_dir / name), load_file(two_dir / name)
        assert saved_one.keys() == saved_two.keys()
        for key in saved_one:
            torch.testing.assert_close(saved_two[key], saved_one[key], rtol=1e-3, atol=5e-4, msg=key)
    if "--lora" not in flags:
        assert sorted(load_file(one_dir / "model.safetensors")) == sorted(load_file(model / "model.safetensors"))


def test_groups_are_sharded_whole_evenly_and_deterministically() -> None:
    samples = step_samples(0, groups=7, size=4)
    shards = shard_groups(samples, 3)
    assert sorted(id(s) for shard in shards for s in shard) == sorted(id(s) for s in samples)
    owners = {}
    for rank, shard in enumerate(shards):
        for sample in shard:
            assert owners.setdefault(sample.group_id, rank) == rank  # a group never spans ranks
    loads = [sum(len(s.prompt_ids) + len(s.completion_ids) for s in shard) for shard in shards]
    heaviest_group = max(sum(len(s.prompt_ids) + len(s.completion_ids) for s in samples if s.group_id == g)
                         for g in owners)
    assert max(loads) - min(loads) <= heaviest_group
    assert [[s.episode_id for s in shard] for shard in shard_groups(samples, 3)] == \
        [[s.episode_id for s in shard] for shard in shards]
    assert shard_groups(samples, 1) == [samples]
    # More ranks than groups: some ranks get nothing (they run empty micro-batches in the step).
    assert sum(1 for shard in shard_groups(step_samples(1, groups=2), 4) if not shard) == 2


def test_the_device_setting() -> None:
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto") == (torch.device("cuda", 0) if torch.cuda.is_available() else torch.device("cpu"))
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA"):
            resolve_device("cuda")
    with pytest.raises(ValueError, match="unknown device"):
        resolve_device("tpu")
    assert autocast_dtype("auto", torch.device("cpu")) is None
    assert autocast_dtype("auto", torch.device("cuda", 0)) is torch.bfloat16
    assert autocast_dtype("bf16", torch.device("cpu")) is torch.bfloat16
    assert autocast_dtype("fp32", torch.device("cuda", 0)) is None


def test_bf16_autocast_and_gradient_checkpointing_train_as_fp32_does(model) -> None:
    """The CUDA path's numerics, exercised on the CPU (where autocast to bf16 exists too): a step in bf16 autocast
    with gradient checkpointing stays close to the fp32 step, and the weights stay fp32."""
    from playpen_trainer.grpo import GrpoConfig, grpo_step
    from playpen_trainer.model import PolicyModel, make_optimizer

    samples = step_samples(0)
    results = []
    for autocast, checkpointing in ((None, False), (torch.bfloat16, True)):
        policy = PolicyModel.load(model, gradient_checkpointing=checkpointing)
        policy.autocast = autocast
        optimizer = make_optimizer(policy, lr=1e-3)
        stats = grpo_step(policy, optimizer, samples, GrpoConfig(micro_batch_tokens=96), ref_model=None,
                          current_version=0, max_grad_norm=1.0)
        assert all(p.dtype == torch.float32 for p in policy.module.parameters())
        lm = policy.causal_lm
        assert getattr(lm, "is_activation_checkpointing", lm.is_gradient_checkpointing) == checkpointing
        results.append(stats)
    fp32, bf16 = results
    assert bf16.updated and bf16.tokens == fp32.tokens
    assert bf16.loss == pytest.approx(fp32.loss, rel=0.05)
    assert bf16.grad_norm == pytest.approx(fp32.grad_norm, rel=0.1)


@pytest.mark.timeout(900)
@pytest.mark.parametrize("victim", [1, 0])
def test_kill_9_of_one_rank_then_the_job_resumes_training_every_episode_once(model, tmp_path, victim) -> None:
    """A rank dies abruptly mid-run; torchrun ends the job (as a pod restart would); the relaunched job resumes from
    the newest intact checkpoint, retrains what was lost, and every episode is trained exactly once."""
    data = tmp_path / "data"
    parallel = "fsdp" if victim else "ddp"
    first = start_trainer("two-ranks", tmp_path, model, data, "--parallel", parallel, processes=2)
    try:
        wait_for(lambda: len(rank_pids(first)) == 2, timeout=30)  # rank 1 logs "ready" just after rank 0
        pids = rank_pids(first)
        assert pids[0] != pids[1]
        submit(first.target, groups(4, prefix="a"))
        wait_for(lambda: status(first.target).step >= 1, timeout=120)
        os.kill(pids[victim], signal.SIGKILL)
        assert first.process.wait(120) != 0  # the job fails as a whole
    finally:
        first.stop()
    survivor = pids[1 - victim]
    with pytest.raises(ProcessLookupError):
        os.kill(survivor, 0)  # torchrun took the other rank down too: nothing is left holding the data

    second = start_trainer("two-ranks-again", tmp_path, model, data, "--parallel", parallel, processes=2)
    try:
        submit(second.target, groups(2, prefix="b"))
        wait_for(lambda: status(second.target).step == 6, timeout=240)
        wait_for(lambda: status(second.target).latest_version == 6, timeout=60)
        assert status(second.target).episodes_consumed == 12
    finally:
        assert second.stop() == 0  # a graceful stop of the whole job
    _check_exactly_once(data, expected_steps=6)


@pytest.mark.timeout(600)
def test_two_pods_on_one_machine_form_one_job_and_the_second_answers_health_only(model, tmp_path) -> None:
    """What the chart runs with trainer.distributed.nodes=2: two launchers (--nnodes 2, --node-rank 0/1) meeting at
    pod 0's rendezvous port. Pod 1's first process serves the health service (probes), SERVING once set up."""
    from playpen_common import launcher

    with socket.socket() as probe:  # a free port for the rendezvous (torchrun needs a number, not 0)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    def start_pod(node: int):
        return start_trainer(
            f"pod-{node}", tmp_path, model, tmp_path / f"data-{node}", wait_ready=False,
            launcher_flags=["--nnodes=2", f"--node-rank={node}", "--master-addr=127.0.0.1", f"--master-port={port}",
                            "--nproc-per-node=1", "--max-restarts=0"])

    # Both at once, as the chart's pods start (podManagementPolicy Parallel): torchrun starts a pod's processes
    # only once every pod has reached the rendezvous.
    with ThreadPoolExecutor(2) as pool:
        starting = [pool.submit(start_pod, node) for node in (1, 0)]
    pods = [future.result() for future in starting if future.exception() is None]
    try:
        assert len(pods) == 2, [str(future.exception()) for future in starting]
        pod_1, pod_0 = pods
        launcher.wait_healthy(pod_0.target, timeout=180)
        launcher.wait_healthy(pod_1.target, timeout=60)
        assert "playpen.trainer.v1.TrainerService" not in pod_1.log()  # health only
        submit(pod_0.target, groups(2, prefix="n"))
        wait_for(lambda: status(pod_0.target).latest_version == 2, timeout=180)
        assert sorted(rank_pids(pod_0)) == [0] and sorted(rank_pids(pod_1)) == [1]
    finally:
        codes = [pod.stop() for pod in reversed(pods)]  # pod 0 first: it tells pod 1 to stop
    assert codes == [0, 0]
    assert not (tmp_path / "data-1").exists()  # only pod 0 keeps data


@pytest.mark.timeout(600)
def test_gpu_smoke_grpo_steps_run_here_on_the_cpu(model, monkeypatch) -> None:
    """`make gpu-smoke`'s GRPO step code path, with the device a parameter: on this CPU machine each run trains
    (one process, 2 gloo ranks under DDP and FSDP2) and is reported, and only its device keeps it from `ok`."""
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import gpu_smoke
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    monkeypatch.setattr(gpu_smoke, "REPO", ROOT)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setattr(gpu_smoke.subprocess, "run", _with_python(gpu_smoke.subprocess.run))
    figures = gpu_smoke.grpo_steps(model, gpus=2)
    assert sorted(figures) == ["grpo_step", "grpo_step_2_ranks_ddp", "grpo_step_2_ranks_fsdp"]
    for name, run in figures.items():
        assert "error" not in run, run
        assert run["device"] == "cpu" and run["ok"] is False and run["step_s"] > 0 and run["tokens_per_step"] > 0
        assert run["world_size"] == (1 if name == "grpo_step" else 2)


def _with_python(run):
    """This test's interpreter instead of .venv-trainer's (the same environment under `make test`)."""
    def patched(command, **kwargs):
        return run([sys.executable, *command[1:]], **kwargs)
    return patched
