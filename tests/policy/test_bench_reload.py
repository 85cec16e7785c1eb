"""scripts/bench_reload.py (and so the 8B step of `make gpu-smoke`, which is the same code with device=cuda)
runs end to end on CPU with a tiny shape: both reload paths work on a sharded checkpoint, figures reported."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.policy.conftest import SERVER_ENV

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_the_reload_benchmark_runs_on_cpu_with_a_tiny_shape(tmp_path) -> None:
    done = subprocess.run([sys.executable, str(REPO / "scripts" / "bench_reload.py"), "--shape", "tiny",
                           "--shards", "3", "--workdir", str(tmp_path)], capture_output=True, text=True,
                          timeout=600, env={**os.environ, **SERVER_ENV})
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["ok"] and result["shards"] == 3 and result["device"] == "cpu"
    for key in ("verify_s", "verify_parallel_s", "load_s", "first_reply_s", "total_s", "disk_load_s",
                "stage_copy_s", "copy_load_s"):
        assert result[key] > 0, key
    assert len(list((tmp_path / "v00000001").glob("model-*-of-00003.safetensors"))) == 3
