"""The Wan model families: what a checkpoint is, read from its own files, and the rules and
defaults that follow from it — in one place per family.

A family is recognised from the checkpoint's `model_index.json` (pipeline class, a second expert)
and its transformer's `config.json` (latent channels, width), never from its name: a renamed or
fine-tuned folder gets the rules of what it is. Only a Hub checkpoint that is not downloaded yet
falls back to its repository id, for the official and FastVideo repositories below.

Where a checkpoint's config cannot tell two models apart (Wan2.1-I2V-14B at 480P and 720P have
identical configs), the repository or folder name decides the defaults, never the rules.

How each family is sampled follows its makers' reference code, not the checkpoint's
`scheduler_config.json` (which diffusers' conversion script writes with shift 3.0 for every
non-TI2V repository): Wan-Video/Wan2.2 `wan/configs/*.py` for the Wan2.2 shifts, boundaries,
guidance pairs and the negative prompt; diffusers' Wan docs and FastVideo's pipeline configs for
Wan2.1 (shift 3.0 at 480P, 5.0 at 720P); FastVideo's DMD stage for FastWan (`render.dmd`).
"Measured" VRAM and speeds are others' measurements, not ours.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from mkdocs_wan.models.weights import tensor_names

#: What image-to-video needs: the same weights (TI2V), a second checkpoint (`image_model:`),
#: or a start picture on every clip (an I2V checkpoint).
ImageMode = Literal["same", "checkpoint", "required"]

MAX_CONFIG_BYTES = 1 << 20  # a model_index.json or config.json is a few KB
MAX_SIDE = 1920  # for every family: beyond it a clip costs hours and the models were never trained there
AREA_480P = 832 * 480  # Wan2.1 samples clips up to this area with shift 3.0, larger ones with 5.0

#: Wan's official negative prompt (`sample_neg_prompt` in Wan-Video/Wan2.2 wan/configs/shared_config.py,
#: the same in Wan2.1): what every CFG clip of Wan and FastVideo is sampled against by default.
WAN_NEGATIVE_PROMPT = (
    "色调艳丽，过曝，静态，细节模糊不清，字幕，风格，作品，画作，画面，静止，整体发灰，最差质量，低质量，JPEG压缩残留，"
    "丑陋的，残缺的，多余的手指，画得不好的手部，画得不好的脸部，畸形的，毁容的，形态畸形的肢体，手指融合，静止不动的画面，"
    "杂乱的背景，三条腿，背景人很多，倒着走"
)


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
    flow_shift_480p: float | None = None  # Wan2.1: the shift of clips up to 480P's area
    sparse: bool = False  # published VSA-distilled: its blocks carry weights diffusers' transformer lacks

    @property
    def distilled(self) -> bool:
        return self.sampler == "dmd"

    @property
    def negative_prompt(self) -> str:
        """The default negative prompt: Wan's for models sampled with CFG, none for distilled ones."""
        return "" if self.distilled else WAN_NEGATIVE_PROMPT

    def shift_for(self, width: int, height: int) -> float:
        """The flow shift Wan samples a clip of this size with (not used by DMD: see `render.dmd`)."""
        if self.flow_shift_480p is not None and width * height <= AREA_480P:
            return self.flow_shift_480p
        return self.flow_shift

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


def sampler_name(family: Family, width: int, height: int, solver: str | None, flow_shift: float | None) -> str:
    """How a clip is sampled, as its key records it: "dmd:1000,757,522" (a DMD checkpoint's own
    fixed timesteps: neither solver nor shift applies), else "SOLVER@SHIFT" where SOLVER is `ode`
    (the checkpoint's own scheduler), `unipc` or `euler`, and SHIFT the site's or the family's."""
    if family.distilled:
        return "dmd:" + ",".join(map(str, family.dmd_timesteps))
    shift = family.shift_for(width, height) if flow_shift is None else flow_shift
    return f"{solver or 'ode'}@{shift:g}"


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
_FASTWAN = (1000, 757, 522)  # FastVideo's dmd_denoising_steps for every FastWan checkpoint

