"""Make the clips of plans: generate or stitch each missing step, encode, store, poster.

The build (`generate_missing`, with a progress bar) and the serve worker (`run_plan`) share this.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from mkdocs.plugins import get_plugin_logger
from tqdm import tqdm

from mkdocs_wan import __version__
from mkdocs_wan.cache import CacheError, ClipCache
from mkdocs_wan.encode import decode_mp4, encode_mp4
from mkdocs_wan.generate import GenerationError, ModelLoadError, WanGenerator
from mkdocs_wan.images import load_image
from mkdocs_wan.plan import Plan, Step, Stitch
from mkdocs_wan.quality import quality_problem
from mkdocs_wan.stitch import crossfade

log = get_plugin_logger(__name__)


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
