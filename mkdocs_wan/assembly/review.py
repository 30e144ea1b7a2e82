"""The review gate's questions for people: which clips are held, which clip a key names, who decides.

The build holds a clip (see `assembly.gate.ReviewGate`); `mkdocs-wan review`, `approve` and `reject`
answer through the site's review file (`store.reviews`), which travels with the docs.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from mkdocs_wan.assembly.engine import PageEngine
from mkdocs_wan.page.spec import SpecError
from mkdocs_wan.store.cache import is_key


@dataclass(frozen=True)
class HeldClip:
    key: str
    title: str  # the prompt as the page shows it
    reason: str
    poster: Path | None  # the poster JPEG in the cache, to look at before deciding
    clip: Path
    where: tuple[str, ...]  # page.md:LINE of each use


def held_clips(engine: PageEngine) -> list[HeldClip]:
    """The site's clips that review keeps off its pages and no one has decided on, in page order."""
    build, cache = engine.build, engine.cache
    found = []
    for key, reason in build.held.items():
        if reason.startswith("rejected in review"):
            continue
        poster = cache.poster_path(key)
        wheres = tuple(use.where for use in build.uses.get(key, ()))
        found.append(HeldClip(key, build.plans[key].title, reason, poster if poster.is_file() else None,
                              cache.path(key), wheres))  # fmt: skip
    return found


def resolve_key(engine: PageEngine, given: str) -> str:
    """The full key of the site's clip that `given` names: the key, or any start of it of 4 or more
    characters that no other key of the site or its cache shares (as git takes commits)."""
    text = given.strip().lower()
    if not 4 <= len(text) <= 64 or any(c not in "0123456789abcdef" for c in text):
        raise SpecError(
            f"{given[:70]!r} is not a clip key: give the key, or a start of it of 4 or more characters, from "
            "`mkdocs-wan list`"
        )
    keys = set(engine.build.plans) | set(engine.cache.clip_keys())
    matches = sorted(key for key in keys if key.startswith(text) and is_key(key))
    if not matches:
        raise SpecError(f"no clip of this site or its cache has a key starting {text!r}; see `mkdocs-wan list`")
    if len(matches) > 1:
        raise SpecError(
            f"{text!r} starts {len(matches)} keys ({', '.join(m[:16] for m in matches[:4])}…); give more of it"
        )
    return matches[0]


def reviewer() -> str:
    """Who is deciding: git's user.name, else the login name."""
    git = shutil.which("git")
    if git is not None:
        try:
            name = subprocess.run([git, "config", "user.name"], capture_output=True, text=True, timeout=5).stdout
        except (OSError, subprocess.SubprocessError):
            name = ""
        if name.strip():
            return name.strip()
    return os.environ.get("USER") or os.environ.get("USERNAME") or "unknown"
