"""Generate clips with a resident diffusers `WanPipeline`.

torch and diffusers are imported only when a clip is actually missing, so a fully cached build
never pays for them. The pipeline is loaded once per `WanGenerator` and kept for its lifetime.
"""

from __future__ import annotations

import json
import re
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mkdocs_wan.errors import GenerationCancelled, GenerationError, ModelLoadError
from mkdocs_wan.logs import log
from mkdocs_wan.media.encode import Rendered, encode_rendered
from mkdocs_wan.media.pictures import fit_image
from mkdocs_wan.models.families import Family, FamilyError
from mkdocs_wan.models.reference import ModelRef
from mkdocs_wan.page.spec import ClipSpec
from mkdocs_wan.render.speed import apply_tuning, set_cache_hook
from mkdocs_wan.render.tiny import ensure_tiny_model
from mkdocs_wan.settings.options import Tuning
from mkdocs_wan.store.layout import CacheLayout

if TYPE_CHECKING:
    import numpy as np


EMBED_CACHE_SIZE = 256  # prompts whose embeddings stay in memory (a few MB each at full size)

_STACKTRACE_NOTE = "Please check out the root cause in the stacktrace above."
_DOWNLOAD_HINT = (
    "download it once with `hf download {repo}` (about 34 GB; runs on a 40 GB+ GPU, or on a "
    "24 GB one with `memory: low`), point `model:` at a local folder, or set `model: tiny` to test offline"
)


