"""Cache keys: one canonical JSON form and every recipe that names a clip by what shapes it.

A key is the sha256 of everything that changes a clip's bytes, so equal keys mean equal clips
and a published clip's URL changes exactly when the clip does. Nothing here imports the
encoder or the model code: a fully cached build computes every key without them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

from mkdocs_wan.page.spec import ClipSpec

#: Bump when a change to the generation code changes what a spec produces.
#: 2: provenance tags in the MP4; 3: cached text embeddings, scalar T2V timesteps;
#: 4: one canonical JSON for every key, stitched clips keyed by their title.
CODE_VERSION = "4"

#: Encoder settings that shape a clip's bytes (the quality, `crf`, is an option and keyed
#: separately). Threads are pinned because x264's output depends on its thread count.
ENCODER: dict[str, Any] = {
    "codec": "libx264",
    "pix_fmt": "yuv420p",
    "preset": "medium",
    "threads": 2,
    "faststart": True,
}


def canonical(payload: Any) -> str:
    """The one JSON form keys are hashed from: sorted keys, no spaces, Unicode kept as is."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def digest(payload: Any) -> str:
    return hashlib.sha256(canonical(payload).encode()).hexdigest()


def clip_key(spec: ClipSpec, model_fingerprint: str, crf: int) -> str:
    """A generated clip: the model, the full spec and the encoder settings."""
    encoder = {**ENCODER, "crf": crf}
    return digest({"code": CODE_VERSION, "model": model_fingerprint, "spec": spec.as_dict(), "encoder": encoder})


def stitch_key(parts: Sequence[str], transition: int, crf: int, title: str) -> str:
    """A stitched clip: its segments' keys (which carry model and specs), the crossfade and the
    encoder, plus the title written into the MP4's tags."""
    encoder = {**ENCODER, "crf": crf}
    payload = {"code": CODE_VERSION, "stitch": list(parts), "transition": transition, "encoder": encoder}
    return digest({**payload, "title": title})
