"""Validate a directive's options into a `ClipSpec`: everything that shapes a clip's bytes.

Validation is strict on purpose: diffusers silently rounds sizes and frame counts, which would
make the cache key describe a clip that was never made. Limits stop a typo from costing hours.
"""

from __future__ import annotations

import functools
import hashlib
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

from mkdocs_wan.models.families import TI2V_5B, WAN_NEGATIVE_PROMPT, Family

#: Generation limits (documented in the README). A default TI2V-5B clip is 1280x704, 121 frames.
MAX_FRAMES = 241  # 10 s at 24 fps; the model was trained on 121
MAX_TOKENS = 65_536  # TI2V-5B latent tokens: ((frames-1)/4+1) * (W/32) * (H/32); its default clip is 27,280
MAX_STEPS = 150
MAX_FPS = 60
MAX_GUIDANCE = 20.0
MAX_SEED = 2**32 - 1

#: UMT5 reads 512 tokens (about 2,000 characters of English); longer text would be cut off
#: silently, and it lands in the MP4's title tag and the page, so it is refused instead.
MAX_PROMPT_CHARS = 2_000

MAX_SEGMENTS = 8  # drift makes more than ~5-6 chained segments incoherent anyway
DEFAULT_TRANSITION = 4  # crossfade frames between segments

#: Options a directive may carry that do not shape the clip's bytes.
PRESENTATION_OPTIONS = frozenset({"caption", "alt", "autoplay", "loop", "controls"})
#: Options resolved by other stages (the picture by `images`, segments by `plan`).
STRUCTURE_OPTIONS = frozenset({"image", "segments", "transition"})


class SpecError(ValueError):
    """An option value that cannot describe a clip; the message is shown to the writer.
    `option` names the option at fault, where one is (a fenced block's message points at its line)."""

    def __init__(self, message: str, option: str | None = None) -> None:
        super().__init__(message)
        self.option = option


_CONTROL = re.compile("[\x01-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")  # C0 (but tab, newline, CR), DEL, C1
_BIDI = re.compile("[\u202a-\u202e\u2066-\u2069]")  # embeddings, overrides, isolates (not the marks LRM/RLM)
_INTEGER = re.compile(r"[+-]?[0-9]{1,18}")  # ASCII digits only: int() reads other scripts' digits too
_SIZE = re.compile(r"([0-9]{1,5})x([0-9]{1,5})")


