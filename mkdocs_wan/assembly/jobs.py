"""Make the clips of plans: render (generate + encode) or stitch each missing step, store it.

The build (`generate_missing`, with a progress bar) and the serve worker (`run_plan`) share this;
rendering (`Renderer.render`: generate + encode to bytes) happens where the model lives — this
process, or Ray actors (`raypool.py`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from mkdocs_wan import __version__
from mkdocs_wan.assembly.plan import Generate, Plan, Step, Stitch
from mkdocs_wan.logs import log
from mkdocs_wan.media.pictures import load_image
from mkdocs_wan.media.posters import store_poster
from mkdocs_wan.media.stitch import Stitched, stitch
from mkdocs_wan.render.backends import Renderer
from mkdocs_wan.render.generate import GenerationError, ModelLoadError
from mkdocs_wan.render.progress import ClipProgress
from mkdocs_wan.store.cache import CacheError, ClipCache

if TYPE_CHECKING:
    from mkdocs_wan.media.credentials import Signer
    from mkdocs_wan.render.safety import SafetyCheck


def run_plan(
    plan: Plan,
    cache: ClipCache,
    renderer: Renderer,
    meta: Mapping[str, Any],
    on_step: Callable[[int, int, int, int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    sign: Signer | None = None,
    check: SafetyCheck | None = None,
) -> bool:
    """Make every step of a plan that is not cached yet, in order; True if any was made here.

    Each step runs under its key's cross-process lock and re-checks the cache once it holds
    it, so concurrent builds sharing a cache generate every clip exactly once. `on_step` gets
    (step, steps, segment, segments).
    """
    made = False
    segments = [step for step in plan.steps if isinstance(step, Generate)]
    for step in plan.steps:
        if cache.has(step.key):
            continue
        segment = segments.index(step) + 1 if isinstance(step, Generate) else len(segments)
        report = None if on_step is None else partial(_report, on_step, segment, len(segments))
        with cache.lock(step.key):
            if not cache.has(step.key):
                _make_step(step, plan, cache, renderer, meta, report, should_stop, sign, check)
                made = True
    return made


def _report(on_step: Callable[[int, int, int, int], None], segment: int, segments: int, step: int, steps: int) -> None:
    on_step(step, steps, segment, segments)


def _make_step(
    step: Step,
    plan: Plan,
    cache: ClipCache,
    renderer: Renderer,
    meta: Mapping[str, Any],
    on_step: Callable[[int, int], None] | None,
    should_stop: Callable[[], bool] | None,
    sign: Signer | None = None,
    check: SafetyCheck | None = None,
) -> None:
    facts: dict[str, Any] = {"title": step.title, "key": step.key, "model": meta.get("model", renderer.model.name)}
    facts["fingerprint"] = meta.get("fingerprint", "")
    final = step.key == plan.key
    # Every step is checked, segments too: a segment's key is a plain clip's key for the directive
    # with its prompt and (public) seed, so an unchecked segment could be published that way.
    if isinstance(step, Stitch):
        facts["composed_from"] = list(step.parts)  # the segments, each signed on its own
        _stitch_step(step, plan, cache, renderer, meta, facts, sign, check)
        return
    image = None
    if step.image is not None:
        image = load_image(step.image)
    elif step.spec.image and step.spec.image.startswith("clip:"):
        image = load_image(cache.path(step.spec.image.removeprefix("clip:")))
        facts["continues"] = step.spec.image.removeprefix("clip:")
    tags = _tags(step.title, step.spec.seed, renderer)
    rendered = renderer.render(step.spec, image, step.crf, tags, on_step, should_stop)
    record: dict[str, Any] = {"spec": step.spec.as_dict(), "frames": rendered.frames}
    facts.update(prompt=step.spec.prompt, seed=step.spec.seed)
    record["timings"] = {stage: round(seconds, 3) for stage, seconds in rendered.timings.items()}
    mp4 = rendered.mp4
    record["quality"] = rendered.quality
    facts["checks"] = {"quality": rendered.quality}  # QC's verdict, signed with the clip
    if check is not None:
        with _scratch(cache, "check") as folder:
            (folder / "clip.mp4").write_bytes(mp4)
            _checked(record, facts, check, folder / "clip.mp4", rendered.frames)
    if sign is not None:  # the last step before the cache: a later remux would drop the manifest
        started = time.perf_counter()
        mp4 = sign(mp4, facts, step.image)
        _note_signature(record, sign, facts, step.title, started)
    cache.store(step.key, lambda path: path.write_bytes(mp4), {**meta, **record})
    if final:
        store_poster(cache, step.key, rendered.first_frame)


def _stitch_step(
    step: Stitch,
    plan: Plan,
    cache: ClipCache,
    renderer: Renderer,
    meta: Mapping[str, Any],
    facts: dict[str, Any],
    sign: Signer | None,
    check: SafetyCheck | None,
) -> None:
    """Stitch the segments straight from the cache into the clip's temp file (never whole in
    memory: see `media.stitch`), checking and signing it file to file."""
    tags = _tags(step.title, plan.display.seed, renderer)
    record: dict[str, Any] = {**meta, "stitch": list(step.parts), "transition": step.transition}
    made: list[Stitched] = []

    def write(path: Path) -> None:
        started = time.perf_counter()
        parts = [cache.path(key) for key in step.parts]
        with _scratch(cache, "stitch") as folder:
            unsigned = path if sign is None else folder / "stitched.mp4"
            made.append(stitch(parts, step.transition, unsigned, step.fps, step.crf, tags))
            record["timings"] = {"stitch": round(time.perf_counter() - started, 3)}
            record.update(frames=made[0].frames, quality=made[0].quality)
            facts["checks"] = {"quality": made[0].quality}
            if check is not None:
                _checked(record, facts, check, unsigned, made[0].frames)
            if sign is not None:
                started = time.perf_counter()
                sign.sign_file(unsigned, path, facts)
                _note_signature(record, sign, facts, step.title, started)

    cache.store(step.key, write, record)  # the record is read once `write` has filled it in
    store_poster(cache, step.key, made[0].first_frame)


@contextlib.contextmanager
def _scratch(cache: ClipCache, what: str) -> Iterator[Path]:
    """A temp folder in the cache's `tmp/`, which the next run sweeps away if this one is killed."""
    cache.layout.tmp.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f"{what}-{os.getpid()}-", dir=cache.layout.tmp) as folder:
        yield Path(folder)


