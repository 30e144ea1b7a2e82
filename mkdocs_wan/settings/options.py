"""The one option schema, shared by the MkDocs plugin and the Markdown extension.

Each option is declared once — name, default, parser, help — with no MkDocs import:
`config.py` turns it into MkDocs' `base.Config`, `extension.py` into Python-Markdown's config,
so both front ends accept the same names and values and report the same messages.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from mkdocs_wan.models.families import I2V_14B, I2V_A14B, Family, FamilyError, sparse_problem
from mkdocs_wan.models.reference import ModelRef
from mkdocs_wan.page.spec import FIELDS, SpecError, check_text, parse_bool, parse_crf
from mkdocs_wan.settings.digests import MEMO_NAME, file_digest

DEFAULT_MODEL = "Wan-AI/Wan2.2-TI2V-5B-Diffusers"

#: `preset: draft`: 40% of the final steps (50 -> 20, at least 4) and a FirstBlockCache hook.
DRAFT_STEP_FRACTION = 0.4
DRAFT_HOOK = "first-block-cache:0.1"  # FirstBlockCache residual threshold for drafts


def draft_steps(steps: int) -> int:
    return max(4, round(steps * DRAFT_STEP_FRACTION))


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


def _count(name: str, most: int) -> Callable[[Any], int]:
    def parse(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= most:
            raise SpecError(f"{name} must be a whole number from 1 to {most:,}, got {str(value)[:40]!r}")
        return value

    return parse


_DEVICE = re.compile(r"auto|cpu|mps|(?:cuda|xpu|npu)(?::[0-9]{1,2})?")


def _anchors(value: Any) -> list[str]:
    """`trust_anchors`: one or a few PEM files (or PEM text) of the root certificates whose
    signers this site trusts for fetched clips."""
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list) or not 1 <= len(values) <= 16 or not all(isinstance(v, str) for v in values):
        raise SpecError("trust_anchors must be a PEM file path (or PEM text), or a list of up to 16")
    return [check_text("trust_anchors", v.strip(), limit=64_000) for v in values]


def _templates(value: Any) -> Any:
    from mkdocs_wan.page.templates import parse_templates  # only for a site with templates

    return parse_templates(value)


def _policy(value: Any) -> Any:
    from mkdocs_wan.page.policy import parse_policy  # only for a site with a policy

    return parse_policy(value)


def _labels(value: Any) -> list[str]:
    """`safety_labels`: the classifier labels that flag a clip."""
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list) or not 1 <= len(values) <= 32 or not all(isinstance(v, str) and v for v in values):
        raise SpecError("safety_labels must be a label or a list of up to 32 labels of the safety_model")
    return [check_text("safety_labels", v, limit=200) for v in values]


def _threshold(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
        raise SpecError(f"safety_threshold must be a score from 0 to 1, got {str(value)[:40]!r}")
    return float(value)


def _review_file(value: Any) -> str:
    text = _nonempty("review_file")(value).strip()
    if "\n" in text or text.endswith(("/", "\\")):
        raise SpecError(f"review_file must be a file name such as mkdocs-wan-reviews.yml, got {text[:60]!r}")
    return text


def _device(value: Any) -> str:
    """A torch device string, checked before any model loads (a typo used to cost the whole load)."""
    if not isinstance(value, str) or not _DEVICE.fullmatch(value.strip()):
        raise SpecError(f"device must be auto, cpu, mps, cuda or cuda:N (also xpu, npu), got {str(value)[:40]!r}")
    return value.strip()


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


def _shift(value: Any) -> float:
    """`flow_shift`: a positive number (Wan uses 3 to 12)."""
    try:
        shift = float(value) if not isinstance(value, bool) and isinstance(value, (int, float, str)) else -1.0
    except ValueError:
        shift = -1.0
    if not 0 < shift <= 100:
        raise SpecError(f"flow_shift must be a number above 0 and at most 100, got {str(value)[:40]!r}")
    return shift


def _negative(value: Any) -> str:
    """`negative_prompt`: text, or `false` for none (unset or empty: the family's default)."""
    return "" if value is False else FIELDS["negative_prompt"](value)


LORA_TARGETS = ("transformer", "transformer_2")


def _image_loras(value: Any) -> dict[str, str]:
    """`image_lora`: LoRA file(s) for `image_model`, as `lora`; `false`: run it without one."""
    return {} if value is False else _loras(value)


def _loras(value: Any) -> dict[str, str]:
    """`lora`: one file for the (first) transformer, or {transformer: file, transformer_2: file}
    (Wan2.2-Lightning has one LoRA per A14B expert)."""
    files = {"transformer": value} if isinstance(value, str) else value
    if not isinstance(files, dict) or not files or set(files) - set(LORA_TARGETS):
        raise SpecError(f"lora must be a file or a mapping of transformer / transformer_2 to files, got {value!r}")
    for target, path in files.items():
        if not isinstance(path, str) or not path.strip():
            raise SpecError(f"lora {target} must be a file path, got {path!r}")
        check_text("lora", path, limit=4_096)
    return {target: files[target].strip() for target in LORA_TARGETS if target in files}


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
    "device": Option("auto", _device, "torch device: auto, cuda, cuda:1, mps, cpu"),
    "dtype": Option("auto", _choice("dtype", "auto", "bfloat16", "float16", "float32"), "torch dtype"),
    "style": Option("", _text("style"), "appended to every prompt"),
    "templates": Option(None, _templates, "named prompt templates with {field} slots and option defaults", True),
    "policy": Option(None, _policy, "words and /patterns/ no prompt may contain (checked before generating)", True),
    "generate": Option("auto", _choice("generate", "auto", "never"), "never: cached clips only (CPU CI)"),
    "crf": Option(20, parse_crf, "H.264 quality: lower = better and bigger"),
    "ai_label": Option(True, _flag("ai_label"), "the visible AI-generated label under each clip"),
    "preset": Option(
        "final", _choice("preset", "final", "draft", "preview"), "draft: fewer steps; preview: the preview_model"
    ),
    "preview_model": Option(None, _nonempty("preview_model"), "a fast model for previews (serve, pull requests)", True),
    "serve_model": Option(
        "both", _choice("serve_model", "both", "preview", "final"), "under serve: preview then final, or one"
    ),
    "image_model": Option(None, _nonempty("image_model"), "an I2V checkpoint for text-only models", optional=True),
    "lora": Option(None, _loras, "LoRA file(s) for model: a path, or {transformer: …, transformer_2: …}", True),
    "image_lora": Option(None, _image_loras, "LoRA file(s) for image_model, or false: none", optional=True),
    "sampler": Option(None, _choice("sampler", "unipc", "euler"), "euler: as Lightning; default: the model's", True),
    "flow_shift": Option(None, _shift, "the sampler's flow shift; default: the family's (Wan's)", optional=True),
    "attention": Option(None, _text("attention"), "diffusers attention backend, e.g. flash", optional=True),
    "compile": Option(False, _flag("compile"), "compile the transformer's repeated blocks"),
    "memory": Option(
        "high", _choice("memory", "high", "balanced", "low"), "balanced: model CPU offload; low: group offload"
    ),
    "credentials": Option(True, _flag("credentials"), "sign every generated clip with C2PA Content Credentials"),
    "signing_cert": Option(None, _text("signing_cert"), "PEM certificate chain for Content Credentials", optional=True),
    "signing_key": Option(None, _text("signing_key"), "PEM private key of signing_cert", optional=True),
    "fetch_from": Option(None, _site_roots, "published sites to fetch missing clips from", optional=True),
    "safety_model": Option(None, _nonempty("safety_model"), "an image classifier run on every new clip", True),
    "safety_labels": Option(["nsfw"], _labels, "the safety_model labels that flag a clip"),
    "safety_threshold": Option(0.5, _threshold, "the score (0-1) at which a label flags a clip"),
    "review": Option(True, _flag("review"), "hold clips flagged by QC or safety_model until approved"),
    "review_file": Option("mkdocs-wan-reviews.yml", _review_file, "review decisions, next to mkdocs.yml"),
    "trust_anchors": Option(None, _anchors, "root certificates of other signers whose clips may be fetched", True),
    "backend": Option("local", _choice("backend", "local", "ray"), "render here or on a Ray cluster"),
    "use_service": Option(True, _flag("use_service"), "send missing clips to a running `mkdocs-wan service`"),
    "ray_address": Option(None, _text("ray_address"), "empty: local Ray runtime; auto; ray://host:10001", True),
    "ray_actors": Option(None, _count("ray_actors", 1_024), "default: one per GPU, else one per CPU", True),
    # The clip defaults below are the model family's when unset (see `models.families`).
    "frames": Option(None, FIELDS["frames"], "frames per clip (4k+1); default: the model's", optional=True),
    "fps": Option(None, FIELDS["fps"], "frames per second; default: the model's", optional=True),
    "size": Option(None, FIELDS["size"], "WIDTHxHEIGHT in the model's multiple; default: the model's", True),
    "steps": Option(None, FIELDS["steps"], "denoising steps; default: the model's", optional=True),
    "guidance": Option(None, FIELDS["guidance"], "classifier-free guidance scale; default: the model's", True),
    "guidance_2": Option(None, FIELDS["guidance_2"], "the low-noise expert's guidance (A14B)", optional=True),
    "seed": Option(None, FIELDS["seed"], "default: derived from the prompt", optional=True),
    "negative_prompt": Option(None, _negative, "what CFG clips avoid; default: Wan's; false: none", optional=True),
}


