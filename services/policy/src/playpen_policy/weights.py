"""Checks that a full-weights checkpoint fits the served model before any byte of it is loaded.

vLLM's in-place reload copies tensors one by one: a checkpoint with a missing or misshaped tensor would fail
half-way and leave a model that is neither the old version nor the new one. So every tensor name and shape
is compared with the model being served first, from the safetensors headers alone (no tensor is read).
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

from playpen_common.errors import FailedPrecondition

_FLOATS = {"F64", "F32", "F16", "BF16", "F8_E4M3", "F8_E5M2"}
_MAX_HEADER = 100 << 20


def tensor_shapes(directory: Path) -> dict[str, tuple[tuple[int, ...], str]]:
    """name -> (shape, dtype) of every tensor in the directory's *.safetensors files."""
    shapes: dict[str, tuple[tuple[int, ...], str]] = {}
    files = sorted(Path(directory).glob("*.safetensors"))
    if not files:
        raise FailedPrecondition(f"{directory} holds no .safetensors files")
    for path in files:
        with open(path, "rb") as handle:
            prefix = handle.read(8)
            if len(prefix) != 8:
                raise FailedPrecondition(f"{path.name} is truncated")
            (length,) = struct.unpack("<Q", prefix)
            if length > _MAX_HEADER:
                raise FailedPrecondition(f"{path.name} has an implausible header ({length} bytes)")
            try:
                header = json.loads(handle.read(length))
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise FailedPrecondition(f"{path.name} has a corrupt header: {exc}") from exc
        for name, info in header.items():
            if name != "__metadata__":
                shapes[name] = (tuple(info["shape"]), info["dtype"])
    return shapes


def check_compatible(candidate: Path, served: dict[str, tuple[tuple[int, ...], str]]) -> None:
    """Raise FailedPrecondition unless `candidate` has exactly the served tensors, with the same shapes."""
    compare_shapes(tensor_shapes(candidate), served)


def compare_shapes(found: dict[str, tuple[tuple[int, ...], str]],
                   served: dict[str, tuple[tuple[int, ...], str]]) -> None:
    """Raise FailedPrecondition unless `found` names exactly the served tensors, with the same shapes."""
    missing = sorted(set(served) - set(found))
    extra = sorted(set(found) - set(served))
    if missing or extra:
        raise FailedPrecondition(f"checkpoint does not match the served model: missing {missing[:3]}"
                                 f"{'…' if len(missing) > 3 else ''}, unexpected {extra[:3]}"
                                 f"{'…' if len(extra) > 3 else ''}")
    for name, (shape, dtype) in found.items():
        if shape != served[name][0]:
            raise FailedPrecondition(f"tensor {name} has shape {list(shape)}, the served model {list(served[name][0])}")
        if dtype not in _FLOATS:
            raise FailedPrecondition(f"tensor {name} has dtype {dtype}, not a floating-point type")
