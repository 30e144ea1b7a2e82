"""The Wan model families: what a checkpoint is, read from its own files, and the rules and
defaults that follow from it — in one place per family.

A family is recognised from the checkpoint's `model_index.json` (pipeline class, a second expert)
and its transformer's `config.json` (latent channels, width), never from its name: a renamed or
fine-tuned folder gets the rules of what it is. Only a Hub checkpoint that is not downloaded yet
falls back to its repository id, for the official and FastVideo repositories below.

Figures come from the checkpoints' own configs and Wan's and FastVideo's published settings
(`shared/notes/models.md`); "measured" VRAM and speeds are others' measurements, not ours.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

#: What image-to-video needs: the same weights (TI2V), a second checkpoint (`image_model:`),
#: or a start picture on every clip (an I2V checkpoint).
ImageMode = Literal["same", "checkpoint", "required"]

MAX_CONFIG_BYTES = 1 << 20  # a model_index.json or config.json is a few KB
MAX_SIDE = 1920  # for every family: beyond it a clip costs hours and the models were never trained there


class FamilyError(ValueError):
    """A checkpoint that is not a supported Wan pipeline, or a clip its family cannot make."""


@dataclass(frozen=True)
class Family:
    """One Wan architecture (and how its checkpoint is sampled): its rules and its defaults."""

    name: str
    hub_id: str  # the diffusers repository it is published as
    pipeline: Literal["WanPipeline", "WanImageToVideoPipeline"]
    experts: int  # 2: a high-noise `transformer` and a low-noise `transformer_2`
    latent_channels: int
    size_multiple: int  # VAE stride x transformer patch 2: 32 (TI2V-5B) or 16 (the Wan2.1 VAE)
    size: tuple[int, int]
    frames: int
    fps: int
    steps: int
    guidance: float
    guidance_2: float | None  # the low-noise expert's guidance (two experts only)
    flow_shift: float
    boundary_ratio: float | None
    image: ImageMode
    vram: str  # what it needs, with where the figure comes from
    sampler: Literal["ode", "dmd"] = "ode"
    dmd_timesteps: tuple[int, ...] = ()  # a DMD checkpoint's fixed timesteps (base schedule, 0-1000)

    @property
    def distilled(self) -> bool:
        return self.sampler == "dmd"

    @property
    def default_size(self) -> str:
        return f"{self.size[0]}x{self.size[1]}"

    def latent_tokens(self, frames: int, width: int, height: int) -> int:
        """The transformer's sequence length for a clip: what its cost grows with."""
        return ((frames - 1) // 4 + 1) * (width // self.size_multiple) * (height // self.size_multiple)

    def size_problem(self, width: int, height: int) -> str | None:
        """Why a size is wrong for this family, quoting its rule and the nearest valid sizes."""
        step = self.size_multiple
        if max(width, height) > MAX_SIDE:
            return f"size sides must be at most {MAX_SIDE}, got {width}x{height}; {nearest_sizes(width, height, step)}"
        if width % step == 0 and height % step == 0 and width >= step and height >= step:
            return None
        return (
            f"size sides must be multiples of {step} and at least {step} for {self.name}, got "
            f"{width}x{height}; {nearest_sizes(width, height, step)}"
        )

    def clip_problem(self, steps: int, guidance: float, guidance_2: float | None, has_image: bool) -> str | None:
        """Why this family cannot make a clip with these settings (None: it can)."""
        if self.distilled and steps != len(self.dmd_timesteps):
            return (
                f"steps must be {len(self.dmd_timesteps)} for {self.name}: it is distilled for exactly "
                f"{len(self.dmd_timesteps)} steps (got {steps})"
            )
        if self.distilled and (guidance != 1.0 or guidance_2 not in (None, 1.0)):
            return f"guidance must be 1 for {self.name}: it is distilled to sample without CFG (got {guidance:g})"
        if guidance_2 is not None and self.experts == 1:
            return f"guidance_2 is for two-expert models (Wan2.2-A14B); {self.name} has one transformer"
        if self.image == "required" and not has_image:
            return f"{self.name} is an image-to-video model: every clip needs image=… (a start picture)"
        return None


def nearest_sizes(width: int, height: int, step: int, largest: int = MAX_SIDE) -> str:
    """The valid sizes closest to a rejected one: scaled down to fit if too large (aspect kept),
    then each side rounded down and up to a multiple of `step`."""
    scale = min(1.0, largest / max(width, height, 1))

    def sides(side: float) -> list[int]:
        if side <= step:
            return [step]
        low = min(int(side) // step * step, largest)
        return [low] if low in (side, largest) else [low, low + step]

    sizes = [f"{w}x{h}" for w in sides(width * scale) for h in sides(height * scale)]
    return f"use {sizes[0]}" if len(sizes) == 1 else "use " + ", ".join(sizes[:-1]) + f" or {sizes[-1]}"


_A14B_VRAM = "80 GB GPU without offload; 59.8 GB peak on an H100 with offload (Wan's table, 720p)"
_WAN21_14B_VRAM = "about 40 GB+ with offload (unverified); an 80 GB GPU without"
_5B_VRAM = "22.9 GB peak on an RTX 4090 with offload (Wan's table, 720p); 40 GB+ without"
_13B_VRAM = "8.2 GB (Wan2.1 paper, 480p)"

TI2V_5B = Family(
    "Wan2.2-TI2V-5B", "Wan-AI/Wan2.2-TI2V-5B-Diffusers", "WanPipeline", 1, 48, 32, (1280, 704), 121, 24,
    50, 5.0, None, 5.0, None, "same", _5B_VRAM,
)  # fmt: skip
T2V_A14B = Family(
    "Wan2.2-T2V-A14B", "Wan-AI/Wan2.2-T2V-A14B-Diffusers", "WanPipeline", 2, 16, 16, (1280, 720), 81, 16,
    40, 4.0, 3.0, 12.0, 0.875, "checkpoint", _A14B_VRAM,
)  # fmt: skip
I2V_A14B = Family(
    "Wan2.2-I2V-A14B", "Wan-AI/Wan2.2-I2V-A14B-Diffusers", "WanImageToVideoPipeline", 2, 16, 16, (1280, 720), 81,
    16, 40, 3.5, 3.5, 5.0, 0.9, "required", _A14B_VRAM,
)  # fmt: skip
T2V_13B = Family(
    "Wan2.1-T2V-1.3B", "Wan-AI/Wan2.1-T2V-1.3B-Diffusers", "WanPipeline", 1, 16, 16, (832, 480), 81, 16,
    50, 5.0, None, 3.0, None, "checkpoint", _13B_VRAM,
)  # fmt: skip
T2V_14B = Family(
    "Wan2.1-T2V-14B", "Wan-AI/Wan2.1-T2V-14B-Diffusers", "WanPipeline", 1, 16, 16, (1280, 720), 81, 16,
    50, 5.0, None, 5.0, None, "checkpoint", _WAN21_14B_VRAM,
)  # fmt: skip
I2V_14B = Family(
    "Wan2.1-I2V-14B", "Wan-AI/Wan2.1-I2V-14B-720P-Diffusers", "WanImageToVideoPipeline", 1, 16, 16, (1280, 720),
    81, 16, 50, 5.0, None, 5.0, None, "required", _WAN21_14B_VRAM,
)  # fmt: skip
FAST_TI2V_5B = Family(
    "FastWan2.2-TI2V-5B (DMD)", "FastVideo/FastWan2.2-TI2V-5B-FullAttn-Diffusers", "WanPipeline", 1, 48, 32,
    (1280, 704), 121, 24, 3, 1.0, None, 5.0, None, "same", _5B_VRAM, "dmd", (1000, 757, 522),
)  # fmt: skip
FAST_T2V_13B = Family(
    "FastWan2.1-T2V-1.3B (DMD)", "FastVideo/FastWan2.1-T2V-1.3B-Diffusers", "WanPipeline", 1, 16, 16, (832, 480),
    81, 16, 3, 1.0, None, 8.0, None, "checkpoint", _13B_VRAM, "dmd", (1000, 757, 522),
)  # fmt: skip

FAMILIES = (TI2V_5B, T2V_A14B, I2V_A14B, T2V_13B, T2V_14B, I2V_14B, FAST_TI2V_5B, FAST_T2V_13B)
SUPPORTED = ", ".join(f.name for f in FAMILIES)
BY_HUB_ID = {f.hub_id.lower(): f for f in FAMILIES} | {
    "wan-ai/wan2.1-i2v-14b-480p-diffusers": I2V_14B,
}
DMD_PIPELINE = "WanDMDPipeline"  # FastVideo's name; diffusers has no such class (diffusers #12146)


def detect(index: Mapping[str, Any], transformer: Mapping[str, Any], where: str) -> Family:
    """The family of a checkpoint from its `model_index.json` and `transformer/config.json`."""
    pipeline = _pipeline(index, where)
    two = _present(index.get("transformer_2"))
    channels = transformer.get("in_channels")
    width = _int(transformer.get("num_attention_heads")) * _int(transformer.get("attention_head_dim"))
    image = pipeline == "WanImageToVideoPipeline" or channels == 36
    dmd = pipeline == DMD_PIPELINE
    if channels == 48 and not two:
        return FAST_TI2V_5B if dmd else TI2V_5B
    if channels in (16, 36) and two:
        return I2V_A14B if image else T2V_A14B
    if channels == 36:
        return I2V_14B
    if channels == 16:
        if dmd:
            return FAST_T2V_13B
        return T2V_14B if width >= 5120 else T2V_13B
    raise FamilyError(
        f"{where} is a {pipeline} whose transformer takes {channels!r} latent channels, which no supported "
        f"Wan model has; supported: {SUPPORTED}"
    )


def folder_family(folder: Path, where: str) -> Family:
    """The family of a pipeline folder: its `model_index.json`, then its first transformer's config."""
    index = _json(folder / "model_index.json", where)
    _pipeline(index, where)  # a non-Wan checkpoint is named as such before its parts are looked for
    transformer = folder / "transformer" / "config.json"
    if not transformer.is_file() and _present(index.get("transformer_2")):
        transformer = folder / "transformer_2" / "config.json"
    return detect(index, _json(transformer, where), where)


def _pipeline(index: Mapping[str, Any], where: str) -> str:
    pipeline = index.get("_class_name")
    if pipeline not in ("WanPipeline", "WanImageToVideoPipeline", DMD_PIPELINE):
        shown = pipeline if isinstance(pipeline, str) and pipeline.isidentifier() else "non-diffusers"
        raise FamilyError(f"{where} is a {shown} checkpoint, not a Wan pipeline; supported: {SUPPORTED}")
    return pipeline


def _json(path: Path, where: str) -> dict[str, Any]:
    name = path.relative_to(path.parent.parent).as_posix() if path.name == "config.json" else path.name
    if not path.is_file():
        raise FamilyError(f"{where} has no {name}; point it at a complete diffusers Wan pipeline folder")
    try:
        size = path.stat().st_size
        data = json.loads(path.read_text(encoding="utf-8")) if size <= MAX_CONFIG_BYTES else None
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as err:
        raise FamilyError(f"{where}: cannot read {name}: {err}") from None
    if size > MAX_CONFIG_BYTES:
        raise FamilyError(f"{where}: {name} is {size:,} bytes, larger than any diffusers config")
    if not isinstance(data, dict):
        raise FamilyError(f"{where}: {name} is not a JSON object")
    return data


def _present(entry: Any) -> bool:
    """A model_index entry names a component (`["diffusers", "WanTransformer3DModel"]`), not `[null, null]`."""
    return isinstance(entry, list) and len(entry) == 2 and all(isinstance(part, str) for part in entry)


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0
