"""Which model a site asks for, and a fingerprint of it that needs no torch and no network.

The fingerprint goes into every clip's cache key, so a different checkpoint never serves a stale
clip, while a CPU CI job without the weights still computes the same keys as the GPU job that
generated the clips.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from mkdocs_wan.models.families import BY_HUB_ID, TI2V_5B, Family, FamilyError, folder_family

TINY = "tiny"
MAX_JSON_BYTES = 1 << 20
#: Bump when the tiny model's architecture or weights change (part of its clips' keys).
TINY_VERSION = "2"


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
            try:
                return cls(name, "local", str(folder.resolve()), revision)
            except (OSError, RuntimeError) as err:  # a loop of symbolic links
                raise FamilyError(
                    f"{name}: cannot follow the folder ({getattr(err, 'strerror', None) or err})"
                ) from None
        return cls(name, "hub", name, revision)

    def family(self) -> Family:
        """Which Wan architecture this is, from the checkpoint's own configs (no torch, no network).

        A Hub checkpoint is read from the local Hugging Face cache; one not downloaded yet is known
        by its repository id only if it is an official or FastVideo one.
        """
        if self.source == "tiny":  # TI2V-5B-shaped (see `render.tiny`), named as the site names it
            return replace(TI2V_5B, name="tiny (Wan2.2-TI2V-5B-shaped)")
        if self.source == "local":
            folder = Path(self.location)
            if not folder.is_dir():
                raise FamilyError(
                    f"{self.name}: no such folder ({folder}); download a Wan pipeline there (`hf download "
                    f"{TI2V_5B.hub_id} --local-dir {self.name}`), or set `model: tiny` to test offline"
                )
            return folder_family(folder, self.name, f"{self.name} {folder.as_posix()}")
        if "/" not in self.location:  # a Hub id is always ORG/NAME
            import difflib  # only for a did-you-mean

            close = difflib.get_close_matches(self.location.lower(), [TINY], n=1)
            hint = "did you mean `tiny`? " if close else ""
            raise FamilyError(
                f"{self.name} is not `tiny`, a folder, or a Hub id (ORG/NAME); {hint}for the default model "
                f"use {TI2V_5B.hub_id}"
            )
        diffusers = BY_HUB_ID.get(self.location.lower() + "-diffusers")
        if diffusers is not None:
            raise FamilyError(
                f"{self.name} holds Wan's original weights, which diffusers cannot load; use {diffusers.hub_id}"
            )
        snapshot = hub_snapshot(self.location, self.revision)
        if snapshot is not None and (snapshot / "model_index.json").is_file():
            return folder_family(snapshot, self.name, self.location)
        if snapshot is not None:
            raise FamilyError(
                f"{self.name} is downloaded but is not a diffusers pipeline (it has no model_index.json); use a "
                f"-Diffusers repository such as {TI2V_5B.hub_id}"
            )
        known = BY_HUB_ID.get(self.location.lower())
        if known is None:
            raise FamilyError(
                f"{self.name} is not downloaded and not a known Wan checkpoint, so its rules are unknown; "
                f"download it once (`hf download {self.location}`) or use a known one such as {TI2V_5B.hub_id}"
            )
        return known

    def fingerprint(self, dtype: str) -> str:
        """The model part of every clip key: which weights (tiny's version, a Hub revision, or a
        local folder's files), in which precision — not which device."""
        return f"{self._weights()}|dtype={dtype}"

    def _weights(self) -> str:
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
            digest.update(f"{rel}\0{_json_content(path)}\0".encode())
        elif path.suffix in {".safetensors", ".bin", ".model"}:
            with contextlib.suppress(OSError):
                digest.update(f"{rel}\0{path.stat().st_size}\0".encode())
    return digest.hexdigest()[:16]


def _json_content(path: Path) -> str:
    """A config's content in one canonical form; a file too large or nested beyond reason to
    parse (a hostile folder) by its size or bytes instead — never a crash."""
    try:
        if path.stat().st_size > MAX_JSON_BYTES:
            return f"size:{path.stat().st_size}"
        raw = path.read_bytes()
    except OSError:
        return ""
    try:
        return json.dumps(json.loads(raw), sort_keys=True)
    except (ValueError, RecursionError):
        return "bytes:" + hashlib.sha256(raw).hexdigest()


def hub_snapshot(repo: str, revision: str | None) -> Path | None:
    """The local snapshot folder of a Hub repository at a revision, if it was downloaded
    (the Hugging Face cache layout: models--ORG--NAME/refs/REV holds the commit)."""
    from huggingface_hub.constants import HF_HUB_CACHE

    folder = Path(HF_HUB_CACHE) / ("models--" + repo.replace("/", "--"))
    revision = revision or "main"
    try:
        commit = revision if len(revision) == 40 else (folder / "refs" / revision).read_text().strip()
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    snapshot = folder / "snapshots" / commit
    return snapshot if commit and "/" not in commit and snapshot.is_dir() else None
