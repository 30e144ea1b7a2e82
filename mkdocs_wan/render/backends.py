"""Where clips render: this process's resident generator, or a pool of Ray actors.

One of each per process, kept while the settings that shape it stay the same, so the model loads
once per process — across `mkdocs serve` rebuilds, and across pages for the Markdown extension.
Model code is imported only when a renderer is asked for, i.e. when a clip is missing.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import numpy as np

    from mkdocs_wan.media.encode import Rendered
    from mkdocs_wan.models.reference import ModelRef
    from mkdocs_wan.page.spec import ClipSpec
    from mkdocs_wan.render.generate import WanGenerator
    from mkdocs_wan.settings.options import Settings


class Renderer(Protocol):
    """What turns a spec into an encoded clip: the local `WanGenerator`, or a Ray actor pool."""

    model: ModelRef
    workers: int  # clips it can render at once

    def render(
        self,
        spec: ClipSpec,
        image: np.ndarray | None,
        crf: int,
        tags: dict[str, str],
        on_step: Callable[[int, int], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> Rendered: ...


_lock = threading.Lock()
_resident: dict[str, tuple[tuple[Any, ...], Any]] = {}  # "local" / "ray" -> (settings key, renderer)


def local_generator(settings: Settings) -> WanGenerator:
    """The resident `WanGenerator` for these settings (a different model replaces the old one)."""
    from mkdocs_wan.render.generate import WanGenerator

    key = (settings.model, settings.cache_root, settings["device"], settings["dtype"], settings.tuning)
    image_model = settings.image_model if settings.family.image == "checkpoint" else None
    loras = tuple((target, str(path)) for target, path in settings.loras.items())
    image_loras = tuple((target, str(path)) for target, path in settings.image_loras.items())
    extra = {"image_model": image_model, "loras": loras, "image_loras": image_loras}
    # The preview model stays resident beside the final one (serve shows both).
    role = "local-preview" if settings.preview else "local"
    return _keep(role, (*key, image_model, loras, image_loras), lambda: WanGenerator(*key, **extra))


def renderer(settings: Settings) -> Renderer:
    """What renders this site's clips: `backend: local` or `backend: ray`."""
    generator = local_generator(settings)
    if settings["backend"] == "local":
        return generator
    from mkdocs_wan.render.raypool import RayPool

    key = (generator, settings["ray_address"], settings["ray_actors"])
    return _keep(
        "ray-preview" if settings.preview else "ray",
        key,
        lambda: RayPool(generator, settings["ray_address"], settings["ray_actors"]),
    )


def _keep(kind: str, key: tuple[Any, ...], make: Any) -> Any:
    with _lock:
        held = _resident.get(kind)
        if held is None or held[0] != key:
            held = _resident[kind] = (key, make())
        return held[1]
