"""The `wan` plugin's options in mkdocs.yml (names are a public contract)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mkdocs.config import base
from mkdocs.config import config_options as c

from mkdocs_wan.encode import ENCODER
from mkdocs_wan.spec import FIELDS, SpecError, parse_crf

DEFAULT_MODEL = "Wan-AI/Wan2.2-TI2V-5B-Diffusers"


class ClipOption(c.BaseConfigOption[Any]):
    """A site-wide default for a per-directive option, validated by the same parser."""

    def __init__(self, parse: Callable[[Any], Any], default: Any) -> None:
        super().__init__()
        self.parse = parse
        self.default = default

    def run_validation(self, value: object) -> Any:
        if value is None:
            return None
        try:
            return self.parse(value)
        except SpecError as err:
            raise base.ValidationError(str(err)) from None


class WanConfig(base.Config):
    model = c.Type(str, default=DEFAULT_MODEL)
    revision = c.Optional(c.Type(str))
    cache_dir = c.Type(str, default=".cache/mkdocs-wan")
    device = c.Type(str, default="auto")
    dtype = c.Choice(("auto", "bfloat16", "float16", "float32"), default="auto")
    style = c.Type(str, default="")
    generate = c.Choice(("auto", "never"), default="auto")  # never: cached clips only (CPU CI)
    crf = ClipOption(parse_crf, default=ENCODER["crf"])  # H.264 quality: lower = better, bigger
    ai_label = c.Type(bool, default=True)  # the visible "AI-generated" label under each clip
    # Speed and memory (see speed.py and the README's measured effects).
    preset = c.Choice(("final", "draft"), default="final")
    attention = c.Optional(c.Type(str))  # diffusers attention backend, e.g. "flash", "_native_cudnn"
    compile = c.Type(bool, default=False)
    memory = c.Choice(("high", "low"), default="high")
    # Where clips render: this process, or actors on a Ray cluster (one per GPU or CPU slot).
    backend = c.Choice(("local", "ray"), default="local")
    ray_address = c.Optional(c.Type(str))  # empty: start a local Ray runtime; "auto"; "ray://host:10001"
    ray_actors = c.Optional(c.Type(int))  # default: one per GPU in the cluster, else one per CPU

    frames = ClipOption(FIELDS["frames"], default=121)
    fps = ClipOption(FIELDS["fps"], default=24)
    size = ClipOption(FIELDS["size"], default="1280x704")
    steps = ClipOption(FIELDS["steps"], default=50)
    guidance = ClipOption(FIELDS["guidance"], default=5.0)
    seed = ClipOption(FIELDS["seed"], default=None)
    negative_prompt = ClipOption(FIELDS["negative_prompt"], default="")

    def clip_defaults(self) -> dict[str, Any]:
        """The parsed site defaults that `spec.build_spec` merges directive options over."""
        return {name: self[name] for name in FIELDS}
