"""`make gpu-smoke`: the policy with CUDA vLLM on a machine that has a GPU — serve, generate, hot-reload;
then a big reload: a Llama-3.1-8B-shaped checkpoint (random weights built here, bf16, 4 shards, ~15 GiB)
staged and streamed into a CUDA engine, phase by phase (scripts/bench_reload.py; its figures under
"reload_8b": stage_s, read_s, load_s, first_reply_s, total_s, and the old path's verify_s, disk_load_s).

Then a GRPO step on CUDA: scripts/bench_train_ranks.py in the trainer environment (`make setup` on a CUDA
node installs PyPI's CUDA torch there), one process, bf16 autocast, on the embedded default's model; with two
or more GPUs also 2 ranks over NCCL, DDP and FSDP2 ("grpo_step": step_s, device, and "grpo_step_2_ranks_*").

Needs the policy environment built for CUDA (`make setup VLLM_PACKAGES="vllm==0.32.0" POLICY_EXTRA=cuda`),
about 16 GiB of GPU memory and twice that of host memory and disk for the 8B step (--reload-shape none skips
it). Prints one JSON line; exits non-zero if any step fails. Not part of CI (CI has no GPU).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_policy import POLICY, perturbed_checkpoint
from bench_reload import SHAPES
from bench_reload import run as bench_reload

REPO = Path(__file__).resolve().parents[1]


def grpo_steps(model: Path, gpus: int) -> dict:
    """GRPO steps on CUDA in the trainer's environment: one process, then 2 NCCL ranks (DDP, FSDP2) if there
    are 2 GPUs. Each figure is the script's JSON line, or the failure."""
    python = REPO / ".venv-trainer" / "bin" / "python"
    script = str(REPO / "scripts" / "bench_train_ranks.py")
    runs = {"grpo_step": [script, str(model)]}
    if gpus >= 2:
        for parallel in ("ddp", "fsdp"):
            runs[f"grpo_step_2_ranks_{parallel}"] = ["-m", "torch.distributed.run", "--standalone",
                                                     "--nproc-per-node=2", script, str(model), "--parallel", parallel]
    figures = {}
    for name, command in runs.items():
        done = subprocess.run([str(python), *command, "--steps", "3"], capture_output=True, text=True, timeout=900,
                              env={**os.environ, "PYTHONPATH": str(REPO)})
        if done.returncode == 0:
            figures[name] = {"ok": True, **json.loads(done.stdout.strip().splitlines()[-1])}
            figures[name]["ok"] = figures[name]["device"].startswith("cuda")
        else:
            figures[name] = {"ok": False, "error": done.stderr.strip()[-1500:]}
    return figures


def main(argv: list[str] | None = None) -> int:
    import grpc
    import torch

    from playpen.common.v1 import chat_pb2, checkpoint_pb2
    from playpen.policy.v1 import policy_pb2, policy_pb2_grpc
    from playpen_common import launcher
    from playpen_common.checkpoints import commit_manifest
    from playpen_common.defaults import default_model_dir

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reload-shape", choices=[*sorted(SHAPES), "none"], default="8b",
                        help="shape of the big reload step after the policy's smoke test")
    args = parser.parse_args(argv)
    if not torch.cuda.is_available():
        print(json.dumps({"ok": False, "error": "no CUDA device visible"}))
        return 1
    workdir = Path(tempfile.mkdtemp(prefix="gpu-smoke-"))
    started = time.perf_counter()
    policy = launcher.start("gpu-policy", [str(POLICY), "--device", "cuda"], workdir, timeout=900)
    result: dict = {"device": torch.cuda.get_device_name(0), "startup_s": round(time.perf_counter() - started, 1)}
    try:
        with grpc.insecure_channel(policy.target) as channel:
            stub = policy_pb2_grpc.PolicyServiceStub(channel)
            request = policy_pb2.GenerateRequest(
                messages=[chat_pb2.ChatMessage(role="user", content="Name three fruits.")],
                sampling=chat_pb2.SamplingParams(temperature=0.0, max_tokens=32))
            before = stub.Generate(request, timeout=120)
            directory = perturbed_checkpoint(default_model_dir(), workdir / "checkpoints", 1)
            ref = commit_manifest(directory, checkpoint_pb2.CheckpointRef(
                version=1, kind=checkpoint_pb2.CHECKPOINT_KIND_FULL))
            loaded = stub.LoadWeights(policy_pb2.LoadWeightsRequest(checkpoint=ref), timeout=300)
            after = stub.Generate(request, timeout=120)
        result.update(ok=after.policy_version == 1 and before.policy_version == 0 and bool(after.text),
                      generate_s=round(before.timings.total_s, 3), reload_s=round(loaded.load_s, 3),
                      tokens=len(before.completion_token_ids), text=before.text[:80])
    finally:
        result["exit_status"] = policy.stop()
    if args.reload_shape != "none":
        # After the policy has stopped: the big engine needs the GPU's memory to itself.
        try:
            result[f"reload_{args.reload_shape}"] = bench_reload(
                shape=args.reload_shape, device="cuda", dtype="bfloat16", shards=4)  # its temp dir, removed after
        except Exception as error:  # noqa: BLE001 — reported in the JSON line, like every other step
            result[f"reload_{args.reload_shape}"] = {"ok": False, "error": f"{type(error).__name__}: {error}"}
    big_ok = args.reload_shape == "none" or result[f"reload_{args.reload_shape}"].get("ok", False)
    steps = grpo_steps(default_model_dir(), torch.cuda.device_count())
    result.update(steps)
    print(json.dumps(result))
    steps_ok = all(figures["ok"] for figures in steps.values())
    return 0 if result.get("ok") and result["exit_status"] == 0 and big_ok and steps_ok else 1


if __name__ == "__main__":
    sys.exit(main())
