"""`make bench-reload`: a full-weights reload of a big, sharded, Llama-shaped checkpoint into a vLLM engine,
phase by phase, next to the path it replaced. The last line printed is one JSON object.

The model is built here, never downloaded: a Llama config of the chosen shape (default: Llama-3.2-1B's —
hidden 2048, 16 layers, 32/8 heads, MLP 8192, vocabulary 128256, tied head; float32 on CPU as the policy
serves there, ~4.6 GiB) and random weights written as safetensors shards with their index, then committed
(manifest with per-file SHA-256). The engine starts from that checkpoint and reloads it (the same bytes cost
what other bytes would), so only one copy is written.

Figures, seconds:
- new path (what the policy does): verify_parallel_s = the shards hashed several at once (bounded pool) while
  the old weights could keep serving; load_s = the worker maps the verified shards and streams them, shard
  by shard, into vLLM's in-place reload; first_reply_s = one greedy token afterwards; total_s their sum.
- old path, measured in the same run: verify_s = every file hashed one after another (the former
  verify_checkpoint), disk_load_s = vLLM's own reload from the directory; old_total_s = verify_s +
  disk_load_s + its first reply. speedup = old_total_s / total_s.
- stage_copy path (the policy's stage_copy): stage_copy_s = the worker copies each shard into private
  memory while hashing it (copy_read_s inside the worker), copy_load_s = those bytes into the model,
  copy_total_s with its first reply.
The checkpoint was just written, so both paths read it from the page cache: the figures compare CPU work
(hashing, parsing, copying), not the disk.

`run()` takes the device as a parameter: `make gpu-smoke` calls it with an 8B shape on CUDA.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

SHAPES = {
    # Llama-3.2-1B's shapes (1.24 B parameters) and Llama-3.1-8B's (8.0 B).
    "1b": dict(hidden_size=2048, intermediate_size=8192, num_hidden_layers=16, num_attention_heads=32,
               num_key_value_heads=8, vocab_size=128256, tie_word_embeddings=True),
    "8b": dict(hidden_size=4096, intermediate_size=14336, num_hidden_layers=32, num_attention_heads=32,
               num_key_value_heads=8, vocab_size=128256, tie_word_embeddings=False),
    # SmolLM2-135M's shapes (the model `make bench-policy` serves), for a side-by-side without client load.
    "135m": dict(hidden_size=576, intermediate_size=1536, num_hidden_layers=30, num_attention_heads=9,
                 num_key_value_heads=3, vocab_size=49152, tie_word_embeddings=True),
    # A few MB: to check the script itself on any machine.
    "tiny": dict(hidden_size=128, intermediate_size=256, num_hidden_layers=2, num_attention_heads=2,
                 num_key_value_heads=1, vocab_size=512, tie_word_embeddings=True),
}


def llama_config(shape: dict, dtype: str) -> dict:
    return {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_act": "silu",
            "max_position_embeddings": 4096, "rms_norm_eps": 1e-5, "rope_theta": 500000.0,
            "bos_token_id": 1, "eos_token_id": 2, "torch_dtype": dtype, "initializer_range": 0.02,
            "head_dim": shape["hidden_size"] // shape["num_attention_heads"], **shape}


def llama_tensors(config: dict) -> list[tuple[str, tuple[int, ...]]]:
    """(name, shape) of every tensor of a Llama checkpoint, in save_pretrained's order (layer by layer)."""
    hidden, inter, vocab = config["hidden_size"], config["intermediate_size"], config["vocab_size"]
    head_dim = config["head_dim"]
    q, kv = config["num_attention_heads"] * head_dim, config["num_key_value_heads"] * head_dim
    names = [("model.embed_tokens.weight", (vocab, hidden))]
    for layer in range(config["num_hidden_layers"]):
        prefix = f"model.layers.{layer}"
        names += [(f"{prefix}.input_layernorm.weight", (hidden,)),
                  (f"{prefix}.self_attn.q_proj.weight", (q, hidden)),
                  (f"{prefix}.self_attn.k_proj.weight", (kv, hidden)),
                  (f"{prefix}.self_attn.v_proj.weight", (kv, hidden)),
                  (f"{prefix}.self_attn.o_proj.weight", (hidden, q)),
                  (f"{prefix}.post_attention_layernorm.weight", (hidden,)),
                  (f"{prefix}.mlp.gate_proj.weight", (inter, hidden)),
                  (f"{prefix}.mlp.up_proj.weight", (inter, hidden)),
                  (f"{prefix}.mlp.down_proj.weight", (hidden, inter))]
    names.append(("model.norm.weight", (hidden,)))
    if not config["tie_word_embeddings"]:
        names.append(("lm_head.weight", (vocab, hidden)))
    return names


