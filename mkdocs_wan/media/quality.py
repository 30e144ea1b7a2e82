"""Cheap checks that catch a generated clip nobody would want on a page."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

DARK_MEAN = 8.0  # mean pixel value (0-255) below which a clip is near-black
FLAT_STD = 3.0  # pixel spread below which every frame is one flat colour
STILL_DIFF = 0.5  # mean absolute change between consecutive frames below which nothing moves


def quality_problem(frames: np.ndarray) -> str | None:
    """Why the clip (F, H, W, 3 uint8) looks broken, or None if it looks like a video."""
    import numpy as np

    pixels = frames.astype(np.float32)
    if pixels.mean() < DARK_MEAN:
        return "near-black"
    if pixels.std() < FLAT_STD:
        return "near-constant (one flat colour)"
    if len(frames) > 1 and np.abs(np.diff(pixels, axis=0)).mean() < STILL_DIFF:
        return "frozen (no change between frames)"
    return None
