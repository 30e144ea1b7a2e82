"""Peak memory of stitching a segmented clip: streamed (what the build does) against decoding
every segment whole and crossfading in float32 (what 0.1 did), in one run.

Run: .venv/bin/python benchmarks/stitch.py [--segments 8] [--frames 49] [--size 256]
Encodes `segments` real MP4 segments of moving noise, then measures the Python heap's peak
(tracemalloc sees numpy's buffers) of `media.stitch.stitch` and of the whole-array crossfade.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import numpy as np

from mkdocs_wan.media.encode import decode_mp4, encode_mp4
from mkdocs_wan.media.stitch import stitch


def _peak(run: Callable[[], object]) -> tuple[float, float]:
    tracemalloc.start()
    started = time.perf_counter()
    try:
        run()
        return tracemalloc.get_traced_memory()[1] / 1e6, time.perf_counter() - started
    finally:
        tracemalloc.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--segments", type=int, default=8)
    parser.add_argument("--frames", type=int, default=49)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--transition", type=int, default=4)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="stitch-bench-"))
    rng = np.random.default_rng(0)
    parts = []
    for index in range(args.segments):
        base = rng.integers(0, 256, (args.size, args.size, 3), dtype=np.uint8)
        path = folder / f"part{index}.mp4"
        encode_mp4(np.stack([np.roll(base, 3 * step, axis=1) for step in range(args.frames)]), path, 16, 30)
        parts.append(path)

    def whole() -> None:
        clips = [decode_mp4(path) for path in parts]
        out = clips[0].astype(np.float32)
        t = args.transition
        alpha = (np.arange(1, t + 1, dtype=np.float32) / (t + 1))[:, None, None, None]
        for clip in clips[1:]:
            nxt = clip.astype(np.float32)
            out = np.concatenate([out[:-t], out[-t:] * (1 - alpha) + nxt[:t] * alpha, nxt[t:]])

    streamed = _peak(lambda: stitch(parts, args.transition, folder / "out.mp4", 16, 30, {}))
    old = _peak(whole)
    frame_mb = args.size * args.size * 3 / 1e6
    print(f"{args.segments} segments x {args.frames} frames at {args.size}x{args.size} ({frame_mb:.2f} MB a frame)")
    print(f"streamed stitch (decode, blend, check, encode): peak {streamed[0]:.1f} MB, {streamed[1]:.2f} s")
    print(f"whole-array crossfade (decode + blend only):    peak {old[0]:.1f} MB, {old[1]:.2f} s")


if __name__ == "__main__":
    main()