def write_checkpoint(directory: Path, config: dict, dtype: str, shards: int, seed: int = 0) -> int:
    """Random weights of `config` as `shards` safetensors files and their index; one shard in memory at a time.
    Returns the bytes of weights written."""
    import torch
    from safetensors.torch import save_file

    torch_dtype = getattr(torch, dtype)
    itemsize = torch.empty((), dtype=torch_dtype).element_size()
    tensors = llama_tensors(config)
    total = sum(itemsize * _numel(shape) for _, shape in tensors)
    groups: list[list] = [[]]
    size = 0
    for name, shape in tensors:
        if size >= total * len(groups) / shards and len(groups) < shards:
            groups.append([])
        groups[-1].append((name, shape))
        size += itemsize * _numel(shape)
    generator = torch.Generator().manual_seed(seed)
    weight_map = {}
    for index, group in enumerate(groups):
        filename = f"model-{index + 1:05d}-of-{len(groups):05d}.safetensors"
        weights = {}
        for name, shape in group:
            if name.endswith("norm.weight"):
                weights[name] = torch.ones(shape, dtype=torch_dtype)
            else:
                weights[name] = (torch.randn(shape, generator=generator) * 0.02).to(torch_dtype)
        save_file(weights, str(directory / filename), metadata={"format": "pt"})
        weight_map.update({name: filename for name, _ in group})
        del weights
    (directory / "model.safetensors.index.json").write_text(
        json.dumps({"metadata": {"total_size": total}, "weight_map": weight_map}, indent=2))
    (directory / "config.json").write_text(json.dumps(config, indent=2))
    return total


def _numel(shape: tuple[int, ...]) -> int:
    count = 1
    for dim in shape:
        count *= dim
    return count


def _stage(llm, key: str, directory: Path, ref, workers: int, copy: bool = False) -> dict:
    files = [[f.path, f.sha256, f.size_bytes] for f in ref.files]
    llm.collective_rpc("playpen_stage_weights", kwargs={"key": key, "weights_path": str(directory),
                                                        "files": files, "workers": workers, "copy": copy})
    while True:
        states = llm.collective_rpc("playpen_staging_state", kwargs={"key": key})
        if all(state is not None for state in states):
            break
        time.sleep(0.005)
    errors = [state["error"] for state in states if "error" in state]
    if errors:
        raise RuntimeError(f"staging failed: {errors[0]}")
    return states[0]


def _first_reply(llm) -> float:
    from vllm import SamplingParams
    from vllm.inputs import TokensPrompt

    started = time.perf_counter()
    llm.generate([TokensPrompt(prompt_token_ids=[1, 5, 9, 13])], SamplingParams(temperature=0.0, max_tokens=1),
                 use_tqdm=False)
    return time.perf_counter() - started