# Positional: name, hub id, pipeline, experts, latent channels, size multiple, size, frames, fps,
# steps, guidance, guidance_2, flow shift (720P), boundary, image mode, VRAM.
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
    50, 5.0, None, 5.0, None, "checkpoint", _13B_VRAM, flow_shift_480p=3.0,
)  # fmt: skip
T2V_14B = Family(
    "Wan2.1-T2V-14B", "Wan-AI/Wan2.1-T2V-14B-Diffusers", "WanPipeline", 1, 16, 16, (1280, 720), 81, 16,
    50, 5.0, None, 5.0, None, "checkpoint", _WAN21_14B_VRAM, flow_shift_480p=3.0,
)  # fmt: skip
I2V_14B = Family(
    "Wan2.1-I2V-14B-720P", "Wan-AI/Wan2.1-I2V-14B-720P-Diffusers", "WanImageToVideoPipeline", 1, 16, 16,
    (1280, 720), 81, 16, 40, 5.0, None, 5.0, None, "required", _WAN21_14B_VRAM, flow_shift_480p=3.0,
)  # fmt: skip
I2V_14B_480P = Family(
    "Wan2.1-I2V-14B-480P", "Wan-AI/Wan2.1-I2V-14B-480P-Diffusers", "WanImageToVideoPipeline", 1, 16, 16,
    (832, 480), 81, 16, 40, 5.0, None, 5.0, None, "required", _WAN21_14B_VRAM, flow_shift_480p=3.0,
)  # fmt: skip
FAST_TI2V_5B = Family(
    "FastWan2.2-TI2V-5B (DMD)", "FastVideo/FastWan2.2-TI2V-5B-FullAttn-Diffusers", "WanPipeline", 1, 48, 32,
    (1280, 704), 121, 24, 3, 1.0, None, 5.0, None, "same", _5B_VRAM, "dmd", _FASTWAN,
)  # fmt: skip
FAST_T2V_13B = Family(
    "FastWan2.1-T2V-1.3B (DMD, VSA)", "FastVideo/FastWan2.1-T2V-1.3B-Diffusers", "WanPipeline", 1, 16, 16,
    (832, 448), 61, 16, 3, 1.0, None, 8.0, None, "checkpoint", _13B_VRAM, "dmd", _FASTWAN, sparse=True,
)  # fmt: skip
FAST_T2V_14B = Family(
    "FastWan2.1-T2V-14B-480P (DMD, VSA)", "FastVideo/FastWan2.1-T2V-14B-480P-Diffusers", "WanPipeline", 1, 16,
    16, (832, 448), 61, 16, 3, 1.0, None, 8.0, None, "checkpoint", _WAN21_14B_VRAM, "dmd", _FASTWAN, sparse=True,
)  # fmt: skip

FAMILIES = (
    TI2V_5B, T2V_A14B, I2V_A14B, T2V_13B, T2V_14B, I2V_14B, I2V_14B_480P, FAST_TI2V_5B, FAST_T2V_13B, FAST_T2V_14B,
)  # fmt: skip
SUPPORTED = ", ".join(f.name for f in FAMILIES)
BY_HUB_ID = {f.hub_id.lower(): f for f in FAMILIES}
#: The dense checkpoint to use where a sparse (VSA) one cannot run correctly in diffusers.
DENSE_ALTERNATIVE = FAST_TI2V_5B
DMD_PIPELINE = "WanDMDPipeline"  # FastVideo's name; diffusers has no such class (diffusers #12146)


def detect(index: Mapping[str, Any], transformer: Mapping[str, Any], where: str, name: str = "") -> Family:
    """The family of a checkpoint from its `model_index.json` and `transformer/config.json`;
    `name` (the repository id or folder path) only tells Wan2.1-I2V-14B's 480P release from its
    720P one, whose configs are identical."""
    pipeline = _pipeline(index, where)
    two = _present(index.get("transformer_2"))
    channels = _int(transformer.get("in_channels"))  # 48.0 is not a diffusers config's 48: refused, not guessed
    width = _int(transformer.get("num_attention_heads")) * _int(transformer.get("attention_head_dim"))
    image = pipeline == "WanImageToVideoPipeline" or channels == 36
    dmd = pipeline == DMD_PIPELINE
    if channels == 48 and not two:
        return FAST_TI2V_5B if dmd else TI2V_5B
    if channels in (16, 36) and two:
        return I2V_A14B if image else T2V_A14B
    if channels == 36:
        return I2V_14B_480P if "480p" in name.lower() else I2V_14B
    if channels == 16:
        if dmd:
            return FAST_T2V_14B if width >= 5120 else FAST_T2V_13B
        return T2V_14B if width >= 5120 else T2V_13B
    given = transformer.get("in_channels")
    raise FamilyError(
        f"{where} is a {pipeline} whose transformer takes {given!r} latent channels, which no supported "
        f"Wan model has; supported: {SUPPORTED}"
    )


def folder_family(folder: Path, where: str, name: str = "") -> Family:
    """The family of a pipeline folder: its `model_index.json`, then its first transformer's config."""
    index = _json(folder / "model_index.json", where)
    _pipeline(index, where)  # a non-Wan checkpoint is named as such before its parts are looked for
    transformer = folder / "transformer" / "config.json"
    if not transformer.is_file() and _present(index.get("transformer_2")):
        transformer = folder / "transformer_2" / "config.json"
    family = detect(index, _json(transformer, where), where, name or folder.as_posix())
    if family.sparse:
        family = _sparse_checked(family, folder / transformer.parent.name, where)
    return family


def sparse_problem(family: Family, where: str) -> str | None:
    """Why a sparse-distilled (VSA) checkpoint cannot run here: diffusers' dense transformer would
    drop its `to_gate_compress` weights and attend densely — not the model as it was trained."""
    if not family.sparse:
        return None
    return (
        f"{where} is {family.name}: sparse-distilled with Video Sparse Attention, whose gate weights "
        f"diffusers' Wan transformer does not have (it would run dense, not as trained); use the dense "
        f"{DENSE_ALTERNATIVE.hub_id} (3 steps), or FastVideo itself for this checkpoint"
    )


def _sparse_checked(family: Family, transformer: Path, where: str) -> Family:
    """A FastWan2.1 folder whose weights carry no VSA gates is a dense DMD model: it runs."""
    names = tensor_names(transformer)
    if names is not None and not any("to_gate_compress" in n for n in names):
        return replace(family, name=family.name.replace(", VSA", ""), sparse=False)
    return family


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
