"""The one option schema, shared by the MkDocs plugin and the Markdown extension.

Each option is declared once — name, default, parser, help — with no MkDocs import:
`config.py` turns it into MkDocs' `base.Config`, `extension.py` into Python-Markdown's config,
so both front ends accept the same names and values and report the same messages.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from mkdocs_wan.keys import model_fingerprint
from mkdocs_wan.models import ModelRef
from mkdocs_wan.spec import FIELDS, SpecError, check_text, parse_bool, parse_crf

if TYPE_CHECKING:
    from mkdocs_wan.credentials import Signer

DEFAULT_MODEL = "Wan-AI/Wan2.2-TI2V-5B-Diffusers"


def _text(name: str) -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        if not isinstance(value, str):
            raise SpecError(f"{name} must be text, got {value!r}")
        return check_text(name, value, limit=4_096)

    return parse


def _nonempty(name: str) -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        if not _text(name)(value).strip():
            raise SpecError(f"{name} must not be empty")
        return value

    return parse


def _choice(name: str, *choices: str) -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        if value not in choices:
            raise SpecError(f"{name} must be one of {', '.join(choices)}, got {value!r}")
        return value

    return parse


def _flag(name: str) -> Callable[[Any], bool]:
    return lambda value: parse_bool(name, value)


def _count(name: str) -> Callable[[Any], int]:
    def parse(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise SpecError(f"{name} must be a whole number of at least 1, got {value!r}")
        return value

    return parse


def _site_roots(value: Any) -> list[str]:
    """`fetch_from`: one URL or a list of site roots, http(s) only (never a file or other scheme)."""
    roots = [value] if isinstance(value, str) else value
    if not isinstance(roots, list) or not roots:
        raise SpecError(f"fetch_from must be a URL or a list of URLs, got {value!r}")
    checked = []
    for root in roots:
        if not isinstance(root, str):
            raise SpecError(f"fetch_from must be a URL or a list of URLs, got {root!r}")
        try:
            parts = urlsplit(check_text("fetch_from", root.strip(), limit=2_000))
            valid = parts.scheme in ("http", "https") and bool(parts.hostname) and parts.port != 0
        except ValueError:  # e.g. "http://[::1" or a port over 65535
            valid = False
        if not valid or parts.query or parts.fragment:
            raise SpecError(
                f"fetch_from takes http(s) site roots such as https://docs.example.com/, got {root[:200]!r}"
            )
        checked.append(root.strip().rstrip("/") + "/")
    return checked


@dataclass(frozen=True)
class Option:
    """One option: its default, the parser that validates a value, and a line of help.

    `optional` options accept None (and, from engines that pass strings, ""), meaning "unset".
    """

    default: Any
    parse: Callable[[Any], Any]
    help: str
    optional: bool = False

    def validate(self, value: Any) -> Any:
        if self.optional and value in (None, ""):
            return None
        return self.parse(value)


OPTIONS: dict[str, Option] = {
    "model": Option(DEFAULT_MODEL, _nonempty("model"), "Hub id, local folder (relative to mkdocs.yml), or `tiny`"),
    "revision": Option(None, _text("revision"), "Hub revision (branch, tag or commit)", optional=True),
    "cache_dir": Option(".cache/mkdocs-wan", _text("cache_dir"), "the clip cache (relative to mkdocs.yml)"),
    "device": Option("auto", _text("device"), "torch device: auto, cuda, cuda:1, mps, cpu"),
    "dtype": Option("auto", _choice("dtype", "auto", "bfloat16", "float16", "float32"), "torch dtype"),
    "style": Option("", _text("style"), "appended to every prompt"),
    "generate": Option("auto", _choice("generate", "auto", "never"), "never: cached clips only (CPU CI)"),
    "crf": Option(20, parse_crf, "H.264 quality: lower = better and bigger"),
    "ai_label": Option(True, _flag("ai_label"), "the visible AI-generated label under each clip"),
    "preset": Option("final", _choice("preset", "final", "draft"), "draft: fewer steps and a cache hook"),
    "attention": Option(None, _text("attention"), "diffusers attention backend, e.g. flash", optional=True),
    "compile": Option(False, _flag("compile"), "compile the transformer's repeated blocks"),
    "memory": Option("high", _choice("memory", "high", "low"), "low: group offload and VAE tiling (~24 GB GPUs)"),
    "credentials": Option(True, _flag("credentials"), "sign every generated clip with C2PA Content Credentials"),
    "signing_cert": Option(None, _text("signing_cert"), "PEM certificate chain for Content Credentials", optional=True),
    "signing_key": Option(None, _text("signing_key"), "PEM private key of signing_cert", optional=True),
    "fetch_from": Option(None, _site_roots, "published sites to fetch missing clips from", optional=True),
    "backend": Option("local", _choice("backend", "local", "ray"), "render here or on a Ray cluster"),
    "ray_address": Option(None, _text("ray_address"), "empty: local Ray runtime; auto; ray://host:10001", True),
    "ray_actors": Option(None, _count("ray_actors"), "default: one per GPU, else one per CPU", optional=True),
    "frames": Option(121, FIELDS["frames"], "frames per clip (4k+1)"),
    "fps": Option(24, FIELDS["fps"], "frames per second"),
    "size": Option("1280x704", FIELDS["size"], "WIDTHxHEIGHT, multiples of 32"),
    "steps": Option(50, FIELDS["steps"], "denoising steps"),
    "guidance": Option(5.0, FIELDS["guidance"], "classifier-free guidance scale"),
    "seed": Option(None, FIELDS["seed"], "default: derived from the prompt", optional=True),
    "negative_prompt": Option("", FIELDS["negative_prompt"], "what clips should avoid"),
}


def parse_options(values: Mapping[str, Any]) -> dict[str, Any]:
    """Validate raw option values (missing ones take their default); SpecError names the option."""
    return {name: option.validate(values.get(name, option.default)) for name, option in OPTIONS.items()}


@dataclass(frozen=True)
class Tuning:
    """How fast and where the math runs; none of it is in a cache key (see `speed.py`)."""

    attention: str | None = None  # a diffusers attention backend name, e.g. "flash" or "_native_cudnn"
    compile: bool = False
    memory: str = "high"  # "low": group offload + VAE tiling, for ~24 GB GPUs


@dataclass(frozen=True)
class Settings:
    """Parsed options plus what follows from them; every stage reads the site from here."""

    options: Mapping[str, Any] = field(hash=False)
    base_dir: Path  # relative `model` and `cache_dir` paths start here (mkdocs.yml's folder)
    docs_dir: Path

    @classmethod
    def from_options(cls, values: Mapping[str, Any], base_dir: Path, docs_dir: Path) -> Settings:
        return cls(parse_options(values), base_dir.resolve(), docs_dir.resolve())

    def __getitem__(self, name: str) -> Any:
        return self.options[name]

    @cached_property
    def model(self) -> ModelRef:
        return ModelRef.resolve(self["model"], self.base_dir, self["revision"])

    @cached_property
    def fingerprint(self) -> str:
        return model_fingerprint(self.model, self["dtype"])

    @property
    def cache_root(self) -> Path:
        return (self.base_dir / self["cache_dir"]).resolve()

    @property
    def clip_defaults(self) -> dict[str, Any]:
        """The parsed site defaults that `spec.build_spec` merges directive options over."""
        return {name: self[name] for name in FIELDS}

    @property
    def tuning(self) -> Tuning:
        return Tuning(self["attention"], self["compile"], self["memory"])

    def check_placement(self, site_dir: Path | None) -> None:
        """Refuse a `cache_dir` that a build would wipe (inside site_dir) or publish (inside
        docs_dir: every prompt in the index, the tiny model, the lock files), or that is a file."""
        root = self.cache_root
        places = [("docs_dir", self.docs_dir, "the site would publish the index (every prompt), models and locks")]
        if site_dir is not None:
            places.append(("site_dir", site_dir.resolve(), "each build deletes it, so every clip would regenerate"))
        for name, folder, why in places:
            if root == folder or root.is_relative_to(folder):
                raise SpecError(
                    f"cache_dir {root} is inside {name} ({folder}): {why}; put it beside them, e.g. the "
                    "default `.cache/mkdocs-wan` next to mkdocs.yml"
                )
        if root.exists() and not root.is_dir():
            raise SpecError(f"cache_dir {root} is a file, not a folder; point `cache_dir` at a folder")
        for part in ("clips", "index"):
            if (root / part).exists() and not (root / part).is_dir():
                raise SpecError(f"{root / part} should be a folder of the clip cache but is a file; move it away")

    @cached_property
    def signer(self) -> Signer | None:
        """Signs each clip made for this site (None with `credentials: false`)."""
        from mkdocs_wan.credentials import signer_for
        from mkdocs_wan.layout import CacheLayout

        folder = CacheLayout(self.cache_root).credentials
        return signer_for(self["credentials"], self["signing_cert"], self["signing_key"], self.base_dir, folder)

    @property
    def meta(self) -> dict[str, str]:
        """What every cached clip's index record says about its model."""
        return {"model": self.model.name, "fingerprint": self.fingerprint}
