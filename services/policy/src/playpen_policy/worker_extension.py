"""Methods mixed into vLLM's workers (engine arg `worker_extension_cls`), called by name through
`collective_rpc`. They run inside the engine's worker process, next to the model.

A full-weights swap either loads shards the policy process has already hashed (`playpen_load_shards`: mapped,
streamed shard by shard into vLLM's in-place reload), or, with the policy's stage_copy, is two calls:
`playpen_stage_weights` starts copying and hashing the checkpoint into private memory on a thread of the
worker and returns at once, so the engine keeps generating with the old weights meanwhile
(`playpen_staging_state` is polled until it is done); `playpen_load_staged` then streams exactly the hashed
bytes into the model. Either way a checkpoint that fails verification never touches the model.
"""

from __future__ import annotations

import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from playpen_common.errors import PlaypenError
from playpen_common.shards import FileEntry


class PlaypenWorkerExtension:
    def _playpen_staging(self) -> dict[str, Future]:
        if not hasattr(self, "_playpen_staged"):
            self._playpen_staged: dict[str, Future] = {}
            self._playpen_stager = ThreadPoolExecutor(max_workers=1, thread_name_prefix="playpen-stage")
        return self._playpen_staged

    def playpen_stage_weights(self, key: str, weights_path: str, files: list[list], workers: int,
                              copy: bool = False) -> None:
        """Start staging `files` ([path, sha256, size] each) of `weights_path` in the background."""
        from playpen_policy.staging import stage

        staging = self._playpen_staging()
        for stale in list(staging):  # one staged checkpoint at a time: host memory holds one copy
            staging.pop(stale).cancel()
        entries = [FileEntry(str(path), str(sha256), int(size)) for path, sha256, size in files]
        staging[key] = self._playpen_stager.submit(stage, Path(weights_path), entries, label=Path(weights_path).name,
                                                   workers=workers, copy=copy)

    def playpen_staging_state(self, key: str) -> dict[str, Any] | None:
        """None while staging runs; then {"read_s", "bytes", "shards", "shapes"} or {"error"} (and dropped)."""
        future = self._playpen_staging().get(key)
        if future is None:
            return {"error": "nothing is staged under this key"}
        if not future.done():
            return None
        error = future.exception()
        if error is not None:
            self._playpen_staged.pop(key, None)
            message = error.message if isinstance(error, PlaypenError) else f"{type(error).__name__}: {error}"
            return {"error": message}
        staged = future.result()
        return {"read_s": staged.read_s, "bytes": staged.bytes, "shards": len(staged.shards),
                "shapes": {name: [list(shape), dtype] for name, (shape, dtype) in staged.shapes().items()}}

    def playpen_drop_staged(self, key: str) -> None:
        future = self._playpen_staging().pop(key, None)
        if future is not None:
            future.cancel()

    def playpen_load_staged(self, key: str) -> float:
        """Stream the staged, verified shards into the model; returns the seconds it took."""
        started = time.perf_counter()
        staged = self._playpen_staging().pop(key).result()
        self.reload_weights(weights_iterator=staged.stream())
        self._playpen_repack_tied_head()
        return time.perf_counter() - started

    def playpen_load_shards(self, weights_path: str, files: list[str]) -> float:
        """Stream the weight shards of a checkpoint the caller has verified into the model (mapped, shard by
        shard, through vLLM's in-place reload); returns the seconds it took."""
        from playpen_policy.staging import map_shards

        started = time.perf_counter()
        self.reload_weights(weights_iterator=map_shards(Path(weights_path), files).stream())
        self._playpen_repack_tied_head()
        return time.perf_counter() - started

    def playpen_reload_weights(self, weights_path: str) -> None:
        """vLLM's in-place reload from a directory (used to restore the previous weights after a failed load)."""
        self.reload_weights(weights_path=weights_path)
        self._playpen_repack_tied_head()

    def _playpen_repack_tied_head(self) -> None:
        """The derived state vLLM's in-place reload forgets.

        On CPU, vLLM packs each linear layer's weight for its GEMM kernels when the model loads. The in-place
        reload repacks the layers whose tensors it loads, but an output head tied to the input embeddings
        (SmolLM2, Llama 3.2, Qwen2.5 small models) has no tensor of its own in the checkpoint, so its packed
        copy kept the old embeddings: replies then came from new layers with an old head. Re-running the head's
        post-load processing repacks it from the (shared, already updated) weight; it is idempotent, and a
        no-op where nothing is packed (CUDA).
        """
        head = getattr(self.model_runner.model, "lm_head", None)
        method = getattr(head, "quant_method", None)
        if head is not None and hasattr(method, "process_weights_after_loading"):
            method.process_weights_after_loading(head)