def _checked(record: dict[str, Any], facts: dict[str, Any], check: SafetyCheck, clip: Path, frames: int) -> None:
    """Run the safety model on the clip; its verdict goes into the record and the Content
    Credentials (with the QC verdict), so whoever holds the clip can see how it was checked."""
    started = time.perf_counter()
    verdict = check(clip, frames)
    record["safety"] = verdict
    record.setdefault("timings", {})["safety"] = round(time.perf_counter() - started, 3)
    facts["checks"] = {**facts.get("checks", {}), "safety": verdict}


def _note_signature(record: dict[str, Any], sign: Signer, facts: Mapping[str, Any], title: str, started: float) -> None:
    record["timings"]["sign"] = round(time.perf_counter() - started, 3)
    record["credentials"] = "local" if sign.identity.local else "team"
    record["signed"] = {k: v for k, v in facts.items() if k != "title"} | {"title": title}


def _tags(title: str, seed: int, renderer: Renderer) -> dict[str, str]:
    comment = f"AI-generated with {renderer.model.name} (seed {seed}) by mkdocs-wan {__version__}"
    return {"title": title, "comment": comment}


def generate_missing(
    jobs: Mapping[str, Plan],
    cache: ClipCache,
    renderer: Renderer,
    meta: Mapping[str, Any],
    sign: Signer | None = None,
    check: SafetyCheck | None = None,
) -> tuple[set[str], dict[str, GenerationError]]:
    """Run each `key -> plan` job (a tqdm bar over clips); return (keys made here, failures).

    Plans run one at a time locally, or as many at once as the renderer has workers (Ray). A
    clip another process made meanwhile is not "made here". A model that cannot load or a cache
    that cannot be written (`ModelLoadError`, `CacheError`) stops everything: raised.
    """
    made: set[str] = set()
    failures: dict[str, GenerationError] = {}
    if not jobs:
        return made, failures
    quiet = not log.isEnabledFor(logging.INFO)  # `mkdocs build -q` silences the bar too
    terminal = sys.stderr.isatty()  # a bar on a terminal; whole lines in a CI log
    bar = tqdm(total=len(jobs), desc="wan", unit="clip", dynamic_ncols=True, disable=quiet or not terminal)
    above = logging_redirect_tqdm([logging.getLogger("mkdocs")]) if terminal else contextlib.nullcontext()
    with bar, above:  # on a terminal, log lines print above the bar instead of through it
        counter = iter(range(1, len(jobs) + 1))

        def run(key: str, plan: Plan) -> None:
            label = _short(plan.title or plan.display.prompt)
            lines = None if terminal else ClipProgress(f"clip {next(counter)}/{len(jobs)}", plan.title)

            def on_step(step: int, steps: int, segment: int, segments: int) -> None:
                part = f" segment {segment}/{segments}" if segments > 1 else ""
                bar.set_postfix_str(f"{label}{part} step {step}/{steps}")
                if lines is not None:
                    lines.step(step, steps, segment, segments)

            if lines is not None:
                lines.start()
            try:
                if run_plan(plan, cache, renderer, meta, on_step, sign=sign, check=check):
                    made.add(key)
            except (ModelLoadError, CacheError):
                raise
            except GenerationError as err:
                failures[key] = err
            except Exception as err:  # noqa: BLE001 — one bad clip must not lose the others
                failures[key] = GenerationError(f"{type(err).__name__}: {err}")
            if lines is not None and key not in failures:
                lines.done()
            bar.update()

        if renderer.workers <= 1:
            for key, plan in jobs.items():
                run(key, plan)
        else:  # a queue: each free worker takes the next plan (segments stay in order within one)
            with ThreadPoolExecutor(renderer.workers, thread_name_prefix="mkdocs-wan") as pool:
                for future in [pool.submit(run, key, plan) for key, plan in jobs.items()]:
                    future.result()  # re-raises ModelLoadError / CacheError
    return made, failures


def _short(prompt: str, width: int = 32) -> str:
    return prompt if len(prompt) <= width else prompt[: width - 1] + "…"
