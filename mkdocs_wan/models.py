"""Which model a site asks for, and a fingerprint of it that needs no torch and no network.

The fingerprint goes into every clip's cache key, so a different checkpoint never serves a stale
clip, while a CPU CI job without the weights still computes the same keys as the GPU job that
generated the clips.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from mkdocs_wan.tiny import TINY_VERSION

TINY = "tiny"


@dataclass(frozen=True)
class ModelRef:
    """A model as configured: the built-in tiny one, a local folder, or a Hub repository."""

    name: str  # as written in mkdocs.yml; used in messages
    source: Literal["tiny", "local", "hub"]
    location: str  # folder path for local, repo id for hub, "" for tiny
    revision: str | None = None

    @classmethod
    def resolve(cls, name: str, base_dir: Path, revision: str | None = None) -> ModelRef:
        """Interpret the `model` option; relative folders are relative to mkdocs.yml."""
        if name == TINY:
            return cls(name, "tiny", "")
        folder = (base_dir / name).expanduser()
        if folder.is_dir() or name.startswith((".", "/", "~")):
            return cls(name, "local", str(folder.resolve()), revision)
        return cls(name, "hub", name, revision)

    def fingerprint(self) -> str:
        """Identify the weights: tiny's version, a Hub revision, or a local folder's files."""
        if self.source == "tiny":
            return f"tiny/v{TINY_VERSION}"
        if self.source == "hub":
            return f"hub:{self.location}@{self.revision or 'main'}"
        return f"local:{_folder_digest(Path(self.location))}"


def _folder_digest(folder: Path) -> str:
    """Hash the configs and the weight files' names and sizes (hashing 34 GB would take minutes)."""
    digest = hashlib.sha256()
    if not folder.is_dir():
        return "missing:" + str(folder)
    try:  # a pipeline folder is model_index.json plus one folder per component: two levels
        paths = sorted(p for p in (*folder.glob("*"), *folder.glob("*/*")) if p.is_file())
    except OSError:
        return "unreadable:" + str(folder)
    for path in paths:
        rel = path.relative_to(folder).as_posix()
        if path.suffix == ".json":
            try:
                content = json.dumps(json.loads(path.read_text()), sort_keys=True)
            except (OSError, ValueError):
                content = ""
            digest.update(f"{rel}\0{content}\0".encode())
        elif path.suffix in {".safetensors", ".bin", ".model"}:
            with contextlib.suppress(OSError):
                digest.update(f"{rel}\0{path.stat().st_size}\0".encode())
    return digest.hexdigest()[:16]
