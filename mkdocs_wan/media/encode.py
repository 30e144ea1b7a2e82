"""Frames → web-playable MP4 through imageio-ffmpeg (H.264, yuv420p, faststart, no audio)."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from mkdocs_wan.settings.options import OPTIONS
from mkdocs_wan.store.keys import ENCODER

if TYPE_CHECKING:
    import numpy as np

POSTER_QUALITY = 80  # JPEG quality of the poster frame


@dataclass(frozen=True)
class Rendered:
    """An encoded clip, small enough to ship from a remote GPU: MP4 bytes plus what the
    build needs without decoding it again (poster frame, frame count, quality verdict)."""

    mp4: bytes
    first_frame: np.ndarray
    frames: int
    quality: str | None
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage: text, denoise, decode, encode


def encode_rendered(
    frames: np.ndarray, fps: int, crf: int, tags: dict[str, str], workdir: Path | None = None
) -> Rendered:
    """Encode frames in memory (through a temp file: ffmpeg muxes MP4 to seekable files only).

    The temp folder goes in `workdir` (the cache's `tmp/`), where the next run sweeps it away if
    this process is killed mid-encode.
    """
    import os

    from mkdocs_wan.media.quality import quality_problem

    if workdir is not None:
        try:
            workdir.mkdir(parents=True, exist_ok=True)
        except OSError:  # e.g. a Ray actor on a node without the build machine's cache folder
            workdir = None
    import time

    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix=f"encode-{os.getpid()}-", dir=workdir) as tmp:
        path = Path(tmp) / "clip.mp4"
        encode_mp4(frames, path, fps, crf, tags)
        data = path.read_bytes()
    seconds = {"encode": time.perf_counter() - started}
    return Rendered(data, frames[0].copy(), len(frames), quality_problem(frames), seconds)


def encode_mp4(
    frames: np.ndarray,
    path: Path,
    fps: int,
    crf: int = OPTIONS["crf"].default,
    metadata: dict[str, str] | None = None,
) -> None:
    """Write `frames` (F, H, W, 3, uint8) to `path` as an MP4 that browsers play inline.

    `metadata` lands in the MP4's tags (title, comment, …) for provenance.
    """
    _count, height, width, _ = frames.shape
    encode_stream(iter(frames), (width, height), path, fps, crf, metadata)


def encode_stream(
    frames: Iterator[np.ndarray],
    size: tuple[int, int],
    path: Path,
    fps: int,
    crf: int = OPTIONS["crf"].default,
    metadata: dict[str, str] | None = None,
) -> None:
    """`encode_mp4` for frames that arrive one at a time (H, W, 3 uint8, all of `size` = (W, H)),
    so a clip far larger than memory can be encoded."""
    import imageio_ffmpeg

    tags = [arg for name, value in (metadata or {}).items() for arg in ("-metadata", f"{name}={value}")]
    width, height = size
    writer = imageio_ffmpeg.write_frames(
        str(path),
        (width, height),
        fps=fps,
        codec=ENCODER["codec"],
        pix_fmt_in="rgb24",
        pix_fmt_out=ENCODER["pix_fmt"],
        quality=None,  # -crf below instead of imageio's 0-10 scale
        macro_block_size=16,
        ffmpeg_log_level="error",
        output_params=[
            "-crf", str(crf),
            "-preset", ENCODER["preset"],
            "-threads", str(ENCODER["threads"]),
            "-movflags", "+faststart",
            "-an",
            *tags,
            "-f", "mp4",
        ],
    )  # fmt: skip
    writer.send(None)  # start ffmpeg
    try:
        for frame in frames:
            if frame.shape != (height, width, 3):
                raise ValueError(f"a frame of {frame.shape[1]}x{frame.shape[0]} in a {width}x{height} clip")
            writer.send(frame.tobytes())
    finally:
        writer.close()


def count_frames(path: Path) -> int:
    """Decode the whole clip and count its frames (what a player will show)."""
    import imageio_ffmpeg

    frames, _seconds = imageio_ffmpeg.count_frames_and_secs(str(path))
    return frames


def probe(path: Path) -> tuple[int, int, int]:
    """(frames, width, height) of a clip, decoding all of it (a header alone can lie)."""
    width, height = frame_size(path)
    return count_frames(path), width, height


def frame_size(path: Path) -> tuple[int, int]:
    """(width, height) of a clip, from its header."""
    import imageio_ffmpeg

    reader = imageio_ffmpeg.read_frames(str(path))
    try:
        return tuple(next(reader)["size"])  # type: ignore[return-value]
    finally:
        reader.close()


def read_frames(path: Path) -> Iterator[np.ndarray]:
    """A clip's frames one at a time, (H, W, 3) uint8; ffmpeg is stopped however the loop ends."""
    import imageio_ffmpeg
    import numpy as np

    reader = imageio_ffmpeg.read_frames(str(path))
    try:
        width, height = next(reader)["size"]
        for frame in reader:
            yield np.frombuffer(frame, dtype=np.uint8).reshape(height, width, 3)
    finally:
        reader.close()


def decode_mp4(path: Path) -> np.ndarray:
    """Every frame of a clip as (F, H, W, 3) uint8 — what a player shows, compression included."""
    import numpy as np

    return np.stack(list(read_frames(path)))


def decode_first_frame(path: Path) -> np.ndarray:
    """The clip's first frame as (H, W, 3) uint8, without decoding the rest."""
    frames = read_frames(path)
    try:
        return next(frames).copy()
    finally:
        frames.close()  # stops ffmpeg


def write_poster(frame: np.ndarray, path: Path) -> None:
    """Save one frame as the small JPEG a page shows before the clip loads."""
    from PIL import Image

    Image.fromarray(frame).save(path, format="JPEG", quality=POSTER_QUALITY, optimize=True)


def read_metadata(path: Path) -> dict[str, str]:
    """The MP4's container tags, as ffmpeg reports them (for checking provenance tags)."""
    import subprocess

    import imageio_ffmpeg

    probe = subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-i", str(path), "-f", "ffmetadata", "-"],
        capture_output=True,
        text=True,
        check=True,
    )
    pairs = (line.split("=", 1) for line in probe.stdout.splitlines() if "=" in line and not line.startswith(";"))
    return {key: value for key, value in pairs}
