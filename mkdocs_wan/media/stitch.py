"""Join segment clips into one with a linear crossfade."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np


def crossfade(clips: Sequence[np.ndarray], transition: int) -> np.ndarray:
    """Concatenate (F, H, W, 3) clips, blending the last `transition` frames of each into the
    first `transition` of the next; the result has sum(F) - transition * (len(clips) - 1) frames."""
    import numpy as np

    out = clips[0].astype(np.float32)
    for clip in clips[1:]:
        nxt = clip.astype(np.float32)
        if transition:
            # Weights strictly between 0 and 1, so no frame of the overlap is a hard cut.
            alpha = (np.arange(1, transition + 1, dtype=np.float32) / (transition + 1))[:, None, None, None]
            blend = out[-transition:] * (1 - alpha) + nxt[:transition] * alpha
            out = np.concatenate([out[:-transition], blend, nxt[transition:]])
        else:
            out = np.concatenate([out, nxt])
    return np.clip(out.round(), 0, 255).astype(np.uint8)
