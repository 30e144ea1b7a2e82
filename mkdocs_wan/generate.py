"""Generate clips with a resident diffusers `WanPipeline`.

torch and diffusers are imported only when a clip is actually missing, so a fully cached build
never pays for them. The pipeline is loaded once per `WanGenerator` and kept for its lifetime.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mkdocs.plugins import get_plugin_logger
from tqdm import tqdm

from mkdocs_wan import __version__
from mkdocs_wan.cache import CacheError
from mkdocs_wan.encode import decode_mp4, encode_mp4
from mkdocs_wan.images import fit_image, load_image
from mkdocs_wan.models import ModelRef
from mkdocs_wan.plan import Plan, Step, Stitch
from mkdocs_wan.quality import quality_problem
from mkdocs_wan.spec import ClipSpec
from mkdocs_wan.stitch import crossfade
from mkdocs_wan.tiny import ensure_tiny_model

if TYPE_CHECKING:
    import numpy as np

    from mkdocs_wan.cache import ClipCache

log = get_plugin_logger(__name__)

_STACKTRACE_NOTE = "Please check out the root cause in the stacktrace above."
_DOWNLOAD_HINT = (
    "download it once with `hf download {repo}` (about 34 GB; needs a GPU with ~24 GB+ VRAM to "
    "run), point `model:` at a local folder, or set `model: tiny` to test offline"
)


class GenerationError(RuntimeError):
    """A clip could not be made; the message says why and what to do."""


class ModelLoadError(GenerationError):
    """The model could not be loaded; no clip can be made until the cause is fixed."""


class GenerationCancelled(GenerationError):
    """Generation was interrupted on purpose (server shutdown); nothing was produced."""


class WanGenerator:
    """Text-to-video with Wan2.2-TI2V through diffusers, loaded on first use."""

    def __init__(self, model: ModelRef, cache_dir: Path, device: str = "auto", dtype: str = "auto") -> None:
        self.model = model
        self.cache_dir = cache_dir
        self.device = device
        self.dtype = dtype
        self._pipe: Any = None
        self._i2v: Any = None

    @property
    def loaded(self) -> bool:
        return self._pipe is not None

    def load(self) -> Any:
        """Load the pipeline once; later calls return the resident one."""
        if self._pipe is None:
            started = time.perf_counter()
            self._pipe = self._load()
            log.info("loaded model %s in %.1f s", self.model.name, time.perf_counter() - started)
        return self._pipe

    def image_pipeline(self) -> Any:
        """The image-to-video pipeline over the same resident modules (no second load)."""
        if self._i2v is None:
            from diffusers.utils import logging as diffusers_logging
            from transformers.utils import logging as transformers_logging

            pipe = self.load()
            levels = diffusers_logging.get_verbosity(), transformers_logging.get_verbosity()
            # Importing the I2V module warns about an image processor TI2V does not use, and
            # from_pipe about casts it does not do here.
            diffusers_logging.set_verbosity_error()
            transformers_logging.set_verbosity_error()
            try:
                from diffusers import WanImageToVideoPipeline

                self._i2v = WanImageToVideoPipeline.from_pipe(pipe)
            finally:
                diffusers_logging.set_verbosity(levels[0])
                transformers_logging.set_verbosity(levels[1])
            self._i2v.set_progress_bar_config(disable=True)
        return self._i2v

    def _load(self) -> Any:
        try:
            import torch
            from diffusers import WanPipeline
            from diffusers.utils import logging as diffusers_logging
            from transformers.utils import logging as transformers_logging
        except ImportError as err:
            raise ModelLoadError(
                f"cannot load model {self.model.name}: {err}; install the plugin's dependencies "
                "with `pip install mkdocs-wan` (torch, diffusers, transformers)"
            ) from None
        diffusers_logging.disable_progress_bar()
        transformers_logging.disable_progress_bar()

        device = self._device(torch)
        location = self.model.location
        if self.model.source == "tiny":
            try:
                location = str(ensure_tiny_model(self.cache_dir))
            except Exception as err:  # noqa: BLE001 — safetensors reports disk errors as its own type
                reason = getattr(err, "strerror", None) or str(err)
                raise ModelLoadError(
                    f"cannot load model tiny: saving it under {self.cache_dir} failed: {reason}; "
                    "make the cache folder writable and give it free space, or point `cache_dir` elsewhere"
                ) from None
        elif self.model.source == "local" and not (Path(location) / "model_index.json").is_file():
            raise ModelLoadError(
                f"cannot load model {self.model.name}: {location} has no model_index.json; point "
                "`model:` at a diffusers Wan pipeline folder (e.g. a `hf download` of "
                "Wan-AI/Wan2.2-TI2V-5B-Diffusers) or set `model: tiny` to test offline"
            )
        verbosity = diffusers_logging.get_verbosity()
        diffusers_logging.set_verbosity_error()  # the failure is explained below, once
        try:
            pipe = WanPipeline.from_pretrained(
                location, revision=self.model.revision, dtype=self._dtypes(torch, device)
            )
            pipe.to(device)
        except torch.OutOfMemoryError:
            raise ModelLoadError(
                f"cannot load model {self.model.name}: out of {device} memory; TI2V-5B needs about "
                "24 GB for its weights alone — use a larger GPU or `model: tiny` to test"
            ) from None
        except (OSError, ValueError) as err:
            cause = " ".join(str(err).split()).replace(_STACKTRACE_NOTE, "").strip() or type(err).__name__
            raise ModelLoadError(
                f"cannot load model {self.model.name}: {cause} Fix: {self._load_fix(location)}"
            ) from None
        finally:
            diffusers_logging.set_verbosity(verbosity)
        pipe.set_progress_bar_config(disable=True)
        return pipe

    def _load_fix(self, location: str) -> str:
        if self.model.source == "hub":
            return _DOWNLOAD_HINT.format(repo=location)
        if self.model.source == "tiny":
            return (
                f"reinstall mkdocs-wan's dependencies (`pip install -U mkdocs-wan`), or delete {location} to rebuild it"
            )
        return f"check that {location} holds a complete diffusers Wan pipeline, or set `model: tiny` to test offline"

    def _device(self, torch: Any) -> str:
        if self.device != "auto":
            if self.device.startswith("cuda") and not torch.cuda.is_available():
                raise ModelLoadError(
                    f"cannot load model {self.model.name}: device '{self.device}' was asked for "
                    "but torch sees no CUDA GPU; install a CUDA build of torch or set `device: cpu`"
                )
            return self.device
        if torch.cuda.is_available():
            return "cuda"
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return "mps"
        return "cpu"

    def _dtypes(self, torch: Any, device: str) -> Any:
        """bf16 weights on GPUs with the VAE kept in float32 (decode quality); float32 on CPU."""
        if self.dtype == "auto":
            if device == "cpu":
                return torch.float32
            return {"default": torch.bfloat16, "vae": torch.float32}
        return getattr(torch, self.dtype)

    def generate(
        self,
        spec: ClipSpec,
        image: np.ndarray | None = None,
        on_step: Callable[[int, int], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> np.ndarray:
        """Run the model for one spec; return frames as (F, H, W, 3) uint8.

        With `image` (H, W, 3 uint8) the clip starts from that picture, fitted to the clip size
        without stretching, through `WanImageToVideoPipeline` sharing the resident modules.

        `should_stop` is polled after every step; when it turns true the remaining steps are
        skipped and `GenerationCancelled` is raised instead of returning a half-denoised clip.
        """
        import numpy as np
        import torch

        pipe = self.load() if image is None else self.image_pipeline()
        extra = {} if image is None else {"image": fit_image(image, spec.width, spec.height)}

        def step_end(running: Any, index: int, _t: Any, tensors: dict[str, Any]) -> dict[str, Any]:
            if on_step is not None:
                on_step(index + 1, spec.steps)
            if should_stop is not None and should_stop():
                running._interrupt = True  # diffusers' documented way to end the loop early
            return tensors

        try:
            video = pipe(
                **extra,
                prompt=spec.prompt,
                negative_prompt=spec.negative_prompt,
                height=spec.height,
                width=spec.width,
                num_frames=spec.frames,
                num_inference_steps=spec.steps,
                guidance_scale=spec.guidance,
                # A CPU generator draws the same noise on every device: reproducible clips.
                generator=torch.Generator("cpu").manual_seed(spec.seed),
                output_type="np",
                callback_on_step_end=step_end,
            ).frames[0]
        except torch.OutOfMemoryError:
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
            raise GenerationError(
                f"out of memory at {spec.width}x{spec.height}, {spec.frames} frames; use a smaller size or fewer frames"
            ) from None
        if should_stop is not None and should_stop():
            raise GenerationCancelled("generation cancelled")
        return (np.clip(video, 0.0, 1.0) * 255.0).round().astype(np.uint8)


def run_plan(
    plan: Plan,
    cache: ClipCache,
    generator: WanGenerator,
    meta: Mapping[str, Any],
    on_step: Callable[[int, int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> bool:
    """Make every step of a plan that is not cached yet, in order; True if any was made here.

    Each step runs under its key's cross-process lock and re-checks the cache once it holds
    it, so concurrent builds sharing a cache generate every clip exactly once.
    """
    made = False
    for step in plan.steps:
        if cache.has(step.key):
            continue
        with cache.lock(step.key):
            if not cache.has(step.key):
                _make_step(step, plan, cache, generator, meta, on_step, should_stop)
                made = True
    return made


def _make_step(
    step: Step,
    plan: Plan,
    cache: ClipCache,
    generator: WanGenerator,
    meta: Mapping[str, Any],
    on_step: Callable[[int, int], None] | None,
    should_stop: Callable[[], bool] | None,
) -> None:
    if isinstance(step, Stitch):
        frames = crossfade([decode_mp4(cache.path(k)) for k in step.parts], step.transition)
        title, seed = plan.title, plan.display.seed
        fps, record = step.fps, {"stitch": list(step.parts), "transition": step.transition}
    else:
        image = None
        if step.image is not None:
            image = load_image(step.image)
        elif step.spec.image and step.spec.image.startswith("clip:"):
            image = load_image(cache.path(step.spec.image.removeprefix("clip:")))
        frames = generator.generate(step.spec, image, on_step, should_stop)
        title, seed = step.spec.prompt, step.spec.seed
        fps, record = step.spec.fps, {"spec": step.spec.as_dict()}
    tags = {
        "title": title,
        "comment": f"AI-generated with {generator.model.name} (seed {seed}) by mkdocs-wan {__version__}",
    }
    final = step.key == plan.key
    if final:
        record["quality"] = quality_problem(frames)
    cache.store(
        step.key,
        lambda path: encode_mp4(frames, path, fps, step.crf, tags),
        {**meta, **record, "frames": len(frames)},
    )
    if final:
        cache.write_poster(step.key, frames[0])


def generate_missing(
    jobs: Mapping[str, Plan],
    cache: ClipCache,
    generator: WanGenerator,
    meta: Mapping[str, Any],
) -> tuple[set[str], dict[str, GenerationError]]:
    """Run each `key -> plan` job (a tqdm bar over clips); return (keys made here, failures).

    A clip another process made meanwhile is not "made here". A model that cannot load or a
    cache that cannot be written (`ModelLoadError`, `CacheError`) stops everything: raised.
    """
    made: set[str] = set()
    failures: dict[str, GenerationError] = {}
    if not jobs:
        return made, failures
    quiet = not log.isEnabledFor(logging.INFO)  # `mkdocs build -q` silences the bar too
    with tqdm(total=len(jobs), desc="wan", unit="clip", dynamic_ncols=True, disable=quiet) as bar:
        for key, plan in jobs.items():
            label = _short(plan.title or plan.display.prompt)
            bar.set_postfix_str(label)

            def on_step(step: int, total: int, label: str = label) -> None:
                bar.set_postfix_str(f"{label} step {step}/{total}")

            try:
                if run_plan(plan, cache, generator, meta, on_step):
                    made.add(key)
            except (ModelLoadError, CacheError):
                raise
            except GenerationError as err:
                failures[key] = err
            except Exception as err:  # noqa: BLE001 — one bad clip must not lose the others
                failures[key] = GenerationError(f"{type(err).__name__}: {err}")
            bar.update()
    return made, failures


def _short(prompt: str, width: int = 32) -> str:
    return prompt if len(prompt) <= width else prompt[: width - 1] + "…"