def run(*, shape: str = "1b", device: str = "cpu", dtype: str = "auto", shards: int = 4, workers: int = 0,
        workdir: Path | None = None, max_model_len: int = 512, copy_path: bool = True) -> dict:
    """Build the checkpoint, start the engine on `device`, time the old and the new reload path."""
    from vllm import LLM

    from playpen.common.v1 import checkpoint_pb2
    from playpen_common.checkpoints import commit_manifest, verify_checkpoint
    from playpen_common.shards import default_workers

    workers = workers or default_workers()
    # As the policy serves: float32 on CPU (this vLLM CPU build's bf16 path kills the worker on this
    # machine's first forward pass), bfloat16 on CUDA.
    dtype = dtype if dtype != "auto" else ("float32" if device == "cpu" else "bfloat16")
    own_workdir = workdir is None
    workdir = Path(workdir or tempfile.mkdtemp(prefix="bench-reload-"))
    config = llama_config(SHAPES[shape], dtype)
    result: dict = {"shape": shape, "device": device, "dtype": dtype, "shards": shards, "workers": workers}
    try:
        checkpoint = workdir / "v00000001"
        checkpoint.mkdir(exist_ok=True)
        started = time.perf_counter()
        weight_bytes = write_checkpoint(checkpoint, config, dtype, shards)
        result["write_s"] = round(time.perf_counter() - started, 3)
        started = time.perf_counter()
        ref = commit_manifest(checkpoint, checkpoint_pb2.CheckpointRef(
            version=1, kind=checkpoint_pb2.CHECKPOINT_KIND_FULL))
        result["commit_s"] = round(time.perf_counter() - started, 3)
        result["gib"] = round(weight_bytes / 2**30, 3)
        result["params_b"] = round(sum(_numel(s) for _, s in llama_tensors(config)) / 1e9, 3)

        if device == "cpu":
            os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
        started = time.perf_counter()
        # vLLM's own reload from a directory (the old path) needs the default loader, so the engine starts from
        # the checkpoint itself; reloading the same bytes costs what reloading other bytes would.
        llm = LLM(model=str(checkpoint), dtype=dtype, skip_tokenizer_init=True,
                  max_model_len=max_model_len, enforce_eager=device == "cpu", seed=0, disable_log_stats=True,
                  gpu_memory_utilization=0.3 if device == "cpu" else 0.9,
                  worker_extension_cls="playpen_policy.worker_extension.PlaypenWorkerExtension")
        result["engine_start_s"] = round(time.perf_counter() - started, 1)
        _first_reply(llm)  # first forward passes pay kernel setup: not a reload cost

        # The old path: hash every file serially, then let vLLM read the directory itself.
        started = time.perf_counter()
        verify_checkpoint(ref, workers=1)
        verify_s = time.perf_counter() - started
        started = time.perf_counter()
        llm.collective_rpc("playpen_reload_weights", kwargs={"weights_path": str(checkpoint)})
        disk_load_s = time.perf_counter() - started
        old_reply_s = _first_reply(llm)

        # The new path, as the policy runs it: hash several shards at once, then the worker maps them and
        # streams them shard by shard into vLLM's in-place reload.
        started = time.perf_counter()
        verify_checkpoint(ref, workers=workers)
        verify_parallel_s = time.perf_counter() - started
        loads = llm.collective_rpc("playpen_load_shards", kwargs={
            "weights_path": str(checkpoint), "files": [f.path for f in ref.files]})
        load_s = max(loads)
        first_reply_s = _first_reply(llm)

        total_s = verify_parallel_s + load_s + first_reply_s
        old_total_s = verify_s + disk_load_s + old_reply_s
        result.update(
            verify_parallel_s=round(verify_parallel_s, 3), load_s=round(load_s, 3),
            first_reply_s=round(first_reply_s, 3), total_s=round(total_s, 3),
            verify_s=round(verify_s, 3), disk_load_s=round(disk_load_s, 3), old_reply_s=round(old_reply_s, 3),
            old_total_s=round(old_total_s, 3), speedup=round(old_total_s / total_s, 2),
            hash_gib_per_s=round(weight_bytes / 2**30 / verify_parallel_s, 2))
        print(f"old and new path: {json.dumps(result)}", flush=True)

        if copy_path:
            # stage_copy: the worker copies and hashes each shard into private memory (one more copy of the
            # checkpoint in host memory while it is staged), then loads exactly those bytes.
            started = time.perf_counter()
            staged = _stage(llm, "copy", checkpoint, ref, workers, copy=True)
            stage_copy_s = time.perf_counter() - started
            copy_load_s = max(llm.collective_rpc("playpen_load_staged", kwargs={"key": "copy"}))
            copy_reply_s = _first_reply(llm)
            result.update(stage_copy_s=round(stage_copy_s, 3), copy_read_s=round(staged["read_s"], 3),
                          copy_load_s=round(copy_load_s, 3),
                          copy_total_s=round(stage_copy_s + copy_load_s + copy_reply_s, 3))
        result["ok"] = True
        del llm
    finally:
        if own_workdir:
            shutil.rmtree(workdir, ignore_errors=True)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", choices=sorted(SHAPES), default="1b")
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--dtype", default="auto", help="auto = float32 on CPU, bfloat16 on CUDA")
    parser.add_argument("--shards", type=int, default=4, help="safetensors shards of the checkpoint")
    parser.add_argument("--workers", type=int, default=0, help="shards read at once; 0 = min(8, CPU cores)")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="where the checkpoint goes (default: a temp dir, removed after)")
    parser.add_argument("--no-copy-path", action="store_true",
                        help="skip the stage_copy path (it holds a second copy of the checkpoint in host memory)")
    args = parser.parse_args(argv)
    result = run(shape=args.shape, device=args.device, dtype=args.dtype, shards=args.shards, workers=args.workers,
                 workdir=args.workdir, copy_path=not args.no_copy_path)
    print(json.dumps(result))
    return 0 if result.get("ok") else 1


if __name__ == "__main__":
    sys.exit(main())