def parse_options(values: Mapping[str, Any]) -> dict[str, Any]:
    """Validate raw option values (missing ones take their default); SpecError names the option."""
    return {name: option.validate(values.get(name, option.default)) for name, option in OPTIONS.items()}


@dataclass(frozen=True)
class Tuning:
    """How fast and where the math runs; none of it is in a cache key (see `speed.py`)."""

    attention: str | None = None  # a diffusers attention backend name, e.g. "flash" or "_native_cudnn"
    compile: bool = False
    memory: str = "high"  # "balanced": model CPU offload; "low": group offload + VAE tiling (~24 GB GPUs)


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

    @property
    def preview(self) -> bool:
        """This build makes previews (`preset: preview`): the preview model's clips, marked as such."""
        return self["preset"] == "preview"

    @cached_property
    def final_model(self) -> ModelRef:
        return _resolved("model", self["model"], self.base_dir, self["revision"])

    @cached_property
    def preview_model(self) -> ModelRef | None:
        name = self["preview_model"]
        return None if name is None else _resolved("preview_model", name, self.base_dir)

    @cached_property
    def model(self) -> ModelRef:
        """The model this build's clips come from: the final one, or the preview one."""
        if not self.preview:
            return self.final_model
        if self.preview_model is None:
            raise SpecError("preset: preview needs a preview_model (e.g. a FastWan checkpoint, or tiny to test)")
        return self.preview_model

    @cached_property
    def family(self) -> Family:
        """The rules and defaults of the model's architecture, read from the checkpoint."""
        return _family(self.model, "model", self["model"] if not self.preview else self["preview_model"])

    @cached_property
    def image_model(self) -> ModelRef | None:
        """Which weights make image-to-video clips: the model's own (TI2V), or `image_model`."""
        if self["image_model"] is None:
            return None
        return _resolved("image_model", self["image_model"], self.base_dir)

    @cached_property
    def image_family(self) -> Family | None:
        if self.image_model is None:
            return None
        family = _family(self.image_model, "image_model", self["image_model"])
        if family.image != "required":
            raise SpecError(
                f"image_model {self['image_model']} is {family.name}, not an image-to-video checkpoint; "
                f"use {I2V_A14B.hub_id} or {I2V_14B.hub_id}"
            )
        return family

    @cached_property
    def fingerprint(self) -> str:
        """The model part of every key; a preview's never equals a final's, even for one checkpoint."""
        print_ = self.model.fingerprint(self["dtype"])
        return f"preview:{print_}" if self.preview else print_

    @cached_property
    def image_fingerprint(self) -> str | None:
        """The model part of image-to-video keys where another checkpoint makes them."""
        if self.family.image != "checkpoint" or self.image_model is None:
            return None
        print_ = self.image_model.fingerprint(self["dtype"])
        return f"preview:{print_}" if self.preview else print_

    @property
    def cache_root(self) -> Path:
        try:
            return (self.base_dir / self["cache_dir"]).resolve()
        except (OSError, RuntimeError) as err:  # a loop of symbolic links
            shown = getattr(err, "strerror", None) or err
            raise SpecError(
                f"cache_dir {self['cache_dir']!r} cannot be followed ({shown}); point it at a folder"
            ) from None

    @cached_property
    def loras(self) -> dict[str, Path]:
        """LoRA files by the transformer they load into, relative to mkdocs.yml: `lora` is trained
        for `model`, so a preview build (another checkpoint, or the same one sampled otherwise) has none."""
        if self.preview:
            return {}
        return {target: (self.base_dir / path).expanduser() for target, path in (self["lora"] or {}).items()}

    @cached_property
    def image_loras(self) -> dict[str, Path]:
        """LoRA files for `image_model`. A LoRA is trained for one checkpoint (Lightning ships one
        set for T2V-A14B and another for I2V-A14B), so a site with `lora` and `image_model` names
        the image model's own (`image_lora`), or says it runs without (`image_lora: false`)."""
        if self.preview or self.image_model is None or self.family.image != "checkpoint":
            return {}
        if self["image_lora"] is None and self.loras:
            raise SpecError(
                f"lora is loaded into model {self['model']}, but image_model {self['image_model']} is another "
                "checkpoint that the same LoRA was not trained for; set image_lora: to its own LoRA (for "
                "Wan2.2-Lightning: the Wan2.2-I2V-A14B files) or image_lora: false to run it without one"
            )
        return {t: (self.base_dir / path).expanduser() for t, path in (self["image_lora"] or {}).items()}

    @cached_property
    def lora_digest(self) -> str:
        """The LoRA files' contents, in every key ("" without LoRA): a changed file is a new clip."""
        return _lora_digest(self.loras, self.family, "lora", self._digests)

    @cached_property
    def image_lora_digest(self) -> str:
        """As `lora_digest`, for the image-to-video steps `image_model` makes."""
        family = self.image_family
        return _lora_digest(self.image_loras, family, "image_lora", self._digests) if family is not None else ""

    @property
    def _digests(self) -> Path:
        """Where big files' digests are remembered between builds (`settings.digests`)."""
        return self.cache_root / MEMO_NAME

    @cached_property
    def clip_defaults(self) -> dict[str, Any]:
        """The parsed site defaults that `spec.build_spec` merges directive options over: the
        site's own where set, else the model family's."""
        family = self.family
        own = {
            "frames": family.frames,
            "fps": family.fps,
            "size": family.size,
            "steps": family.steps,
            "guidance": family.guidance,
            "guidance_2": family.guidance_2 if self["guidance"] is None else None,
            "seed": None,
            "negative_prompt": family.negative_prompt,
        }
        # The site's steps and guidance are the final model's: a distilled preview model samples its own.
        fixed = {"steps", "guidance", "guidance_2"} if self.preview and family.distilled else set()
        return {name: own[name] if self[name] is None or name in fixed else self[name] for name in FIELDS}

    def check_model(self) -> None:
        """The site's clip defaults against the model family's rules, before any page is read."""
        defaults = self.clip_defaults
        family = self.family
        problem = family.size_problem(*defaults["size"]) or family.clip_problem(
            defaults["steps"], defaults["guidance"], defaults["guidance_2"], has_image=True
        )
        if problem:
            which = "preview_model" if self.preview else "model"
            raise SpecError(f"{problem} — from the wan options in mkdocs.yml, for `{which}: {self.model.name}`")
        if self.preview_model is not None and not self.preview:
            _family(self.preview_model, "preview_model", self["preview_model"])
        if self.image_model is not None:
            self.image_family  # noqa: B018 — an image_model that is not I2V is refused here
        self.lora_digest  # noqa: B018 — a missing LoRA file is refused before any page is read
        self.image_lora_digest  # noqa: B018 — and so is a LoRA meant for another checkpoint

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
        site = [("mkdocs.yml's folder", self.base_dir), ("docs_dir", self.docs_dir)]
        for name, folder in [*site, *([("site_dir", site_dir.resolve())] if site_dir is not None else [])]:
            if folder.is_relative_to(root):
                raise SpecError(
                    f"cache_dir {root} contains {name} ({folder}): the cache would adopt and clean up the site's "
                    "own files; give it a folder of its own, e.g. the default `.cache/mkdocs-wan`"
                )
        if root.exists() and not root.is_dir():
            raise SpecError(f"cache_dir {root} is a file, not a folder; point `cache_dir` at a folder")
        for part in ("clips", "index"):
            if (root / part).exists() and not (root / part).is_dir():
                raise SpecError(f"{root / part} should be a folder of the clip cache but is a file; move it away")
        if not self.review_path.is_relative_to(self.base_dir):  # `mkdocs-wan approve` writes it
            raise SpecError(
                f"review_file must stay in the folder of mkdocs.yml (it is committed with the docs), got "
                f"{self['review_file'][:80]!r}"
            )
        reviews = (self.review_path, _real(self.review_path))  # the name a build publishes, and what it holds
        exposed = [("docs_dir", self.docs_dir, "the site would publish it: reviewers, reasons, rejected prompts")]
        if site_dir is not None:
            exposed.append(("site_dir", site_dir, "each build deletes it, and the rejected clips would ship again"))
        for name, folder, why in exposed:
            if any(review.is_relative_to(place) for review in reviews for place in (folder, _real(folder))):
                raise SpecError(
                    f"review_file {self['review_file'][:80]!r} is inside {name}: {why}; keep it next to "
                    "mkdocs.yml (the default mkdocs-wan-reviews.yml)"
                )

    @property
    def review_path(self) -> Path:
        """The review decisions file (`review_file`, relative to mkdocs.yml), `..` folded."""
        return Path(os.path.normpath(self.base_dir / self["review_file"]))

    @property
    def meta(self) -> dict[str, str]:
        """What every cached clip's index record says about its model."""
        meta = {"model": self.model.name, "fingerprint": self.fingerprint}
        return {**meta, "preview": "true"} if self.preview else meta


