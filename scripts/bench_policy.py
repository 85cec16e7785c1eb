"""`make bench-policy`: the policy's throughput through the whole stack, its weight-swap latency under load,
and its LoRA swap time. The last line printed is one JSON object.

- stack_ratio: completion tokens/s of episodes played through game master → gRPC → policy (vLLM), divided
  by raw `vllm.LLM.generate` on the same prompts with the same completion lengths, measured in this run on
  this machine (the stack's servers are stopped before the raw engine starts, so both get the same cores).
- reload_s: from a full-weights checkpoint being committed (its manifest renamed into place) to the first
  reply tagged with its version, while clients keep the policy busy; the replica follows the checkpoint
  directory. failed_requests counts every failed call during those reloads.
  reload_phases: the policy's own log of each swap (medians): check_s (sizes, shard index, tensor shapes),
  verify_s (shards hashed, several at once, while the old weights serve), pause_s (emptying the engine),
  load_s (verified shards streamed into the model), gate_closed_s (pause + load), total_s;
  and around it noticed_s (commit → swap began), replied_s (swap done → first reply of the new version) and
  reply_latency_s (median Generate under the same load: replied_s cannot be shorter than one reply).
  The checkpoints are written in --shards safetensors shards with their index, as save_pretrained does.
- lora_swap_s: LoadWeights of a LoRA adapter, call to return (verification + adapter load), under load.
- engine (multi-turn dialogues): the same dialogues (concurrent, several turns each over a long shared instruction,
  every turn's prompt the whole dialogue so far, temperature 0) sent to policies started with different engine
  settings, one after the other and interleaved --repeats times in this run (medians):
  prefix_caching_speedup = tokens/s with vLLM's prefix caching on ÷ off (a dialogue's growing prefix is
  prefilled once rather than again on every turn), all_cores_speedup = tokens/s with the engine on every core
  (--cpu-cores) ÷ vLLM's auto binding (on x86 it leaves one core to its scheduler), both with caching on.
  Also prompt_tokens_per_s (every turn's whole prompt, what the engine would prefill without a cache). On a
  machine shared with other work these ratios are noisy: compare them, not the absolute rates, and rerun.

Run it with the policy environment's Python (it needs vLLM for the raw baseline).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
GAMEMASTER = REPO / ".venv" / "bin" / "playpen-gamemaster"
POLICY = REPO / ".venv-policy" / "bin" / "playpen-policy"


def stack_phase(model: str, workdir: Path, instances: int, max_tokens: int) -> dict:
    import grpc

    from playpen.common.v1 import chat_pb2
    from playpen.gamemaster.v1 import gamemaster_pb2 as gm
    from playpen.gamemaster.v1 import gamemaster_pb2_grpc
    from playpen_common import launcher

    policy = launcher.start("bench-policy", [str(POLICY), "--model", model], workdir, timeout=600)
    gamemaster = launcher.start("bench-gamemaster", [str(GAMEMASTER), "--policy-timeout-s", "600"], workdir)
    try:
        with grpc.insecure_channel(gamemaster.target) as channel:
            stub = gamemaster_pb2_grpc.GameMasterServiceStub(channel)
            request = gm.PlayEpisodesRequest(
                split="validation", instances_per_game=instances, seed=11, default_player=gm.PlayerConfig(
                    policy=gm.PolicyEndpoint(target=policy.target, name="bench"),
                    sampling=chat_pb2.SamplingParams(temperature=0.0, max_tokens=max_tokens)))
            started = time.perf_counter()
            episodes = [r.episode for r in stub.PlayEpisodes(request, timeout=3600)]
            seconds = time.perf_counter() - started
    finally:
        gamemaster.stop()
        policy.stop()
    turns = [t for e in episodes for t in e.turns if t.HasField("generation")]
    calls = [(list(t.generation.prompt_token_ids), len(t.generation.completion_token_ids)) for t in turns]
    tokens = sum(length for _, length in calls)
    return {"episodes": len(episodes), "calls": calls, "tokens": tokens, "seconds": seconds}


SYSTEM_PROMPT = " ".join(
    f"Rule {i}: describe the hidden word without using it, any of its parts, or the listed related words; answer "
    f"in one line that starts with CLUE: and keep every clue shorter than twenty words." for i in range(1, 25))


async def dialogues(target: str, count: int, turns: int, max_tokens: int) -> dict:
    """`count` concurrent dialogues of `turns` turns each over a long shared instruction, every turn's prompt the
    whole dialogue so far (as a game master sends it): what prefix caching saves is the re-prefill of it."""
    import grpc

    from playpen.common.v1 import chat_pb2
    from playpen.policy.v1 import policy_pb2, policy_pb2_grpc

    totals = {"tokens": 0, "prompt_tokens": 0, "calls": 0}

    async def dialogue(stub, index: int) -> None:
        messages = [chat_pb2.ChatMessage(role="system", content=SYSTEM_PROMPT),
                    chat_pb2.ChatMessage(role="user", content=f"Dialogue {index}. The hidden word is number {index}.")]
        for turn in range(turns):
            reply = await stub.Generate(policy_pb2.GenerateRequest(
                messages=messages, sampling=chat_pb2.SamplingParams(temperature=0.0, max_tokens=max_tokens)),
                timeout=900)
            totals["tokens"] += len(reply.completion_token_ids)
            totals["prompt_tokens"] += len(reply.prompt_token_ids)
            totals["calls"] += 1
            messages += [chat_pb2.ChatMessage(role="assistant", content=reply.text),
                         chat_pb2.ChatMessage(role="user", content=f"Guess {turn + 1} was wrong. Another clue.")]

    async with grpc.aio.insecure_channel(target) as channel:
        stub = policy_pb2_grpc.PolicyServiceStub(channel)
        await dialogue(stub, -1)  # warm-up outside the timing (kernels, the shared instruction's first prefill)
        started = time.perf_counter()
        await asyncio.gather(*(dialogue(stub, i) for i in range(count)))
        return {**totals, "seconds": time.perf_counter() - started}


def engine_phase(model: str, workdir: Path, count: int, turns: int, max_tokens: int, repeats: int) -> dict:
    """The same dialogues under three engine settings, interleaved `repeats` times (see the docstring); the
    ratios are of the medians."""
    import os

    from playpen_common import launcher

    every_core = ",".join(str(core) for core in sorted(os.sched_getaffinity(0)))
    settings = {"no_cache": ("--enable-prefix-caching", "false"), "cache": ("--enable-prefix-caching", "true"),
                "cache_all_cores": ("--enable-prefix-caching", "true", "--cpu-cores", every_core)}
    rates: dict[str, list[float]] = {name: [] for name in settings}
    prompt_rates: dict[str, list[float]] = {name: [] for name in settings}
    for repeat in range(repeats):
        for name, flags in settings.items():
            policy = launcher.start(f"bench-engine-{name}-{repeat}", [str(POLICY), "--model", model, *flags], workdir,
                                    timeout=600)
            try:
                played = asyncio.run(dialogues(policy.target, count, turns, max_tokens))
            finally:
                policy.stop()
            rates[name].append(played["tokens"] / played["seconds"])
            prompt_rates[name].append(played["prompt_tokens"] / played["seconds"])
            print(f"engine {name} #{repeat + 1}: {played['calls']} turns, {played['tokens']} tokens, "
                  f"{played['prompt_tokens']} prompt tokens in {played['seconds']:.1f} s", flush=True)
    median = {name: statistics.median(values) for name, values in rates.items()}
    return {"prefix_caching_speedup": round(median["cache"] / median["no_cache"], 3),
            "all_cores_speedup": round(median["cache_all_cores"] / median["cache"], 3),
            "engine_tokens_per_s": {name: [round(v, 1) for v in values] for name, values in rates.items()},
            "engine_prompt_tokens_per_s": {name: [round(v, 1) for v in values]
                                           for name, values in prompt_rates.items()},
            "engine_dialogues": {"count": count, "turns": turns, "max_tokens": max_tokens, "repeats": repeats},
            "cores": every_core}


def raw_phase(model: str, calls: list[tuple[list[int], int]]) -> dict:
    from vllm import LLM, SamplingParams
    from vllm.inputs import TokensPrompt

    from playpen_policy.settings import PolicySettings
    from playpen_policy.vllm_engine import engine_args, resolve_model_dir

    directory = resolve_model_dir(model)
    args = engine_args(PolicySettings(model=model), directory, directory.name)  # the server's engine settings
    engine = LLM(model=args.model, dtype=args.dtype, max_model_len=args.max_model_len, enforce_eager=args.enforce_eager,
                 gpu_memory_utilization=args.gpu_memory_utilization, seed=0, disable_log_stats=True)
    prompts = [TokensPrompt(prompt_token_ids=ids) for ids, _ in calls]
    params = [SamplingParams(temperature=0.0, max_tokens=max(n, 1), min_tokens=max(n, 1), ignore_eos=True)
              for _, n in calls]
    engine.generate(prompts[:2], params[:2], use_tqdm=False)  # warm-up, as the server had
    started = time.perf_counter()
    outputs = engine.generate(prompts, params, use_tqdm=False)
    seconds = time.perf_counter() - started
    tokens = sum(len(o.outputs[0].token_ids) for o in outputs)
    del engine
    return {"tokens": tokens, "seconds": seconds}


def save_sharded(weights: dict, directory: Path, shards: int) -> None:
    """Write `weights` as save_pretrained would: one model.safetensors, or `shards` files of about equal size
    (tensors in their order, so that a layer's tensors stay together) with model.safetensors.index.json."""
    from safetensors.torch import save_file

    if shards <= 1:
        save_file(weights, str(directory / "model.safetensors"), metadata={"format": "pt"})
        return
    total = sum(t.numel() * t.element_size() for t in weights.values())
    groups: list[dict] = [{}]
    size = 0
    for name, tensor in weights.items():
        if size >= total * len(groups) / shards and len(groups) < shards:
            groups.append({})
        groups[-1][name] = tensor
        size += tensor.numel() * tensor.element_size()
    weight_map = {}
    for index, group in enumerate(groups):
        filename = f"model-{index + 1:05d}-of-{len(groups):05d}.safetensors"
        save_file(group, str(directory / filename), metadata={"format": "pt"})
        weight_map.update({name: filename for name in group})
    (directory / "model.safetensors.index.json").write_text(
        json.dumps({"metadata": {"total_size": total}, "weight_map": weight_map}, indent=2))


def model_weights(model: Path) -> dict:
    """Every tensor of a (possibly sharded) HF safetensors model directory, in file order."""
    from safetensors.torch import load_file

    weights: dict = {}
    index = model / "model.safetensors.index.json"
    files = (list(dict.fromkeys(json.loads(index.read_text())["weight_map"].values())) if index.is_file()
             else ["model.safetensors"])
    for filename in files:
        weights.update(load_file(str(model / filename)))
    return weights


def perturbed_checkpoint(model: Path, root: Path, version: int, shards: int = 1) -> Path:
    """A full-weights checkpoint of the model, every norm weight scaled a little (a different version)."""
    from playpen_common.checkpoints import version_dir

    directory = version_dir(root, version)
    directory.mkdir(parents=True)
    weights = model_weights(model)
    for name in weights:
        if name.endswith("norm.weight"):
            weights[name] = weights[name] * (1 + 0.01 * version)
    save_sharded(weights, directory, shards)
    shutil.copy(model / "config.json", directory / "config.json")
    return directory


def swap_events(log: str) -> dict[int, dict]:
    """policy_version -> the policy's log event of its full swap ("checkpoint swapped in", JSON lines), with
    `ended` (the event's time, epoch seconds) and `began` (ended minus the swap's own total)."""
    from datetime import datetime

    events = {}
    for line in log.splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if isinstance(event, dict) and event.get("event") == "checkpoint swapped in":
            ended = datetime.fromisoformat(event["timestamp"].replace("Z", "+00:00")).timestamp()
            total = event.get("total_s", event.get("verify_s", 0.0) + event.get("swap_s", 0.0))
            events[int(event["policy_version"])] = {**event, "ended": ended, "began": ended - total}
    return events


def swap_timings(events: dict[int, dict], committed: dict[int, float], first_reply: dict[int, float]) -> dict:
    """Medians, seconds: each timing the policy logged per swap, plus where the rest of commit → first reply
    went: noticed_s (commit → the swap began: the follower's poll), replied_s (swap done → first reply)."""
    fields: dict[str, list[float]] = {}
    for version, event in events.items():
        for key, value in event.items():
            if key.endswith("_s") and isinstance(value, (int, float)):
                fields.setdefault(key, []).append(float(value))
        if version in committed and version in first_reply:
            fields.setdefault("noticed_s", []).append(event["began"] - committed[version])
            fields.setdefault("replied_s", []).append(first_reply[version] - event["ended"])
    return {key: round(statistics.median(values), 3) for key, values in fields.items()}


def random_lora(model: Path, directory: Path, rank: int = 8) -> Path:
    import torch
    from safetensors.torch import load_file, save_file

    directory.mkdir(parents=True)
    weights = load_file(str(model / "model.safetensors"))
    adapter = {}
    for name in [n for n in weights if n.endswith(("q_proj.weight", "v_proj.weight"))]:
        out_features, in_features = weights[name].shape
        prefix = "base_model.model." + name.removesuffix(".weight")
        adapter[f"{prefix}.lora_A.weight"] = torch.randn(rank, in_features) * 0.01
        adapter[f"{prefix}.lora_B.weight"] = torch.randn(out_features, rank) * 0.01
    save_file(adapter, str(directory / "adapter_model.safetensors"))
    (directory / "adapter_config.json").write_text(json.dumps({
        "peft_type": "LORA", "task_type": "CAUSAL_LM", "r": rank, "lora_alpha": 2 * rank, "lora_dropout": 0.0,
        "target_modules": ["q_proj", "v_proj"], "bias": "none", "base_model_name_or_path": str(model)}))
    return directory


async def _load(target: str, clients: int, stop: asyncio.Event, replies: list, failures: list) -> None:
    import grpc

    from playpen.common.v1 import chat_pb2
    from playpen.policy.v1 import policy_pb2, policy_pb2_grpc

    request = policy_pb2.GenerateRequest(
        messages=[chat_pb2.ChatMessage(role="user", content="Describe a winter morning in one sentence.")],
        sampling=chat_pb2.SamplingParams(temperature=1.0, max_tokens=16))

    async def client() -> None:
        async with grpc.aio.insecure_channel(target) as channel:
            stub = policy_pb2_grpc.PolicyServiceStub(channel)
            while not stop.is_set():
                try:
                    started = time.time()
                    response = await stub.Generate(request, timeout=300)
                    replies.append((time.time(), response.policy_version, time.time() - started))
                except grpc.aio.AioRpcError as error:
                    failures.append(f"{error.code().name}: {error.details()}")

    await asyncio.gather(*(client() for _ in range(clients)))


async def reload_phase(model: str, workdir: Path, reloads: int, clients: int, shards: int = 1) -> dict:
    from playpen.common.v1 import checkpoint_pb2
    from playpen_common import launcher
    from playpen_common.checkpoints import commit_manifest

    root = workdir / "checkpoints"
    root.mkdir()
    policy = launcher.start("bench-reload", [str(POLICY), "--model", model, "--follow-dir", str(root),
                                             "--follow-poll-s", "0.05"], workdir, timeout=600)
    replies: list = []
    failures: list = []
    stop = asyncio.Event()
    load = asyncio.create_task(_load(policy.target, clients, stop, replies, failures))
    latencies = []
    commits: dict[int, float] = {}
    first_reply: dict[int, float] = {}
    try:
        await asyncio.sleep(3)
        for version in range(1, reloads + 1):
            directory = await asyncio.to_thread(perturbed_checkpoint, Path(model), root, version, shards)
            await asyncio.sleep(1)
            ref = checkpoint_pb2.CheckpointRef(version=version, kind=checkpoint_pb2.CHECKPOINT_KIND_FULL, step=version)
            await asyncio.to_thread(commit_manifest, directory, ref)
            committed = commits[version] = time.time()
            while not any(v == version and t >= committed for t, v, _ in replies):
                await asyncio.sleep(0.005)
            first_reply[version] = min(t for t, v, _ in replies if v == version)
            latencies.append(first_reply[version] - committed)
            await asyncio.sleep(2)
    finally:
        stop.set()
        await load
        policy.stop()
    phases = swap_timings(swap_events(policy.log()), commits, first_reply)
    # What one Generate takes under this load: the floor of replied_s, since a request the swap restarted
    # runs again from its first token on the new weights.
    phases["reply_latency_s"] = round(statistics.median(latency for _, _, latency in replies), 3)
    return {"reload_s": latencies, "failed": failures, "replies": len(replies), "phases": phases}


async def lora_phase(model: str, workdir: Path, swaps: int, clients: int) -> dict:
    import grpc

    from playpen.common.v1 import checkpoint_pb2
    from playpen.policy.v1 import policy_pb2, policy_pb2_grpc
    from playpen_common import launcher
    from playpen_common.checkpoints import commit_manifest, version_dir

    policy = launcher.start("bench-lora", [str(POLICY), "--model", model, "--enable-lora", "true",
                                           "--max-lora-rank", "8"], workdir, timeout=600)
    replies: list = []
    failures: list = []
    stop = asyncio.Event()
    load = asyncio.create_task(_load(policy.target, clients, stop, replies, failures))
    swap_s = []
    try:
        async with grpc.aio.insecure_channel(policy.target) as channel:
            stub = policy_pb2_grpc.PolicyServiceStub(channel)
            await asyncio.sleep(3)
            for version in range(100, 100 + swaps):
                directory = random_lora(Path(model), version_dir(workdir / "adapters", version))
                ref = commit_manifest(directory, checkpoint_pb2.CheckpointRef(
                    version=version, kind=checkpoint_pb2.CHECKPOINT_KIND_LORA))
                started = time.perf_counter()
                await stub.LoadWeights(policy_pb2.LoadWeightsRequest(checkpoint=ref), timeout=120)
                swap_s.append(time.perf_counter() - started)
                await asyncio.sleep(1)
    finally:
        stop.set()
        await load
        policy.stop()
    return {"lora_swap_s": swap_s, "failed": failures}


def main(argv: list[str] | None = None) -> int:
    from playpen_common.defaults import default_model_dir

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(default_model_dir()))
    parser.add_argument("--instances", type=int, default=8, help="validation instances per game (stack phase)")
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--reloads", type=int, default=3)
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients during swaps")
    parser.add_argument("--shards", type=int, default=4, help="safetensors shards of each reloaded checkpoint")
    parser.add_argument("--phases", default="stack,reload,lora",
                        help="comma-separated subset of stack (with its raw vLLM baseline), reload, lora, engine "
                             "(prefix caching on/off, auto vs every core, on multi-turn dialogues)")
    parser.add_argument("--dialogues", type=int, default=8, help="engine phase: concurrent dialogues")
    parser.add_argument("--turns", type=int, default=6, help="engine phase: turns per dialogue")
    parser.add_argument("--repeats", type=int, default=2, help="engine phase: rounds over the three settings")
    args = parser.parse_args(argv)
    phases = set(args.phases.split(","))
    workdir = Path(tempfile.mkdtemp(prefix="bench-policy-"))
    print(f"logs in {workdir} (removed when the benchmark succeeds)", flush=True)
    result: dict = {}
    if "stack" in phases:
        stack = stack_phase(args.model, workdir, args.instances, args.max_tokens)
        print(f"stack: {stack['episodes']} episodes, {len(stack['calls'])} generations, {stack['tokens']} tokens "
              f"in {stack['seconds']:.1f} s", flush=True)
        raw = raw_phase(args.model, stack["calls"])
        print(f"raw vLLM: {raw['tokens']} tokens in {raw['seconds']:.1f} s", flush=True)
        stack_rate, raw_rate = stack["tokens"] / stack["seconds"], raw["tokens"] / raw["seconds"]
        result.update(stack_ratio=round(stack_rate / raw_rate, 3), stack_tokens_per_s=round(stack_rate, 1),
                      raw_tokens_per_s=round(raw_rate, 1))
    failed = 0
    if "reload" in phases:
        reload = asyncio.run(reload_phase(args.model, workdir, args.reloads, args.clients, args.shards))
        print(f"reloads under load: {[round(s, 3) for s in reload['reload_s']]} s, {reload['replies']} replies, "
              f"{len(reload['failed'])} failed; policy's own timings (median): {reload['phases']}", flush=True)
        failed += len(reload["failed"])
        result.update(reload_s=round(statistics.median(reload["reload_s"]), 3),
                      reload_s_max=round(max(reload["reload_s"]), 3), reload_shards=args.shards,
                      reload_phases=reload["phases"])
    if "engine" in phases:
        result.update(engine_phase(args.model, workdir, args.dialogues, args.turns, args.max_tokens, args.repeats))
    if "lora" in phases:
        lora = asyncio.run(lora_phase(args.model, workdir, args.reloads, args.clients))
        print(f"LoRA swaps under load: {[round(s, 3) for s in lora['lora_swap_s']]} s", flush=True)
        failed += len(lora["failed"])
        result["lora_swap_s"] = round(statistics.median(lora["lora_swap_s"]), 3)
    shutil.rmtree(workdir, ignore_errors=True)
    result.update(failed_requests=failed, model=Path(args.model).name)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
