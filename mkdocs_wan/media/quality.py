"""Cheap checks that catch a generated clip nobody would want on a page."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

DARK_MEAN = 8.0  # mean pixel value (0-255) below which a clip is near-black
FLAT_STD = 3.0  # pixel spread below which every frame is one flat colour
STILL_DIFF = 0.5  # mean absolute change between consecutive frames below which nothing moves


class QualityMeter:
    """The checks' statistics, accumulated a frame at a time (a stitched clip is never in memory
    whole): the mean and spread of every pixel value, and the mean change between frames."""

    def __init__(self) -> None:
        self.count = 0
        self._values = 0
        self._sum = self._squares = self._change = 0.0
        self._previous: np.ndarray | None = None

    def add(self, frame: np.ndarray) -> None:
        """Take one (H, W, 3) uint8 frame."""
        import numpy as np

        pixels = frame.astype(np.float32)
        self.count += 1
        self._values += pixels.size
        self._sum += float(pixels.sum(dtype=np.float64))
        self._squares += float(np.square(pixels, dtype=np.float64).sum())
        if self._previous is not None:
            self._change += float(np.abs(pixels - self._previous).mean(dtype=np.float64))
        self._previous = pixels

    def problem(self) -> str | None:
        """Why the clip looks broken, or None if it looks like a video."""
        if not self._values:
            return "empty (no frames)"
        mean = self._sum / self._values
        if mean < DARK_MEAN:
            return "near-black"
        if math.sqrt(max(self._squares / self._values - mean * mean, 0.0)) < FLAT_STD:
            return "near-constant (one flat colour)"
        if self.count > 1 and self._change / (self.count - 1) < STILL_DIFF:
            return "frozen (no change between frames)"
        return None


def quality_problem(frames: np.ndarray) -> str | None:
    """Why the clip (F, H, W, 3 uint8) looks broken, or None if it looks like a video."""
    meter = QualityMeter()
    for frame in frames:
        meter.add(frame)
    return meter.problem()
