"""Join segment clips into one with a linear crossfade, streamed frame by frame.

A long clip is eight segments of up to 241 frames; decoding them whole and blending in float32
took ~80 GB at 1024x1024. Here each segment is decoded as it is read and the output is encoded
as it is made, holding only the last `transition` output frames (the part the next segment
blends into): peak memory is (transition + 3) frames — at 1024x1024, 3 MB each — whatever the
number or length of the segments.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np


@dataclass(frozen=True)
class Stitched:
    """What the build needs of a stitched clip without decoding it again."""

    first_frame: np.ndarray
    frames: int
    quality: str | None


def crossfade_stream(clips: Iterable[Iterable[np.ndarray]], transition: int) -> Iterator[np.ndarray]:
    """The frames of the clips in order, the last `transition` frames of what came before blended
    into the first `transition` of each next clip (weights strictly between 0 and 1, so no frame of
    the overlap is a hard cut); sum(F) - transition * (len(clips) - 1) frames.

    Every clip after the first must have more than `transition` frames (the spec checks it)."""
    import numpy as np

    alphas = np.arange(1, transition + 1, dtype=np.float32) / (transition + 1)
    pending: deque[np.ndarray] = deque()  # the output's last `transition` frames, not yet sent
    for index, clip in enumerate(clips):
        frames = iter(clip)
        if index and transition:
            for alpha in alphas:
                nxt = next(frames)
                earlier = pending.popleft().astype(np.float32)
                blend = earlier * (1 - alpha) + nxt.astype(np.float32) * alpha
                pending.append(np.clip(blend.round(), 0, 255).astype(np.uint8))
        for frame in frames:
            pending.append(frame)
            if len(pending) > transition:
                yield pending.popleft()
    yield from pending


def stitch(parts: Sequence[Path], transition: int, out: Path, fps: int, crf: int, tags: dict[str, str]) -> Stitched:
    """Crossfade the MP4 segments `parts` into the MP4 `out`, decoding, checking and encoding as it
    goes; the quality checks see every frame, one at a time."""
    from mkdocs_wan.media.encode import encode_stream, frame_size, read_frames
    from mkdocs_wan.media.quality import QualityMeter

    meter = QualityMeter()
    first: list[np.ndarray] = []

    def checked(frames: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
        for frame in frames:
            if not first:
                first.append(frame.copy())
            meter.add(frame)
            yield frame

    width, height = frame_size(parts[0])
    stream = crossfade_stream((read_frames(part) for part in parts), transition)
    encode_stream(checked(stream), (width, height), out, fps, crf, tags)
    return Stitched(first[0], meter.count, meter.problem())
