"""`make bench-loop`: wall clock of N GRPO steps with the game master and the trainer taking turns (sync) versus
playing while training (async), in one run, on the same stack. Last line: one JSON object with
`async_speedup` = sync seconds / async seconds.

Each schedule gets a fresh trainer (same model, same settings, same seed) and a rollout policy that follows it;
the clock runs from the first self-play round to the trainer's N-th optimiser step. In sync mode every round is
one step's groups, and the next round waits for the update, the commit and the policy's reload; in async mode
the next round starts at once, bounded by the trainer's staleness limit.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import grpc

from playpen.trainer.v1 import trainer_pb2, trainer_pb2_grpc
from playpen_common import launcher
from playpen_common.defaults import default_model_dir

REPO = Path(__file__).resolve().parents[1]
TOOLS = REPO / ".venv" / "bin"
POLICY_BIN = REPO / ".venv-policy" / "bin"
TRAINER_BIN = REPO / ".venv-trainer" / "bin"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="make bench-loop", description=__doc__.splitlines()[0])
    add = parser.add_argument
    add("--model", type=Path, default=default_model_dir())
    add("--policy", choices=("vllm", "scripted"), default="vllm")
    add("--steps", type=int, default=4, help="optimiser steps timed per schedule")
    add("--games", nargs="*", default=["taboo", "referencegame"])
    add("--group-size", type=int, default=4)
    add("--groups-per-step", type=int, default=2)
    add("--max-tokens", type=int, default=48)
    add("--max-staleness", type=int, default=2)
    add("--trainer-threads", type=int, default=1)
    add("--workdir", type=Path, help="keep logs and data here (default: a temporary folder, removed)")
    return parser.parse_args(argv)


def policy_command(options: argparse.Namespace, trainer: str) -> tuple[list[str], dict[str, str]]:
    if options.policy == "scripted":
        return [str(TOOLS / "playpen-policy"), "--backend", "scripted", "--follow-trainer", trainer], {}
    return ([str(POLICY_BIN / "playpen-policy"), "--model", str(options.model), "--max-model-len", "4096",
             "--follow-trainer", trainer],
            {"VLLM_CPU_KVCACHE_SPACE": "1", "VLLM_CPU_OMP_THREADS_BIND": "0", "OMP_NUM_THREADS": "1"})


def time_schedule(mode: str, options: argparse.Namespace, gamemaster: launcher.Service, workdir: Path) -> dict:
    data = workdir / f"trainer-{mode}"
    shutil.rmtree(data, ignore_errors=True)
    started: list[launcher.Service] = []
    try:
        trainer = launcher.start(f"trainer-{mode}", [
            str(TRAINER_BIN / "playpen-trainer"), "--base-model", str(options.model), "--data-dir", str(data),
            "--learner", "learner", "--group-size", str(options.group_size),
            "--groups-per-step", str(options.groups_per_step), "--checkpoint-every", "1", "--lr", "1e-6",
            "--format-credit", "0.5", "--max-staleness", str(options.max_staleness), "--seed", "0",
            "--torch-threads", str(options.trainer_threads)], workdir,
            env={"OMP_NUM_THREADS": str(options.trainer_threads)}, timeout=600)
        started.append(trainer)
        command, env = policy_command(options, trainer.target)
        policy = launcher.start(f"policy-{mode}", command, workdir, env=env, timeout=600)
        started.append(policy)
        selfplay = [str(TOOLS / "playpen-selfplay"), "--gamemaster", gamemaster.target, "--trainer", trainer.target,
                    "--policy", policy.target, "--games", ",".join(options.games),
                    "--group-size", str(options.group_size),
                    "--instances-per-game", str(max(1, options.groups_per_step // len(options.games))),
                    "--max-tokens", str(options.max_tokens), "--mode", mode,
                    "--max-pending", str(options.group_size * options.groups_per_step * 2),
                    "--steps", str(options.steps), "--run-id", f"bench-{mode}", "--metrics-port", "-1"]
        clock = time.monotonic()
        with open(workdir / f"selfplay-{mode}.log", "w") as sink:
            process = subprocess.Popen(selfplay, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True)
            with grpc.insecure_channel(trainer.target) as channel:
                stub = trainer_pb2_grpc.TrainerServiceStub(channel)
                while True:
                    status = stub.GetStatus(trainer_pb2.GetStatusRequest(), timeout=30)
                    if status.step >= options.steps:
                        seconds = time.monotonic() - clock
                        break
                    if process.poll() is not None:
                        raise RuntimeError(f"self-play ({mode}) exited early: "
                                           f"{(workdir / f'selfplay-{mode}.log').read_text()[-2000:]}")
                    time.sleep(0.2)
            process.terminate()
            process.wait(60)
        print(f"{mode}: {options.steps} steps in {seconds:.1f} s ({status.episodes_stored} episodes stored, "
              f"{status.episodes_dropped} dropped as stale or unusable)", flush=True)
        return {"seconds": seconds, "episodes": status.episodes_stored, "dropped": status.episodes_dropped}
    finally:
        for service in reversed(started):
            service.stop()


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    if options.groups_per_step % len(options.games):
        print("--groups-per-step must be a multiple of the number of games (a sync round is one step)",
              file=sys.stderr)
        return 2
    workdir = options.workdir or Path(tempfile.mkdtemp(prefix="bench-loop-"))
    workdir.mkdir(parents=True, exist_ok=True)
    gamemaster = launcher.start("gamemaster", [str(TOOLS / "playpen-gamemaster"), "--policy-timeout-s", "600"],
                                workdir)
    try:
        sync = time_schedule("sync", options, gamemaster, workdir)
        asynchronous = time_schedule("async", options, gamemaster, workdir)
    finally:
        gamemaster.stop()
        if options.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    print(json.dumps({"async_speedup": round(sync["seconds"] / asynchronous["seconds"], 3),
                      "sync_s": round(sync["seconds"], 1), "async_s": round(asynchronous["seconds"], 1),
                      "steps": options.steps, "episodes_per_step": options.group_size * options.groups_per_step,
                      "async_dropped": asynchronous["dropped"], "policy": options.policy,
                      "model": options.model.name}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
