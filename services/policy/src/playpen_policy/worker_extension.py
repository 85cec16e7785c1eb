"""Methods mixed into vLLM's workers (engine arg `worker_extension_cls`), called by name through
`collective_rpc`. They run inside the engine's worker process, next to the model."""

from __future__ import annotations


class PlaypenWorkerExtension:
    def playpen_reload_weights(self, weights_path: str) -> None:
        """vLLM's in-place reload, then the derived state it forgets.

        On CPU, vLLM packs each linear layer's weight for its GEMM kernels when the model loads. The in-place
        reload repacks the layers whose tensors it loads, but an output head tied to the input embeddings
        (SmolLM2, Llama 3.2, Qwen2.5 small models) has no tensor of its own in the checkpoint, so its packed
        copy kept the old embeddings: replies then came from new layers with an old head. Re-running the head's
        post-load processing repacks it from the (shared, already updated) weight; it is idempotent, and a
        no-op where nothing is packed (CUDA).
        """
        self.reload_weights(weights_path=weights_path)
        head = getattr(self.model_runner.model, "lm_head", None)
        method = getattr(head, "quant_method", None)
        if head is not None and hasattr(method, "process_weights_after_loading"):
            method.process_weights_after_loading(head)
