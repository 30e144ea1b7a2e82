"""Validate a directive's options into a `ClipSpec`: everything that shapes a clip's bytes.

Validation is strict on purpose: diffusers silently rounds sizes and frame counts, which would
make the cache key describe a clip that was never made. Limits stop a typo from costing hours.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

#: Generation limits (documented in the README). A default TI2V-5B clip is 1280x704, 121 frames.
MAX_FRAMES = 241  # 10 s at 24 fps; the model was trained on 121
MAX_SIDE = 1920
MAX_TOKENS = 65_536  # latent tokens: ((frames-1)/4+1) * (W/32) * (H/32); default clip is 27,280
MAX_STEPS = 150
MAX_FPS = 60
MAX_GUIDANCE = 20.0
MAX_SEED = 2**32 - 1
SIZE_MULTIPLE = 32  # VAE stride 16 x transformer patch 2

#: Options a directive may carry that do not shape the clip's bytes.
PRESENTATION_OPTIONS = frozenset({"caption"})
#: Options that a later release will support; rejected clearly until then.
RESERVED_OPTIONS = frozenset({"image", "segments"})


class SpecError(ValueError):
    """An option value that cannot describe a clip; the message is shown to the writer."""


def _integer(name: str, value: Any) -> int:
    if isinstance(value, bool):
        raise SpecError(f"{name} must be an integer, got {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("+-").isdigit():
        return int(value)
    raise SpecError(f"{name} must be an integer, got {value!r}")


def _bounded(name: str, value: int, low: int, high: int) -> int:
    if not low <= value <= high:
        raise SpecError(f"{name} must be between {low} and {high}, got {value}")
    return value


def parse_frames(value: Any) -> int:
    frames = _bounded("frames", _integer("frames", value), 1, MAX_FRAMES)
    if frames % 4 != 1:
        lower = frames // 4 * 4 + 1
        raise SpecError(
            f"frames must be 4k+1 (the VAE packs 4 frames per latent), got {frames}; use {lower} or {lower + 4}"
        )
    return frames


def parse_fps(value: Any) -> int:
    return _bounded("fps", _integer("fps", value), 1, MAX_FPS)


def parse_steps(value: Any) -> int:
    return _bounded("steps", _integer("steps", value), 1, MAX_STEPS)


def parse_seed(value: Any) -> int:
    return _bounded("seed", _integer("seed", value), 0, MAX_SEED)


def parse_guidance(value: Any) -> float:
    if isinstance(value, bool):
        raise SpecError(f"guidance must be a number, got {value!r}")
    try:
        guidance = float(value)
    except (TypeError, ValueError):
        raise SpecError(f"guidance must be a number, got {value!r}") from None
    if not (math.isfinite(guidance) and 0.0 <= guidance <= MAX_GUIDANCE):
        raise SpecError(f"guidance must be between 0 and {MAX_GUIDANCE:g}, got {value!r}")
    return guidance


def parse_size(value: Any) -> tuple[int, int]:
    text = str(value).strip().lower()
    width, sep, height = text.partition("x")
    if not (sep and width.isdigit() and height.isdigit()):
        raise SpecError(f"size must look like WIDTHxHEIGHT (e.g. 1280x704), got {value!r}")
    w, h = int(width), int(height)
    for side in (w, h):
        if side < SIZE_MULTIPLE or side % SIZE_MULTIPLE:
            raise SpecError(
                f"size sides must be multiples of {SIZE_MULTIPLE} and at least {SIZE_MULTIPLE}, got {w}x{h}"
            )
        if side > MAX_SIDE:
            raise SpecError(f"size sides must be at most {MAX_SIDE}, got {w}x{h}")
    return w, h


def parse_text(name: str) -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        if not isinstance(value, str):
            raise SpecError(f"{name} must be text, got {value!r}")
        return value.strip()

    return parse


#: Per-directive options that are also site-wide defaults, each with its parser.
FIELDS: dict[str, Callable[[Any], Any]] = {
    "frames": parse_frames,
    "fps": parse_fps,
    "size": parse_size,
    "steps": parse_steps,
    "guidance": parse_guidance,
    "seed": parse_seed,
    "negative_prompt": parse_text("negative_prompt"),
}
KNOWN_OPTIONS = frozenset(FIELDS) | PRESENTATION_OPTIONS | {"prompt"}


@dataclass(frozen=True)
class ClipSpec:
    """Everything the model needs to make one clip; equal specs make equal clips."""

    prompt: str  # final prompt, site `style` included
    negative_prompt: str
    seed: int
    frames: int
    fps: int
    width: int
    height: int
    steps: int
    guidance: float

    @property
    def latent_tokens(self) -> int:
        """Transformer sequence length: the cost driver (attention is quadratic in it)."""
        return ((self.frames - 1) // 4 + 1) * (self.width // 32) * (self.height // 32)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def default_seed(prompt: str) -> int:
    """A seed derived from the final prompt, so unseeded clips are reproducible."""
    return int.from_bytes(hashlib.sha256(prompt.encode()).digest()[:4], "big")


def check_options(options: Mapping[str, Any]) -> None:
    """Reject option names that no release knows, and those reserved for later."""
    for name in options:
        if name in RESERVED_OPTIONS:
            raise SpecError(f"option '{name}' is not supported yet")
        if name not in KNOWN_OPTIONS:
            known = ", ".join(sorted(KNOWN_OPTIONS - {"prompt"}))
            raise SpecError(f"unknown option '{name}' (known: {known})")


def caption_of(options: Mapping[str, Any]) -> str | None:
    """The figcaption override, if the directive sets one."""
    caption = options.get("caption")
    if caption is not None and not isinstance(caption, str):
        raise SpecError(f"caption must be text, got {caption!r}")
    return caption


def build_spec(options: Mapping[str, Any], defaults: Mapping[str, Any], style: str = "") -> ClipSpec:
    """Merge a directive's options over the site defaults and validate the result.

    `options` holds `prompt` plus any per-directive options; `defaults` holds already-parsed
    site defaults (see `FIELDS`); `style` is appended to every prompt.
    """
    check_options(options)
    prompt = parse_text("prompt")(options.get("prompt", ""))
    if not prompt:
        raise SpecError("the prompt is empty")
    values = dict(defaults)
    for name, parse in FIELDS.items():
        if name in options:
            values[name] = parse(options[name])
    final_prompt = f"{prompt}, {style.strip()}" if style.strip() else prompt
    seed = values.get("seed")
    width, height = values["size"]
    spec = ClipSpec(
        prompt=final_prompt,
        negative_prompt=values["negative_prompt"],
        seed=default_seed(final_prompt) if seed is None else seed,
        frames=values["frames"],
        fps=values["fps"],
        width=width,
        height=height,
        steps=values["steps"],
        guidance=values["guidance"],
    )
    if spec.latent_tokens > MAX_TOKENS:
        raise SpecError(
            f"{spec.frames} frames at {width}x{height} is {spec.latent_tokens:,} latent tokens, "
            f"over the limit of {MAX_TOKENS:,}; use fewer frames or a smaller size"
        )
    return spec
