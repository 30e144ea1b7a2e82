"""The tensor names a checkpoint component holds, read from its safetensors headers alone.

A safetensors file starts with an 8-byte length and a JSON header naming every tensor, so what a
checkpoint *is* (for example, whether its blocks carry sparse-attention gates) can be told without
torch and without reading gigabytes of weights. Sharded components list their tensors in
`*.safetensors.index.json`.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

MAX_HEADER_BYTES = 64 << 20  # a 14B transformer's header is a few hundred KB
MAX_INDEX_BYTES = 64 << 20


def tensor_names(component: Path) -> set[str] | None:
    """Every tensor name of a component folder's weights; None where there are none to read
    (not downloaded yet, another format, or unreadable: the caller keeps what it knew)."""
    names: set[str] = set()
    try:
        indexes = sorted(component.glob("*.safetensors.index.json"))
        files = sorted(component.glob("*.safetensors"))
    except OSError:
        return None
    for index in indexes:
        found = _index_names(index)
        if found is None:
            return None
        names |= found
    if not indexes:
        for path in files:
            found = _header_names(path)
            if found is None:
                return None
            names |= found
    return names or None


def _index_names(path: Path) -> set[str] | None:
    try:
        if path.stat().st_size > MAX_INDEX_BYTES:
            return None
        weight_map = json.loads(path.read_text(encoding="utf-8")).get("weight_map")
    except (OSError, UnicodeDecodeError, ValueError, RecursionError, AttributeError):
        return None
    return set(weight_map) if isinstance(weight_map, dict) else None


def _header_names(path: Path) -> set[str] | None:
    try:
        with path.open("rb") as handle:
            head = handle.read(8)
            if len(head) != 8:
                return None
            (length,) = struct.unpack("<Q", head)
            if length > MAX_HEADER_BYTES:
                return None
            header = json.loads(handle.read(length).decode("utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError):
        return None
    return {name for name in header if name != "__metadata__"} if isinstance(header, dict) else None
