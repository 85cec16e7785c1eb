"""vLLM behind the PolicyService: continuous batching, token-level outputs, hot weight swaps.

One AsyncLLM serves every concurrent Generate call; nothing serialises requests. The design question is the
swap: every reply must be produced by one weight version, and no request may fail while weights change.

- LoRA: each request is submitted with the adapter current at that moment and keeps it to its end (vLLM
  serves several adapters at once), so making a new adapter current needs no pause at all. The same makes
  pinned versions cheap: a request that pins an adapter is submitted with that adapter's LoRARequest, and
  the adapters are kept in a bounded LRU (versions.py) whose evictions are removed from the engine too.
- Full weights are copied into the live model in place, which would corrupt requests mid-generation. So a
  swap closes a gate (new requests wait in front of it), empties the engine, swaps, resets the prefix cache
  (its KV entries were computed by the old weights) and opens the gate. How the engine is emptied is the
  `reload_mode`: "restart" aborts in-flight requests and submits them again after the swap, so they run
  from scratch on the new weights (the swap takes about as long as the copy); "drain" lets them finish
  first (no wasted tokens, a longer swap). Either way a request's version is the one current when it
  (last) entered the engine, and by construction no token of it was produced by another.
- Before a full swap the checkpoint's tensor names and shapes are compared with the served model, so a
  mismatch is refused while the old weights keep serving; if the copy itself still fails, the previous
  weights are copied back.
- The gate stays open while the checkpoint is read and hashed (several shards at once), and only the copy
  of verified shards into the model, streamed shard by shard through vLLM's in-place reload, happens with
  the gate closed; a shard that fails its hash is refused before the model is touched. By default this
  process hashes the files (paging them in) and the worker maps the same pages; with stage_copy the worker
  copies each shard into private memory while hashing it and loads exactly those bytes (staging.py).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path
from typing import Any

import structlog

from playpen.common.v1 import chat_pb2, checkpoint_pb2
from playpen_common.checkpoints import checkpoint_entries, verify_checkpoint
from playpen_common.errors import ContextExceeded, FailedPrecondition, NotReady
from playpen_common.shards import default_workers, verify_files
from playpen_policy.backend import GenerationOutput
from playpen_policy.settings import PolicySettings
from playpen_policy.versions import VersionSet
from playpen_policy.vllm_engine import engine_args, resolve_model_dir
from playpen_policy.weights import check_compatible, compare_shapes, tensor_shapes

log = structlog.get_logger("playpen.policy.vllm")

_FINISH = {"stop": chat_pb2.FINISH_REASON_STOP, "length": chat_pb2.FINISH_REASON_LENGTH,
           "abort": chat_pb2.FINISH_REASON_ABORT}


class VllmBackend:
    name = "vllm"

    def __init__(self, settings: PolicySettings):
        self._settings = settings
        self.model_dir = resolve_model_dir(settings.model)
        self.model = settings.model_name or self.model_dir.name
        self.kind = checkpoint_pb2.CHECKPOINT_KIND_FULL
        self.versions = VersionSet(settings.max_adapters, settings.version_roots)  # handles: LoRARequests
        self._engine: Any = None
        self._tokenizer: Any = None
        self._served_shapes = tensor_shapes(self.model_dir)
        self._weights_dir = self.model_dir  # where the weights now serving came from
        self._pin_lock = asyncio.Lock()
        self._gate = asyncio.Event()
        self._idle = asyncio.Event()
        self._running: set[str] = set()
        self._restarted: set[str] = set()
        self._swap = asyncio.Lock()
        self.queued = 0
        self.failed = asyncio.Event()  # set when the engine is beyond repair

    @property
    def version(self) -> int:
        return self.versions.current

    @property
    def running(self) -> int:
        return len(self._running)

    # ----------------------------------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        from vllm.v1.engine.async_llm import AsyncLLM

        started = time.perf_counter()
        # Building the engine blocks for many seconds (processes, weights, KV cache): off the event loop, so
        # that health checks and other RPCs keep being answered (liveness means the loop makes progress).
        self._engine = await asyncio.to_thread(AsyncLLM.from_engine_args,
                                               engine_args(self._settings, self.model_dir, self.model))
        self._tokenizer = self._engine.tokenizer
        self._gate.set()
        self._idle.set()
        if self._settings.warmup:
            # The first forward passes on CPU are several seconds slower (kernel setup); pay that before ready.
            await self.generate([chat_pb2.ChatMessage(role="user", content="Hello")],
                                chat_pb2.SamplingParams(temperature=0.0, max_tokens=4))
        log.info("engine ready", model=str(self.model_dir), seconds=round(time.perf_counter() - started, 1))

    async def close(self) -> None:
        if self._engine is not None:
            self._engine.shutdown()
            self._engine = None

    # ----------------------------------------------------------------------------------------- generate

    def encode(self, messages: list[chat_pb2.ChatMessage]) -> list[int]:
        conversation = [{"role": m.role, "content": m.content} for m in messages]
        ids = self._tokenizer.apply_chat_template(conversation, add_generation_prompt=True, tokenize=True,
                                                  return_dict=False)
        return list(ids)

    def sampling_params(self, sampling: chat_pb2.SamplingParams, prompt_tokens: int) -> Any:
        from vllm import SamplingParams

        max_tokens = sampling.max_tokens if sampling.HasField("max_tokens") else self._settings.default_max_tokens
        limit = self._engine.model_config.max_model_len
        room = limit - prompt_tokens
        if room <= 0:
            raise ContextExceeded(f"the prompt has {prompt_tokens} tokens; this policy serves at most "
                                  f"{limit} tokens of prompt and reply")
        return SamplingParams(
            temperature=sampling.temperature if sampling.HasField("temperature") else 1.0,
            top_p=sampling.top_p if sampling.HasField("top_p") else 1.0,
            top_k=max(sampling.top_k, 0) if sampling.HasField("top_k") else 0,
            max_tokens=min(max_tokens, room), stop=list(sampling.stop) or None,
            seed=sampling.seed if sampling.HasField("seed") else None, logprobs=0,
        )

    async def generate(self, messages: list[chat_pb2.ChatMessage], sampling: chat_pb2.SamplingParams,
                       version: int | None = None) -> GenerationOutput:
        from vllm.inputs import TokensPrompt
        from vllm.v1.engine.exceptions import EngineDeadError

        if self._engine is None:
            raise NotReady("the model is still loading")
        prompt_ids = self.encode(messages)
        params = self.sampling_params(sampling, len(prompt_ids))
        arrived = time.perf_counter()
        while True:
            if not self._gate.is_set():
                self.queued += 1
                try:
                    await self._gate.wait()
                finally:
                    self.queued -= 1
            # From here to registration there is no await: a swap cannot slip in between.
            serving = self.versions.current if version is None else version
            held, lora = self.versions.lookup(serving)
            if not held:
                await self._pin(serving)
                continue  # through the gate again: a full swap may have come meanwhile
            request_id = uuid.uuid4().hex
            self.versions.acquire(serving)  # an adapter in use is never evicted
            self._running.add(request_id)
            self._idle.clear()
            entered = time.perf_counter()
            first_token = 0.0
            final = None
            try:
                async for output in self._engine.generate(TokensPrompt(prompt_token_ids=prompt_ids), params,
                                                          request_id, lora_request=lora):
                    if not first_token and output.outputs[0].token_ids:
                        first_token = time.perf_counter() - arrived
                    final = output
            except EngineDeadError as error:
                # Nothing in this process can bring the engine back: say so, and let the server exit so that
                # the supervisor (Kubernetes, `make run`) starts a fresh replica.
                self.failed.set()
                raise NotReady("the inference engine died; this replica is shutting down") from error
            finally:
                self.versions.release(serving)
                self._running.discard(request_id)
                if not self._running:
                    self._idle.set()
            completion = final.outputs[0]
            if request_id in self._restarted:
                self._restarted.discard(request_id)
                if completion.finish_reason == "abort":
                    continue  # stopped for a weight swap: run again, wholly on the new weights
            token_ids = list(completion.token_ids)
            entries = completion.logprobs or []
            logprobs = [entry[token].logprob for entry, token in zip(entries, token_ids, strict=False)]
            return GenerationOutput(
                text=completion.text, prompt_token_ids=prompt_ids, completion_token_ids=token_ids,
                completion_logprobs=logprobs, finish_reason=_FINISH.get(completion.finish_reason or "stop",
                                                                        chat_pb2.FINISH_REASON_STOP),
                policy_version=serving, queue_s=entered - arrived, first_token_s=first_token)

    # ----------------------------------------------------------------------------------------- weights

    async def load(self, checkpoint: checkpoint_pb2.CheckpointRef) -> None:
        if self._engine is None:
            raise NotReady("the model is still loading")
        started = time.perf_counter()
        workers = self._settings.read_workers or default_workers()
        if checkpoint.kind == checkpoint_pb2.CHECKPOINT_KIND_LORA:
            # Hashing takes a while: off the event loop, so serving goes on meanwhile.
            directory = await asyncio.to_thread(verify_checkpoint, checkpoint, workers=workers)
            verified = time.perf_counter()
            await self._load_lora(checkpoint, directory)
            log.info("adapter swapped in", policy_version=checkpoint.version, verify_s=round(verified - started, 3),
                     swap_s=round(time.perf_counter() - verified, 3))
            return
        # Cheap checks first (files present with their sizes, shard index, tensor shapes from the headers), so
        # that a wrong checkpoint is refused before gigabytes are read.
        directory, entries = await asyncio.to_thread(checkpoint_entries, checkpoint)
        await asyncio.to_thread(check_compatible, directory, self._served_shapes)
        checked = time.perf_counter()
        extra: dict = {}
        if self._settings.stage_copy:
            key = uuid.uuid4().hex
            try:
                staged = await self._stage(key, directory, entries, workers)
                compare_shapes({name: (tuple(shape), dtype) for name, (shape, dtype) in staged["shapes"].items()},
                               self._served_shapes)
                verified = time.perf_counter()
                timings = await self._swap_full(checkpoint, directory, "playpen_load_staged", {"key": key})
            finally:
                await self._engine.collective_rpc("playpen_drop_staged", kwargs={"key": key})
            extra = {"read_s": round(staged["read_s"], 3)}
        else:
            # Hashing here, several shards at once, while the old weights keep serving; it pages the shards in,
            # and the worker then maps those same pages: the files are read from disk once.
            await asyncio.to_thread(verify_files, directory, entries, label=f"checkpoint {checkpoint.version}",
                                    workers=workers)
            verified = time.perf_counter()
            timings = await self._swap_full(checkpoint, directory, "playpen_load_shards", {
                "weights_path": str(directory), "files": [entry.path for entry in entries]})
        log.info("checkpoint swapped in", policy_version=checkpoint.version, check_s=round(checked - started, 3),
                 verify_s=round(verified - checked, 3), **extra, **timings,
                 gib=round(sum(entry.size_bytes for entry in entries) / 2**30, 3),
                 total_s=round(time.perf_counter() - started, 3))

    async def _stage(self, key: str, directory: Path, entries: list, workers: int) -> dict:
        """Copy and verify the checkpoint inside the worker while the old weights keep serving."""
        files = [[entry.path, entry.sha256, entry.size_bytes] for entry in entries]
        await self._engine.collective_rpc("playpen_stage_weights", kwargs={
            "key": key, "weights_path": str(directory), "files": files, "workers": workers, "copy": True})
        delay = 0.002
        while True:
            states = await self._engine.collective_rpc("playpen_staging_state", kwargs={"key": key})
            if all(state is not None for state in states):
                break
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.02)
        for state in states:
            if "error" in state:
                raise FailedPrecondition(f"checkpoint {directory.name} refused: {state['error']}; "
                                         f"still serving version {self.version}")
        return states[0]

    async def _pin(self, version: int) -> None:
        """Load a pinned adapter this engine does not hold: found under the checkpoint roots, verified against
        its manifest as LoadWeights does, kept in the LRU without becoming current."""
        async with self._pin_lock:
            if self.versions.lookup(version)[0]:
                return  # loaded by a request that waited less
            if not self._settings.enable_lora:
                raise FailedPrecondition(f"version {version} is not served here (version {self.versions.base}) and "
                                         "this policy serves no LoRA adapters (start it with --enable-lora true)")
            checkpoint = await asyncio.to_thread(self.versions.locate, version)
            workers = self._settings.read_workers or default_workers()
            directory = await asyncio.to_thread(verify_checkpoint, checkpoint, workers=workers)
            await self._load_lora(checkpoint, directory, current=False)
            log.info("pinned adapter loaded", policy_version=version, held=self.versions.held())

    async def _load_lora(self, checkpoint: checkpoint_pb2.CheckpointRef, directory: Path, *,
                         current: bool = True) -> None:
        from vllm.lora.request import LoRARequest

        if not self._settings.enable_lora:
            raise FailedPrecondition("this policy serves no LoRA adapters (start it with --enable-lora true)")
        if not (directory / "adapter_config.json").is_file():
            raise FailedPrecondition(f"checkpoint {checkpoint.version} has no adapter_config.json")
        request = LoRARequest(lora_name=f"v{checkpoint.version}", lora_int_id=checkpoint.version,
                              lora_path=str(directory), load_inplace=True)
        try:
            await self._engine.add_lora(request)
        except Exception as exc:
            raise FailedPrecondition(f"adapter {checkpoint.version} cannot be loaded: {exc}") from exc
        # Requests already running keep the adapter they started with; new unpinned ones take this one.
        await self._drop_adapters(self.versions.add_adapter(checkpoint.version, request, current=current))
        if current:
            self.kind = checkpoint.kind

    async def _drop_adapters(self, evicted: list[tuple[int, Any]]) -> None:
        for version, request in evicted:
            if not await self._engine.remove_lora(request.lora_int_id):
                log.info("evicted adapter was no longer in the engine", policy_version=version)

    async def _swap_full(self, checkpoint: checkpoint_pb2.CheckpointRef, directory: Path, method: str,
                         kwargs: dict) -> dict:
        async with self._swap:
            self._gate.clear()
            drain_started = time.perf_counter()
            try:
                if self._settings.reload_mode == "drain":
                    await self._idle.wait()
                    await self._engine.pause_generation(mode="wait", clear_cache=True)
                else:
                    self._restarted.update(self._running)
                    await self._engine.pause_generation(mode="abort", clear_cache=True)
                    await self._abort_stragglers()
                copy_started = time.perf_counter()
                try:
                    load_s = await self._copy_weights(method, kwargs, checkpoint.version)
                finally:
                    # KV and prefix-cache entries were computed by the weights before the copy.
                    while not await self._engine.reset_prefix_cache():
                        await asyncio.sleep(0.01)
                    await self._engine.resume_generation()
                self._weights_dir, self.kind = directory, checkpoint_pb2.CHECKPOINT_KIND_FULL
                # Adapters were held over the previous weights; none is in use (the engine is empty).
                await self._drop_adapters(self.versions.set_base(checkpoint.version))
                return {"pause_s": round(copy_started - drain_started, 3), "load_s": round(load_s, 3),
                        "gate_closed_s": round(time.perf_counter() - drain_started, 3)}
            finally:
                self._gate.set()

    async def _abort_stragglers(self) -> None:
        """Wait until every request that passed the gate has left the engine.

        A request can pass the gate just before it closes and reach the (now paused) engine only after the
        pause aborted everything running: it would wait there, unaborted. So abort what is still registered
        until nothing is; each of those runs again after the swap.
        """
        while self._running:
            self._restarted.update(self._running)
            await self._engine.abort(list(self._running))
            try:
                await asyncio.wait_for(self._idle.wait(), timeout=0.05)
            except TimeoutError:
                continue

    async def _copy_weights(self, method: str, kwargs: dict, version: int) -> float:
        """Stream the verified shards into the model; on failure restore the previous weights from disk."""
        try:
            seconds = await self._engine.collective_rpc(method, kwargs=kwargs)
            return max(seconds)
        except Exception as exc:
            log.error("weight copy failed; restoring the previous weights", version=version, error=str(exc))
            await self._engine.collective_rpc("playpen_reload_weights",
                                              kwargs={"weights_path": str(self._weights_dir)})
            raise FailedPrecondition(f"checkpoint {version} could not be loaded ({exc}); still serving "
                                     f"version {self.version}") from exc
