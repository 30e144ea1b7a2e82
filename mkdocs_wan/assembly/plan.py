"""Turn validated directive options into the steps that make one clip, each cached on its own.

A plain directive is one generation step. A `segments:` directive is a chain: segment k starts
from segment k-1's last frame, so its key includes the previous key — editing segment 3 changes
the keys (and regenerates) 3..n only — and a final stitch step crossfades them into one clip.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from mkdocs_wan.models.families import I2V_A14B, TI2V_5B, Family, sampler_name
from mkdocs_wan.page.spec import ClipSpec, SpecError, build_segment_specs, build_spec, check_text, parse_text, styled
from mkdocs_wan.settings.options import DRAFT_HOOK, OPTIONS, draft_steps
from mkdocs_wan.store.keys import clip_key, stitch_key


@dataclass(frozen=True)
class Generate:
    """Generate one clip with the model, from text or from a start picture."""

    key: str
    spec: ClipSpec
    image: Path | None = None  # a picture in docs_dir (later segments start from the previous clip)
    crf: int = OPTIONS["crf"].default

    @property
    def title(self) -> str:
        """The MP4's title tag: the prompt the model got."""
        return self.spec.prompt


@dataclass(frozen=True)
class Stitch:
    """Crossfade cached segment clips into one."""

    key: str
    parts: tuple[str, ...]
    transition: int
    fps: int
    crf: int
    title: str  # the MP4's title tag: the directive's title with the site style, like a single clip's


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
    crf: int,
    image: tuple[Path, str] | None = None,
    draft: bool = False,
    family: Family = TI2V_5B,
    image_fingerprint: str | None = None,
    lora: str = "",
    flow_shift: float | None = None,
    solver: str | None = None,
    image_family: Family | None = None,
    image_lora: str = "",
) -> Plan:
    """The plan for a directive; `image` is its start picture as (path, sha256), if any.

    `draft` (the `preset: draft` option) trades fidelity for speed: fewer steps and a cache hook
    (not for a distilled checkpoint, whose steps are fixed). `family` holds the model's rules;
    `image_fingerprint`, `image_family` and `image_lora` name the checkpoint (and its LoRA) that
    makes image-to-video steps where the model cannot (`image_model`); `lora` identifies the LoRA
    files loaded onto the model; `solver` and `flow_shift` replace the family's sampler and shift
    (Wan2.2-Lightning samples A14B with Euler at 5.0). Every spec names how it is sampled.
    """

    def preset(spec: ClipSpec) -> ClipSpec:
        if not draft or family.distilled:
            return spec
        return replace(spec, steps=draft_steps(spec.steps), cache_hook=DRAFT_HOOK)

    def by_image_model(spec: ClipSpec) -> bool:
        return spec.image is not None and family.image == "checkpoint"

    def finish(spec: ClipSpec) -> ClipSpec:
        """The spec as the model that makes it samples it, with the LoRA that model carries."""
        maker, files = (image_family, image_lora) if by_image_model(spec) and image_family else (family, lora)
        return replace(spec, sampler=sampler_name(maker, spec.width, spec.height, solver, flow_shift), lora=files)

    def key(spec: ClipSpec) -> str:
        """The key of one generation: image-to-video steps of a text-only model need `image_model`."""
        if not by_image_model(spec):
            return clip_key(spec, model_fingerprint, crf)
        if image_fingerprint is None:
            raise SpecError(
                f"{family.name} makes clips from text only; for a start picture (image=, or segments after "
                f"the first) set image_model: to an image-to-video checkpoint, e.g. {I2V_A14B.hub_id}"
            )
        return clip_key(spec, image_fingerprint, crf)

    title = " ".join(str(options.get("prompt") or "").split())
    image_id = f"sha256:{image[1]}" if image else None
    image_path = image[0] if image else None
    if "segments" not in options:
        spec = finish(preset(build_spec(options, defaults, style, image_id, family)))
        return Plan((Generate(key(spec), spec, image_path, crf),), spec, title)

    if "prompt" in options:
        title = " ".join(parse_text("prompt")(options["prompt"]).split())
    specs, transition = build_segment_specs(options, defaults, style, image_id, family)
    specs = [preset(spec) for spec in specs]
    segments = [s if isinstance(s, str) else s.get("prompt", "") for s in options["segments"]]
    joined = " → ".join(" ".join(str(s).split()) for s in segments)  # each segment was checked on its own
    title = check_text("prompt", title) if title else check_text("prompt", joined, limit=max(len(joined), 1))
    steps: list[Generate] = []
    for spec in specs:
        if steps:  # start from the previous segment's last frame
            spec = replace(spec, image=f"clip:{steps[-1].key}")
            image_path = None
        spec = finish(spec)
        steps.append(Generate(key(spec), spec, image_path, crf))
    if len(steps) == 1:
        return Plan(tuple(steps), specs[0], title)
    parts = tuple(step.key for step in steps)
    full_title = styled(title, style)
    key = stitch_key(parts, transition, crf, full_title)
    return Plan((*steps, Stitch(key, parts, transition, specs[0].fps, crf, full_title)), specs[0], title)
