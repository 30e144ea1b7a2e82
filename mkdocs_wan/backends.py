"""Where clips render: this process's resident generator, or a pool of Ray actors.

One of each per process, kept while the settings that shape it stay the same, so the model loads
once per process — across `mkdocs serve` rebuilds, and across pages for the Markdown extension.
Model code is imported only when a renderer is asked for, i.e. when a clip is missing.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mkdocs_wan.generate import WanGenerator
    from mkdocs_wan.make import Renderer
    from mkdocs_wan.options import Settings

_lock = threading.Lock()
_resident: dict[str, tuple[tuple[Any, ...], Any]] = {}  # "local" / "ray" -> (settings key, renderer)


def local_generator(settings: Settings) -> WanGenerator:
    """The resident `WanGenerator` for these settings (a different model replaces the old one)."""
    from mkdocs_wan.generate import WanGenerator

    key = (settings.model, settings.cache_root, settings["device"], settings["dtype"], settings.tuning)
    return _keep("local", key, lambda: WanGenerator(*key))


def renderer(settings: Settings) -> Renderer:
    """What renders this site's clips: `backend: local` or `backend: ray`."""
    generator = local_generator(settings)
    if settings["backend"] == "local":
        return generator
    from mkdocs_wan.raypool import RayPool

    key = (generator, settings["ray_address"], settings["ray_actors"])
    return _keep("ray", key, lambda: RayPool(generator, settings["ray_address"], settings["ray_actors"]))


def _keep(kind: str, key: tuple[Any, ...], make: Any) -> Any:
    with _lock:
        held = _resident.get(kind)
        if held is None or held[0] != key:
            held = _resident[kind] = (key, make())
        return held[1]
