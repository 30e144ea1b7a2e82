"""Turn validated directive options into the steps that make one clip, each cached on its own.

A plain directive is one generation step. A `segments:` directive is a chain: segment k starts
from segment k-1's last frame, so its key includes the previous key — editing segment 3 changes
the keys (and regenerates) 3..n only — and a final stitch step crossfades them into one clip.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from mkdocs_wan.cache import CODE_VERSION, clip_key
from mkdocs_wan.encode import ENCODER
from mkdocs_wan.spec import ClipSpec, build_segment_specs, build_spec
from mkdocs_wan.speed import DRAFT_HOOK, draft_steps


@dataclass(frozen=True)
class Generate:
    """Generate one clip with the model, from text or from a start picture."""

    key: str
    spec: ClipSpec
    image: Path | None = None  # a picture in docs_dir (later segments start from the previous clip)
    crf: int = ENCODER["crf"]


@dataclass(frozen=True)
class Stitch:
    """Crossfade cached segment clips into one."""

    key: str
    parts: tuple[str, ...]
    transition: int
    fps: int
    crf: int = ENCODER["crf"]


Step = Generate | Stitch


@dataclass(frozen=True)
class Plan:
    """The steps for one directive's clip, in order; the last step's key is the clip's key."""

    steps: tuple[Step, ...]
    display: ClipSpec  # width, height and fps of the final clip
    title: str  # the writer's prompt, as readers see it (no site style)

    @property
    def key(self) -> str:
        return self.steps[-1].key

    @property
    def frames(self) -> int:
        last = self.steps[-1]
        if isinstance(last, Generate):
            return last.spec.frames
        parts = [s for s in self.steps if isinstance(s, Generate)]
        return sum(s.spec.frames for s in parts) - last.transition * (len(parts) - 1)


def plan_clip(
    options: Mapping[str, Any],
    defaults: Mapping[str, Any],
    style: str,
    model_fingerprint: str,
    image: tuple[Path, str] | None = None,
    crf: int = ENCODER["crf"],
    draft: bool = False,
) -> Plan:
    """The plan for a directive; `image` is its start picture as (path, sha256), if any.

    `draft` (the `preset: draft` option) trades fidelity for speed: fewer steps and a cache hook.
    """
    encoder = {**ENCODER, "crf": crf}

    def preset(spec: ClipSpec) -> ClipSpec:
        return replace(spec, steps=draft_steps(spec.steps), cache_hook=DRAFT_HOOK) if draft else spec

    title = " ".join(str(options.get("prompt") or "").split())
    image_id = f"sha256:{image[1]}" if image else None
    image_path = image[0] if image else None
    if "segments" not in options:
        spec = preset(build_spec(options, defaults, style, image_id))
        return Plan((Generate(clip_key(spec, model_fingerprint, encoder), spec, image_path, crf),), spec, title)

    specs, transition = build_segment_specs(options, defaults, style, image_id)
    specs = [preset(spec) for spec in specs]
    segments = [s if isinstance(s, str) else s.get("prompt", "") for s in options["segments"]]
    title = title or " → ".join(" ".join(str(s).split()) for s in segments)
    steps: list[Generate] = []
    for spec in specs:
        if steps:  # start from the previous segment's last frame
            spec = replace(spec, image=f"clip:{steps[-1].key}")
            image_path = None
        steps.append(Generate(clip_key(spec, model_fingerprint, encoder), spec, image_path, crf))
    if len(steps) == 1:
        return Plan(tuple(steps), specs[0], title)
    parts = tuple(step.key for step in steps)
    payload = {"code": CODE_VERSION, "stitch": parts, "transition": transition, "encoder": encoder}
    key = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()
    return Plan((*steps, Stitch(key, parts, transition, specs[0].fps, crf)), specs[0], title)