def _integer(name: str, value: Any) -> int:
    if isinstance(value, bool):
        raise SpecError(f"{name} must be an integer, got {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and _INTEGER.fullmatch(value.strip()):
        return int(value)
    raise SpecError(f"{name} must be an integer, got {_shown(value)}")


def _shown(value: Any, limit: int = 60) -> str:
    """A value as a message may quote it: repr (so NUL and surrogates are escaped), shortened."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def check_text(name: str, value: str, limit: int = MAX_PROMPT_CHARS) -> str:
    """Text that the encoder, the MP4 tags and the page can all carry: no NUL, no lone surrogate
    (copy-paste debris that no UTF-8 file can hold), and at most `limit` characters."""
    if "\0" in value:
        raise SpecError(f"{name} contains a NUL character")
    if control := _CONTROL.search(value):
        raise SpecError(
            f"{name} contains a control character (U+{ord(control[0]):04X}); remove it: in a log or terminal it "
            "could hide or fake other lines"
        )
    if bidi := _BIDI.search(value):
        raise SpecError(
            f"{name} contains a bidirectional override (U+{ord(bidi[0]):04X}); remove it: it makes text show in "
            "another order than it was written"
        )
    if any("\ud800" <= char <= "\udfff" for char in value):
        raise SpecError(f"{name} contains an unpaired surrogate (broken Unicode), e.g. from a bad copy-paste")
    if len(value) > limit:
        raise SpecError(f"{name} is {len(value):,} characters long, over the limit of {limit:,}")
    return value


def _bounded(name: str, value: int, low: int, high: int) -> int:
    if not low <= value <= high:
        raise SpecError(f"{name} must be between {low} and {high}, got {_shown(value)}")
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


def parse_crf(value: Any) -> int:
    return _bounded("crf", _integer("crf", value), 0, 51)


def parse_guidance(value: Any) -> float:
    if isinstance(value, bool) or (isinstance(value, str) and not value.isascii()):
        raise SpecError(f"guidance must be a number, got {_shown(value)}")
    try:
        guidance = float(value)
    except (TypeError, ValueError, OverflowError):
        raise SpecError(f"guidance must be a number, got {_shown(value)}") from None
    if not (math.isfinite(guidance) and 0.0 <= guidance <= MAX_GUIDANCE):
        raise SpecError(f"guidance must be between 0 and {MAX_GUIDANCE:g}, got {_shown(value)}")
    return guidance


def parse_size(value: Any) -> tuple[int, int]:
    """WIDTHxHEIGHT; the model family checks its sides (multiple, at most MAX_SIDE) in `_checked`."""
    match = _SIZE.fullmatch(str(value).strip().lower()) if isinstance(value, str) else None
    if not match:
        raise SpecError(f"size must look like WIDTHxHEIGHT (e.g. 1280x704), got {_shown(value)}")
    w, h = int(match[1]), int(match[2])
    return w, h


def parse_guidance_2(value: Any) -> float:
    try:
        return parse_guidance(value)
    except SpecError as err:
        raise SpecError(str(err).replace("guidance", "guidance_2", 1)) from None


def parse_text(name: str) -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        if not isinstance(value, str):
            raise SpecError(f"{name} must be text, got {_shown(value)}")
        return check_text(name, value.strip())

    return parse


#: Per-directive options that are also site-wide defaults, each with its parser.
FIELDS: dict[str, Callable[[Any], Any]] = {
    "frames": parse_frames,
    "fps": parse_fps,
    "size": parse_size,
    "steps": parse_steps,
    "guidance": parse_guidance,
    "guidance_2": parse_guidance_2,
    "seed": parse_seed,
    "negative_prompt": parse_text("negative_prompt"),
}
KNOWN_OPTIONS = frozenset(FIELDS) | PRESENTATION_OPTIONS | STRUCTURE_OPTIONS | {"prompt"}


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
    image: str | None = None  # identity of the start picture: "sha256:…" or "clip:<key>" (last frame)
    cache_hook: str = ""  # a diffusers cache hook that trades fidelity for speed (the draft preset)
    # Added with the model families; in a key only when set, so earlier clips keep their keys.
    guidance_2: float | None = None  # the low-noise expert's guidance (two-expert models)
    sampler: str = ""  # how it is sampled (`families.sampler_name`): "ode@12", "euler@5", "dmd:1000,757,522"
    lora: str = ""  # sha256 of each LoRA file and the transformer it loads into

    @property
    def latent_tokens(self) -> int:
        """TI2V-5B's transformer sequence length (`Family.latent_tokens` for any family)."""
        return TI2V_5B.latent_tokens(self.frames, self.width, self.height)

    def as_dict(self) -> dict[str, Any]:
        """The fields as a flat dict (all plain values, so no deep copy), later ones only when set."""
        values = {name: getattr(self, name) for name in _FIELD_NAMES}
        return {name: v for name, v in values.items() if name not in _LATER_FIELDS or v != _LATER_FIELDS[name]}


_LATER_FIELDS: dict[str, Any] = {"guidance_2": None, "sampler": "", "lora": ""}
_FIELD_NAMES = tuple(f.name for f in fields(ClipSpec))


def styled(prompt: str, style: str) -> str:
    """The prompt the model (and the MP4's title tag) gets: the writer's, then the site `style`."""
    return f"{prompt}, {style.strip()}" if style.strip() else prompt


@functools.lru_cache(maxsize=4096)  # pure; the site's negative prompt is the same for every clip
def model_text(text: str) -> str:
    """The text Wan's text encoder actually reads: diffusers' Wan pipelines clean every prompt
    (ftfy, HTML entities unescaped twice, whitespace collapsed), so NFC and NFD forms, `&amp;` and
    `&`, curly and straight quotes reach the model as one text. Keys are made from this text, to
    its fixed point, so the pipeline's own cleaning changes nothing more and equal keys mean
    equal model input. The page keeps its own text for display."""
    if text in CLEANED:
        return CLEANED[text]
    for _ in range(8):  # each pass unescapes at most three levels of entities; prompts are short
        cleaned = _clean(text)
        if cleaned == text:
            break
        text = cleaned
    return text


#: Known texts and what cleaning makes of them (ftfy folds the full-width commas; a test checks each
#: against ftfy itself): Wan's default negative prompt is in nearly every key, and it alone would
#: import ftfy (60 ms) into every cached build.
CLEANED = {WAN_NEGATIVE_PROMPT: WAN_NEGATIVE_PROMPT.replace("\uff0c", ",")}


def _clean(text: str) -> str:
    if not text.isascii() or "&" in text:  # ftfy is the identity on other ASCII text: skip its import
        import html

        import ftfy

        text = html.unescape(html.unescape(ftfy.fix_text(text)))
    return " ".join(text.split())


def default_seed(prompt: str) -> int:
    """A seed derived from the final prompt, so unseeded clips are reproducible."""
    return int.from_bytes(hashlib.sha256(prompt.encode()).digest()[:4], "big")


def check_options(options: Mapping[str, Any]) -> None:
    """Reject option names that no release knows."""
    for name in options:
        if name not in KNOWN_OPTIONS:
            known = sorted(KNOWN_OPTIONS - {"prompt"})
            import difflib  # only for a did-you-mean

            close = difflib.get_close_matches(str(name), known, n=1) if isinstance(name, str) else []
            hint = f"did you mean {close[0]}? " if close else ""
            raise SpecError(
                f"unknown option {_shown(name)} ({hint}known: {', '.join(known)})",
                str(name) if isinstance(name, str) else None,
            )


@dataclass(frozen=True)
class Presentation:
    """How the page shows a clip; none of it changes the clip's bytes."""

    caption: str | None = None  # None: the prompt; "": no caption
    alt: str | None = None  # accessible name; default: the prompt
    autoplay: bool = True
    loop: bool = True
    controls: bool = True


_TRUE, _FALSE = {"true", "yes", "on", "1"}, {"false", "no", "off", "0"}


def parse_bool(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE | _FALSE:
        return text in _TRUE
    raise SpecError(f"{name} must be true or false, got {_shown(value)}")


def presentation_of(options: Mapping[str, Any]) -> Presentation:
    """Read caption/alt/autoplay/loop/controls; `caption=false` hides the caption."""
    caption = options.get("caption")
    if caption is False or (isinstance(caption, str) and caption.strip().lower() == "false"):
        caption = ""
    for name, value in (("caption", caption), ("alt", options.get("alt"))):
        if value is not None and not isinstance(value, str):
            raise SpecError(f"{name} must be text, got {_shown(value)}")
        if value:
            check_text(name, value)
    flags = {name: parse_bool(name, options[name]) for name in ("autoplay", "loop", "controls") if name in options}
    return Presentation(caption=caption, alt=options.get("alt"), **flags)


def build_spec(
    options: Mapping[str, Any],
    defaults: Mapping[str, Any],
    style: str = "",
    image: str | None = None,
    family: Family = TI2V_5B,
    continues: bool = False,
) -> ClipSpec:
    """Merge a directive's options over the site defaults and validate the result.

    `options` holds `prompt` plus any per-directive options; `defaults` holds already-parsed
    site defaults (see `FIELDS`); `style` is appended to every prompt; `image` identifies the
    start picture, if any; `family` the model's rules; `continues`: the clip starts from the
    previous segment's last frame (the planner names that picture).
    """
    check_options(options)
    if "transition" in options:
        raise SpecError("transition only applies to a directive with segments")
    try:
        prompt = parse_text("prompt")(options.get("prompt", ""))
    except SpecError as err:
        raise SpecError(str(err), "prompt") from None
    if not prompt:
        raise SpecError("the prompt is empty")
    values = dict(defaults)
    for name, parse in FIELDS.items():
        if name in options:
            try:
                values[name] = parse(options[name])
            except SpecError as err:
                raise SpecError(str(err), name) from None
    if "guidance" in options and "guidance_2" not in options:
        values["guidance_2"] = None  # one guidance given: both experts use it (as diffusers does)
    final_prompt = model_text(check_text("the prompt with the site style", styled(prompt, check_text("style", style))))
    if not final_prompt:
        raise SpecError("the prompt is empty once cleaned the way the model reads it")
    seed = values.get("seed")
    width, height = values["size"]
    return _checked(
        ClipSpec(
            prompt=final_prompt,
            negative_prompt=model_text(values["negative_prompt"]),
            seed=default_seed(final_prompt) if seed is None else seed,
            frames=values["frames"],
            fps=values["fps"],
            width=width,
            height=height,
            steps=values["steps"],
            guidance=values["guidance"],
            image=image,
            guidance_2=values.get("guidance_2"),
        ),
        family,
        has_image=image is not None or continues,
    )


def build_segment_specs(
    options: Mapping[str, Any],
    defaults: Mapping[str, Any],
    style: str = "",
    image: str | None = None,
    family: Family = TI2V_5B,
) -> tuple[list[ClipSpec], int]:
    """Validate a `segments:` directive into one spec per segment, plus the crossfade length.

    Segment seeds form a family derived from the directive's seed (or the first prompt) and the
    site style, so editing segment 3 leaves the seeds, and clips, of segments 1-2 unchanged.
    Each later segment's `image` is filled in by the planner (the previous segment's last frame).
    """
    check_options(options)
    segments = options["segments"]
    if not isinstance(segments, list) or not segments:
        raise SpecError("segments must be a non-empty list of prompts or of {prompt, frames} mappings")
    if len(segments) > MAX_SEGMENTS:
        raise SpecError(f"at most {MAX_SEGMENTS} segments, got {len(segments)}; drift makes longer chains incoherent")
    shared = {k: v for k, v in options.items() if k in FIELDS and k != "seed"}
    specs = []
    for number, segment in enumerate(segments, start=1):
        item = {"prompt": segment} if isinstance(segment, str) else segment
        stray = sorted(str(k) for k in set(item) - {"prompt", "frames"}) if isinstance(item, dict) else []
        if not isinstance(item, dict) or stray:
            what = f" (not {stray[0]!r})" if stray else ""
            raise SpecError(
                f"segment {number} must be a prompt or a mapping with prompt and frames{what}",
                stray[0] if stray else None,
            )
        try:
            spec = build_spec({**shared, **item}, defaults, style, image if number == 1 else None, family, number > 1)
        except SpecError as err:
            raise SpecError(f"segment {number}: {err}", err.option) from None
        specs.append(spec)
    seed = parse_seed(options["seed"]) if "seed" in options else defaults.get("seed")
    base = specs[0].seed if seed is None else seed
    specs = [replace(s, seed=default_seed(f"{base}/{style.strip()}/{i}")) for i, s in enumerate(specs)]
    transition = _integer("transition", options.get("transition", DEFAULT_TRANSITION))
    shortest = min(s.frames for s in specs)
    if (len(specs) > 1 or "transition" in options) and not 0 <= transition < shortest:
        raise SpecError(
            f"transition must be between 0 and {shortest - 1} (fewer frames than the shortest segment's "
            f"{shortest}), got {transition}"
        )
    return specs, transition


def _checked(spec: ClipSpec, family: Family, has_image: bool) -> ClipSpec:
    """The family's rules: its size multiple, its steps and guidance, what it needs for pictures,
    and a token budget equal in pixels x frames to TI2V-5B's."""
    problem = family.size_problem(spec.width, spec.height) or family.clip_problem(
        spec.steps, spec.guidance, spec.guidance_2, has_image
    )
    if problem:
        raise SpecError(problem)
    tokens = family.latent_tokens(spec.frames, spec.width, spec.height)
    limit = MAX_TOKENS * (TI2V_5B.size_multiple // family.size_multiple) ** 2
    if tokens > limit:
        raise SpecError(
            f"{spec.frames} frames at {spec.width}x{spec.height} is {tokens:,} latent tokens, "
            f"over the limit of {limit:,}; use fewer frames or a smaller size"
        )
    return spec
