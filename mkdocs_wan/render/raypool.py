"""Render clips on a Ray cluster: one actor per GPU (or per CPU slot), each with a resident model.

The build machine keeps planning, caching and stitching; actors only turn a spec (and maybe a
start picture) into encoded MP4 bytes with the same `WanGenerator.render` the local backend
runs, so the cache gets the same keys and the same files. Work is a queue: each free actor takes
the next clip. An actor that dies mid-clip is replaced and the clip is retried on another one.
"""

from __future__ import annotations

import logging
import queue
import socket
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mkdocs_wan.logs import log
from mkdocs_wan.models.reference import ModelRef
from mkdocs_wan.page.spec import ClipSpec
from mkdocs_wan.render.generate import GenerationError, ModelLoadError, WanGenerator
from mkdocs_wan.render.speed import Tuning

if TYPE_CHECKING:
    import numpy as np

    from mkdocs_wan.media.encode import Rendered


ATTEMPTS = 3  # per clip, across actors


class ClipActor:
    """Runs inside a Ray worker process: one resident pipeline, rendering one clip at a time."""

    def __init__(self, model: ModelRef, cache_dir: str, device: str, dtype: str, tuning: Tuning, **extra: Any) -> None:
        self.generator = WanGenerator(model, Path(cache_dir), device, dtype, tuning, **extra)

    def render(self, spec: ClipSpec, image: np.ndarray | None, crf: int, tags: dict[str, str]) -> Rendered:
        return self.generator.render(spec, image, crf, tags)


class RayPool:
    """A queue of `ClipActor`s that satisfies make.py's `Renderer` protocol."""

    def __init__(self, generator: WanGenerator, address: str | None, actors: int | None = None) -> None:
        try:
            import ray
        except ImportError:
            raise ModelLoadError("`backend: ray` needs Ray: pip install 'mkdocs-wan[ray]'") from None
        self._ray = ray
        self.model = generator.model
        where = address or "a new local Ray runtime"
        try:
            _check_reachable(address)  # also when this process already runs Ray: never ignore the address
            if not ray.is_initialized():
                ray.init(address=address, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
            resources = ray.cluster_resources()
        except (ConnectionError, RuntimeError, ValueError, TimeoutError, OSError) as err:
            reason = " ".join(str(err).split())[:300]
            raise ModelLoadError(
                f"cannot reach the Ray cluster at {where}: {reason}; start one with `ray start --head` "
                "on the GPU nodes and set `ray_address` (`auto`, or ray://HOST:10001), or leave it "
                "empty for a local runtime"
            ) from None
        gpus, cpus = int(resources.get("GPU", 0)), int(resources.get("CPU", 1))
        self.workers = actors or gpus or cpus
        remote = ray.remote(num_gpus=1, num_cpus=0)(ClipActor) if gpus else ray.remote(num_cpus=1)(ClipActor)
        settings = (generator.model, str(generator.cache_dir), generator.device, generator.dtype, generator.tuning)
        self._spawn: Callable[[], Any] = lambda: remote.remote(*settings, **generator.extra)  # the same family
        self.actors = [self._spawn() for _ in range(self.workers)]  # every actor ever started
        self._free: queue.Queue[Any] = queue.Queue()
        for actor in self.actors:
            self._free.put(actor)
        self._lock = threading.Lock()
        self.used: set[str] = set()  # actors that rendered at least one clip
        log.info("Ray: %d actors on %s (%d GPUs, %d CPUs)", self.workers, where, gpus, cpus)

    def render(
        self,
        spec: ClipSpec,
        image: np.ndarray | None,
        crf: int,
        tags: dict[str, str],
        on_step: Callable[[int, int], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> Rendered:
        """Render on the next free actor; if the actor dies, replace it and retry elsewhere."""
        ray = self._ray
        for _attempt in range(ATTEMPTS):
            actor = self._free.get()
            try:
                rendered = ray.get(actor.render.remote(spec, image, crf, tags))
            except ray.exceptions.RayActorError:
                log.warning("a Ray actor died while rendering %r; retrying on another actor", spec.prompt[:40])
                with self._lock:
                    self.actors.append(replacement := self._spawn())
                self._free.put(replacement)
                continue
            except ray.exceptions.RayTaskError as err:
                self._free.put(actor)
                cause = err.cause if isinstance(err.cause, Exception) else err
                if isinstance(cause, GenerationError):
                    raise cause from None
                raise GenerationError(f"{type(cause).__name__}: {cause}") from None
            with self._lock:
                self.used.add(actor._actor_id.hex())
            self._free.put(actor)
            return rendered
        raise GenerationError(f"Ray actors died {ATTEMPTS} times rendering this clip; giving up")


def _check_reachable(address: str | None) -> None:
    """Fail in seconds, not minutes: Ray itself retries an unreachable head for about two minutes."""
    if not address or address == "auto":
        return
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if port.isdigit():
        with socket.create_connection((host or "127.0.0.1", int(port)), timeout=5):
            pass
