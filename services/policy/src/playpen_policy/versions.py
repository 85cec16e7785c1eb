"""Which weight versions one engine can answer with, and where a pinned version it does not hold is found.

An engine holds one set of full weights (its base version: 0 until a full checkpoint is loaded) and, over
it, LoRA adapters. A Generate call may pin a version: the base, or any adapter held here. A pinned adapter
that is not held is looked up by version under the configured checkpoint roots (v<version>/ with its
manifest, the layout the trainer commits) and never anywhere else, so a request cannot make the policy read
an arbitrary path. Adapters are kept in a bounded LRU; the current one (what unpinned requests get) and any
adapter a running request uses are never evicted. Loading other full weights drops every adapter: they were
held over the previous base.

Both backends share this bookkeeping; each keeps its own engine handle per adapter (a LoRARequest for vLLM).
"""

from __future__ import annotations

from collections import Counter, OrderedDict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from playpen.common.v1 import checkpoint_pb2
from playpen_common.checkpoints import MANIFEST, read_manifest, version_dir
from playpen_common.errors import FailedPrecondition


class VersionSet:
    def __init__(self, capacity: int, roots: Iterable[Path] = ()):
        if capacity < 1:
            raise ValueError("the adapter LRU must hold at least one adapter")
        self.capacity = capacity
        self.roots = [Path(root).resolve() for root in roots]
        self.base = 0  # version of the full weights in the engine
        self.current = 0  # version of unpinned requests: the base or an adapter
        self._adapters: OrderedDict[int, Any] = OrderedDict()  # least recently used first
        self._busy: Counter[int] = Counter()

    def held(self) -> list[int]:
        return sorted({self.base, *self._adapters})

    def lookup(self, version: int) -> tuple[bool, Any]:
        """(True, handle) if `version` can be served now (handle None: the base weights); marks it used."""
        if version in self._adapters:
            self._adapters.move_to_end(version)
            return True, self._adapters[version]
        return version == self.base, None

    def acquire(self, version: int) -> None:
        self._busy[version] += 1

    def release(self, version: int) -> None:
        self._busy[version] -= 1
        if self._busy[version] <= 0:
            del self._busy[version]

    def add_adapter(self, version: int, handle: Any, *, current: bool) -> list[tuple[int, Any]]:
        """Hold an adapter (the newest used); returns the (version, handle) pairs evicted to make room."""
        self._adapters[version] = handle
        self._adapters.move_to_end(version)
        if current:
            self.current = version
        evicted = []
        for candidate in list(self._adapters):
            if len(self._adapters) <= self.capacity:
                break
            if candidate in (self.current, version) or self._busy[candidate]:
                continue
            evicted.append((candidate, self._adapters.pop(candidate)))
        return evicted

    def set_base(self, version: int) -> list[tuple[int, Any]]:
        """New full weights: they serve unpinned requests, and every adapter is dropped (returned)."""
        evicted = list(self._adapters.items())
        self._adapters.clear()
        self.base = self.current = version
        return evicted

    def locate(self, version: int) -> checkpoint_pb2.CheckpointRef:
        """The committed checkpoint of `version` under the checkpoint roots, for a pinned version not held.

        Refuses a full-weights version: one engine serves one set of full weights."""
        for root in self.roots:
            directory = version_dir(root, version)
            if not (directory / MANIFEST).is_file():
                continue
            if not directory.resolve().is_relative_to(root):  # a link out of the root
                raise FailedPrecondition(f"version {version}: {directory} leads outside the checkpoint root")
            ref = read_manifest(directory)
            if ref.version != version:
                raise FailedPrecondition(f"{directory} holds version {ref.version}, not {version}")
            if ref.kind != checkpoint_pb2.CHECKPOINT_KIND_LORA:
                raise FailedPrecondition(
                    f"version {version} is a full-weights checkpoint; this engine serves full version {self.base} "
                    "and one engine serves one full version: load it with LoadWeights or ask a replica serving it")
            return ref
        where = ", ".join(str(root) for root in self.roots) or "none configured"
        raise FailedPrecondition(f"version {version} is not held by this policy (it holds {self.held()}) and no "
                                 f"committed checkpoint of it is under its checkpoint roots ({where})")