class WanGenerator:
    """Clips from any supported Wan family through diffusers, loaded on first use.

    The family is read from the checkpoint (`models.families`): it picks the pipeline class, the
    sampler (a DMD scheduler for distilled checkpoints), the second expert's guidance, and where
    image-to-video comes from — the same weights (TI2V-5B), the checkpoint itself (an I2V one),
    or a second resident generator for `image_model`.
    """

    def __init__(
        self,
        model: ModelRef,
        cache_dir: Path,
        device: str = "auto",
        dtype: str = "auto",
        tuning: Tuning | None = None,
        image_model: ModelRef | None = None,
        loras: tuple[tuple[str, str], ...] = (),
        image_loras: tuple[tuple[str, str], ...] = (),
    ) -> None:
        self.model = model
        self.cache_dir = cache_dir
        self.device = device
        self.dtype = dtype
        self.tuning = tuning or Tuning()
        self.image_model = image_model
        self.loras = loras  # (transformer or transformer_2, file) pairs
        self.image_loras = image_loras  # the same, for image_model's own generator
        self.family: Family | None = None  # known once loaded
        self._image_generator: WanGenerator | None = None
        self._pipe: Any = None
        self._i2v: Any = None
        self._device_name = "cpu"
        self._hook = [""]  # the transformer's active cache hook
        self._embeds: OrderedDict[str, Any] = OrderedDict()  # prompt -> text embeddings (LRU)
        self.last_timings: dict[str, float] = {}  # seconds per stage of the last clip generated

    def load(self) -> Any:
        """Load the pipeline once; later calls return the resident one."""
        if self._pipe is None:
            started = time.perf_counter()
            self._pipe = self._load()
            log.info("loaded model %s in %.1f s", self.model.name, time.perf_counter() - started)
        return self._pipe

    @property
    def extra(self) -> dict[str, Any]:
        """The constructor arguments beyond the positional ones (for Ray actors)."""
        return {"image_model": self.image_model, "loras": self.loras, "image_loras": self.image_loras}

    def image_pipeline(self) -> Any:
        """The image-to-video pipeline: over the same resident modules for TI2V-5B (no second
        load), the pipeline itself for an I2V checkpoint."""
        pipe = self.load()
        if self.family is not None and self.family.pipeline == "WanImageToVideoPipeline":
            return pipe
        if self.family is not None and self.family.image == "checkpoint":
            raise GenerationError(
                f"{self.family.name} makes clips from text only; set image_model: to an image-to-video checkpoint"
            )
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

                # TI2V needs per-token timesteps to pin the start frame (see `_load`).
                self._i2v = WanImageToVideoPipeline.from_pipe(pipe, expand_timesteps=True)
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
        try:
            family = self.model.family()
        except FamilyError as err:
            raise ModelLoadError(f"cannot load model: {err}") from None
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
        components = self._components(family, location)
        verbosity = diffusers_logging.get_verbosity()
        diffusers_logging.set_verbosity_error()  # the failure is explained below, once
        try:
            if family.pipeline == "WanImageToVideoPipeline":
                from diffusers import WanImageToVideoPipeline as pipeline_class
            else:
                pipeline_class = WanPipeline
            pipe = pipeline_class.from_pretrained(
                location, revision=self.model.revision, dtype=self._dtypes(torch, device), **components
            )
        except torch.OutOfMemoryError:
            raise ModelLoadError(self._oom(device, family)) from None
        except (OSError, ValueError) as err:
            cause = " ".join(str(err).split()).replace(_STACKTRACE_NOTE, "").strip() or type(err).__name__
            cause = re.sub(r"^Cannot load model [^:]*: ", "", cause)  # said once, below
            raise ModelLoadError(
                f"cannot load model {self.model.name}: {cause} Fix: {self._load_fix(location)}"
            ) from None
        finally:
            diffusers_logging.set_verbosity(verbosity)
        self._load_loras(pipe, family)
        return self.adopt(pipe, family, device)

    def adopt(self, pipe: Any, family: Family, device: str) -> Any:
        """Make `pipe` (just loaded, or built from configs by a benchmark) this generator's
        resident pipeline, set up as every clip expects: the family's boundary, the speed and
        memory settings, scalar timesteps for text-to-video."""
        import torch

        if family.distilled and not hasattr(pipe.scheduler, "set_generator"):
            pipe.scheduler = self._dmd_scheduler(family)
        if family.boundary_ratio is not None and getattr(pipe.config, "boundary_ratio", None) is None:
            # Without it diffusers runs the high-noise expert alone, at every step.
            pipe.register_to_config(boundary_ratio=family.boundary_ratio)
        try:
            apply_tuning(pipe, self.tuning, device)
        except torch.OutOfMemoryError:
            raise ModelLoadError(self._oom(device, family)) from None
        except (RuntimeError, ValueError, ImportError) as err:
            raise ModelLoadError(
                f"cannot apply the speed settings ({self.tuning}) to model {self.model.name}: {err}"
            ) from None
        pipe.set_progress_bar_config(disable=True)
        # Per-token timesteps only matter when a start frame is pinned; for text-to-video every
        # token gets the same timestep, so the scalar path gives the same clip (up to float
        # rounding, see tests) without a (tokens x 6 x 3072) modulation tensor per step.
        if getattr(pipe.config, "expand_timesteps", False) and family.pipeline == "WanPipeline":
            pipe.register_to_config(expand_timesteps=False)
        self._device_name = device
        self.family = family
        self._pipe = pipe
        return pipe

    @staticmethod
    def _dmd_scheduler(family: Family) -> Any:
        from mkdocs_wan.render.dmd import DMDScheduler

        return DMDScheduler(denoising_timesteps=family.dmd_timesteps)

    def _components(self, family: Family, location: str) -> dict[str, Any]:
        """Parts that replace the checkpoint's own: the DMD scheduler of a distilled checkpoint,
        whose `model_index.json` names `WanDMDPipeline`, a class diffusers does not have."""
        if not family.distilled:
            return {}
        folder = Path(location)
        if folder.is_dir():
            index = json.loads((folder / "model_index.json").read_text())
            missing = [
                part
                for part in ("text_encoder", "tokenizer", "transformer", "vae")
                if not isinstance(index.get(part), list) or not (folder / part).is_dir()
            ]
            if missing:
                raise ModelLoadError(
                    f"cannot load model {self.model.name}: the distilled checkpoint lacks {', '.join(missing)}; "
                    f"download it completely (`hf download {family.hub_id}`)"
                )
        return {"scheduler": self._dmd_scheduler(family)}

    def _load_loras(self, pipe: Any, family: Family) -> None:
        """LoRA files onto their experts (Wan2.2-Lightning: one per A14B expert)."""
        for target, path in self.loras:
            try:
                pipe.load_lora_weights(
                    path,
                    adapter_name=target,
                    **({"load_into_transformer_2": True} if target == "transformer_2" else {}),
                )
            except (OSError, ValueError, KeyError, RuntimeError) as err:
                reason = " ".join(str(err).split())[:300]
                raise ModelLoadError(
                    f"cannot load the LoRA {path} into {family.name}'s {target}: {reason}; check that it was "
                    f"trained for {family.name}"
                ) from None

    def _needs_image_model(self) -> bool:
        self.load()
        return self.family is not None and self.family.image == "checkpoint"

    def _image_model_generator(self) -> WanGenerator:
        """The resident image-to-video generator of a text-only model (`image_model`)."""
        if self._image_generator is None:
            assert self.image_model is not None
            self._image_generator = WanGenerator(
                self.image_model, self.cache_dir, self.device, self.dtype, self.tuning, loras=self.image_loras
            )
        return self._image_generator

    def _text_embeds(self, text: str) -> Any:
        """UMT5 embeddings of `text`, computed once per process (the negative prompt is shared
        by every clip). 512 tokens, as `__call__` uses — `encode_prompt` alone defaults to 226."""
        import torch

        if text not in self._embeds:
            with torch.no_grad():
                embeds, _ = self._pipe.encode_prompt(
                    prompt=text, do_classifier_free_guidance=False, max_sequence_length=512, device=self._device_name
                )
            self._embeds[text] = embeds
            if len(self._embeds) > EMBED_CACHE_SIZE:
                self._embeds.popitem(last=False)
        self._embeds.move_to_end(text)
        return self._embeds[text]

    def _oom(self, device: str, family: Family) -> str:
        return (
            f"cannot load model {self.model.name}: out of {device} memory; {family.name} needs {family.vram} — "
            "set `memory: low`, use a bigger GPU or a smaller model (see Choosing a model), or `model: tiny` to test"
        )

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

    workers = 1  # clips rendered at once (make.py's `Renderer`)

    def render(
        self,
        spec: ClipSpec,
        image: np.ndarray | None,
        crf: int,
        tags: dict[str, str],
        on_step: Callable[[int, int], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> Rendered:
        """Generate one clip and encode it to MP4 bytes (make.py's `Renderer`)."""
        frames = self.generate(spec, image, on_step, should_stop)
        rendered = encode_rendered(frames, spec.fps, crf, tags, CacheLayout(self.cache_dir).tmp)
        return replace(rendered, timings={**self.last_timings, **rendered.timings})

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

        from mkdocs_wan.render.samplers import use_sampler

        if image is not None and self.image_model is not None and self._needs_image_model():
            return self._image_model_generator().generate(spec, image, on_step, should_stop)
        pipe = self.load() if image is None else self.image_pipeline()
        started = time.perf_counter()
        prompt_embeds = self._text_embeds(spec.prompt)
        extra = {} if image is None else {"image": fit_image(image, spec.width, spec.height)}
        set_cache_hook(pipe.transformer, spec.cache_hook, self._hook)
        use_sampler(pipe, spec.sampler)
        if spec.guidance > 1.0 or (spec.guidance_2 or 0.0) > 1.0:
            extra["negative_prompt_embeds"] = self._text_embeds(spec.negative_prompt)
        if spec.guidance_2 is not None:
            extra["guidance_scale_2"] = spec.guidance_2
        # A CPU generator draws the same noise on every device: reproducible clips. A DMD
        # scheduler re-noises from the same one, so its clips are reproducible too.
        generator = torch.Generator("cpu").manual_seed(spec.seed)
        if hasattr(pipe.scheduler, "set_generator"):
            pipe.scheduler.set_generator(generator)
        encoded = last_step = time.perf_counter()

        def step_end(running: Any, index: int, _t: Any, tensors: dict[str, Any]) -> dict[str, Any]:
            nonlocal last_step
            last_step = time.perf_counter()
            if on_step is not None:
                on_step(index + 1, spec.steps)
            if should_stop is not None and should_stop():
                running._interrupt = True  # diffusers' documented way to end the loop early
            return tensors

        try:
            video = pipe(
                **extra,
                prompt_embeds=prompt_embeds,
                height=spec.height,
                width=spec.width,
                num_frames=spec.frames,
                num_inference_steps=spec.steps,
                guidance_scale=spec.guidance,
                generator=generator,
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
        frames = (np.clip(video, 0.0, 1.0) * 255.0).round().astype(np.uint8)
        # The last step's callback ends the denoising loop; what follows is the VAE decode.
        done = time.perf_counter()
        self.last_timings = {"text": encoded - started, "denoise": last_step - encoded, "decode": done - last_step}
        return frames
