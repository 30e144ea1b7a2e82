"""The clip cache: content-addressed MP4 files plus a diskcache index of their metadata.

Clips live at `<cache_dir>/clips/<key>.mp4`, so a clip's URL never changes while its spec
doesn't. diskcache holds only small metadata records, with eviction off: its default policy
silently drops entries past 1 GiB, which must never cost a clip that took minutes of GPU time.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import diskcache

from mkdocs_wan.spec import ClipSpec

#: Bump when a change to the generation code changes what a spec produces.
CODE_VERSION = "1"


def clip_key(spec: ClipSpec, model_fingerprint: str, encoder: Mapping[str, Any]) -> str:
    """sha256 of a canonical form of everything that shapes the clip's bytes."""
    payload = {
        "code": CODE_VERSION,
        "model": model_fingerprint,
        "spec": spec.as_dict(),
        "encoder": dict(encoder),
    }
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


class ClipCache:
    """Clip files and their index under one folder."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.clips = root / "clips"
        self._index: diskcache.Cache | None = None

    @property
    def index(self) -> diskcache.Cache:
        if self._index is None:
            self.clips.mkdir(parents=True, exist_ok=True)
            self._index = diskcache.Cache(str(self.root / "index"), eviction_policy="none")
        return self._index

    def path(self, key: str) -> Path:
        return self.clips / f"{key}.mp4"

    def has(self, key: str) -> bool:
        """A clip counts only once both its file and its index record exist."""
        return self.path(key).is_file() and key in self.index

    def store(self, key: str, write: Callable[[Path], None], meta: Mapping[str, Any]) -> Path:
        """Let `write` fill a temp file, then publish it atomically and record it.

        The clip appears at its final path only complete and fsynced, so a build killed at
        any moment never leaves a half-written clip that a later build would serve.
        """
        final = self.path(key)
        self.clips.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{key[:16]}.", suffix=".tmp.mp4", dir=self.clips)
        os.close(fd)
        tmp = Path(tmp_name)
        try:
            write(tmp)
            digest, size = _sha256_and_fsync(tmp)
            tmp.replace(final)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        _fsync_dir(self.clips)
        self.index[key] = {**meta, "sha256": digest, "bytes": size, "created": time.time()}
        return final

    def close(self) -> None:
        if self._index is not None:
            self._index.close()
            self._index = None


def _sha256_and_fsync(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    with path.open("rb+") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
        os.fsync(f.fileno())
        return digest.hexdigest(), f.tell()


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):  # not every platform can open a directory
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
