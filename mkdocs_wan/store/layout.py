"""Where things live inside `cache_dir`: the one place that knows the folder's layout."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

VIDEOS_DIR = "assets/videos"  # where a built site publishes clips, posters and their records


@dataclass(frozen=True)
class CacheLayout:
    """`clips/` (MP4 + poster per key), `index/` (diskcache), `locks/`, `models/`, `serve/`,
    and `digests.json` (LoRA files' digests, which `settings.digests` keeps: settings sit below the store)."""

    root: Path

    @property
    def clips(self) -> Path:
        return self.root / "clips"

    @property
    def index(self) -> Path:
        return self.root / "index"

    @property
    def published(self) -> Path:
        """The record a built site publishes next to each clip (`fetch_from`), made once per clip
        and hard-linked into every build like the clip itself."""
        return self.root / "published"

    @property
    def pictures(self) -> Path:
        """Start pictures by the sha256 of their bytes: a clip is generated (and signed) from the
        bytes its key names, not from whatever the page's file holds by then."""
        return self.root / "pictures"

    @property
    def locks(self) -> Path:
        return self.root / "locks"

    @property
    def models(self) -> Path:
        return self.root / "models"

    @property
    def tmp(self) -> Path:
        """Scratch folders of running encodes (`encode-<pid>-…`), swept once their process is gone."""
        return self.root / "tmp"

    @property
    def credentials(self) -> Path:
        """The local C2PA signing identity (private key included): never published."""
        return self.root / "credentials"

    @property
    def reload_sentinel(self) -> Path:
        """Touched by the serve worker when a clip lands; watched by the live server."""
        return self.root / "serve" / "reload.txt"


def touch(sentinel: Path) -> None:
    """Write the watched sentinel so a running `mkdocs serve` rebuilds (a clip landed, a decision changed)."""
    sentinel.parent.mkdir(parents=True, exist_ok=True)
    sentinel.write_text(f"{time.time()}\n")
