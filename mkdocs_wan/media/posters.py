"""Media work on cached clips: posters and full decode checks (the cache only handles bytes)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mkdocs_wan.store.cache import ClipCache

if TYPE_CHECKING:
    import numpy as np


def store_poster(cache: ClipCache, key: str, frame: np.ndarray) -> None:
    """Save `frame` as the clip's poster (the small JPEG a page shows before the clip loads)."""
    from mkdocs_wan.media.encode import write_poster

    cache.store_poster(key, lambda path: write_poster(frame, path))


def ensure_poster(cache: ClipCache, key: str) -> None:
    """Make the clip's poster (its first frame) if it is missing, e.g. deleted by hand."""
    if not cache.poster_path(key).is_file():
        from mkdocs_wan.media.encode import decode_first_frame

        store_poster(cache, key, decode_first_frame(cache.path(key)))


def audit(cache: ClipCache, key: str) -> str | None:
    """A full check of one clip (checksum, decodes, frame count); the problem, or None."""
    from mkdocs_wan.media.encode import count_frames

    problem = cache.verify_bytes(key)
    if problem is not None:
        return problem
    try:
        frames = count_frames(cache.path(key))
    except (RuntimeError, OSError) as err:
        return f"does not decode: {err}"
    expected = (cache.record(key) or {}).get("frames")
    return None if frames == expected else f"{frames} frames, expected {expected}"