def _real(path: Path) -> Path:
    """`path` with its links followed as far as they exist (a file not written yet still counts)."""
    try:
        return Path(os.path.realpath(path))
    except (OSError, RuntimeError):
        return path


def _resolved(option: str, name: str, base_dir: Path, revision: str | None = None) -> ModelRef:
    try:
        return ModelRef.resolve(name, base_dir, revision)
    except FamilyError as err:
        raise SpecError(f"{option}: {err}") from None


def _family(model: ModelRef, option: str, name: str) -> Family:
    try:
        family = model.family()
    except FamilyError as err:
        raise SpecError(f"{option}: {err}") from None
    problem = sparse_problem(family, f"{option} {name}")
    if problem:
        raise SpecError(problem)
    return family


def _lora_digest(loras: Mapping[str, Path], family: Family, option: str, memo: Path) -> str:
    parts = []
    for target, path in loras.items():
        if target == "transformer_2" and family.experts == 1:
            raise SpecError(f"{option} transformer_2 is for two-expert models (Wan2.2-A14B); {family.name} has one")
        parts.append(f"{target}={_file_digest(path, f'{option} {target}', memo)}")
    return ";".join(parts)


MAX_LORA_BYTES = 8 << 30  # Wan2.2-Lightning's are ~1.2 GB each


def _file_digest(path: Path, option: str, memo: Path | None = None) -> str:
    """sha256 of a regular file, read in chunks (never a FIFO or device, never unbounded); hashed
    once per version of the file where `memo` (see `settings.digests`) can keep it. The file is
    opened first, without blocking, and what is open is checked and read."""
    import stat

    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as err:
        raise SpecError(f"{option}: cannot read {path}: {err.strerror or err}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise SpecError(f"{option}: {path} is not a regular file")
        if info.st_size > MAX_LORA_BYTES:
            raise SpecError(f"{option}: {path} is {info.st_size:,} bytes, over the limit of {MAX_LORA_BYTES:,}")
        return file_digest(path, fd, info, memo)
    except OSError as err:
        raise SpecError(f"{option}: cannot read {path}: {err.strerror or err}") from None
    finally:
        os.close(fd)
