"""Frames → web-playable MP4 through imageio-ffmpeg (H.264, yuv420p, faststart, no audio)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

#: Encoder settings; they shape the clip's bytes, so they are part of every cache key.
#: Threads are pinned because x264's output depends on its thread count.
ENCODER: dict[str, Any] = {
    "codec": "libx264",
    "pix_fmt": "yuv420p",
    "crf": 20,
    "preset": "medium",
    "threads": 2,
    "faststart": True,
}


def encode_mp4(frames: np.ndarray, path: Path, fps: int) -> None:
    """Write `frames` (F, H, W, 3, uint8) to `path` as an MP4 that browsers play inline."""
    import imageio_ffmpeg

    count, height, width, _ = frames.shape
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
            "-crf", str(ENCODER["crf"]),
            "-preset", ENCODER["preset"],
            "-threads", str(ENCODER["threads"]),
            "-movflags", "+faststart",
            "-an",
            "-f", "mp4",
        ],
    )  # fmt: skip
    writer.send(None)  # start ffmpeg
    try:
        for index in range(count):
            writer.send(frames[index].tobytes())
    finally:
        writer.close()


def count_frames(path: Path) -> int:
    """Decode the whole clip and count its frames (what a player will show)."""
    import imageio_ffmpeg

    frames, _seconds = imageio_ffmpeg.count_frames_and_secs(str(path))
    return frames


def decode_mp4(path: Path) -> np.ndarray:
    """Every frame of a clip as (F, H, W, 3) uint8 — what a player shows, compression included."""
    import imageio_ffmpeg
    import numpy as np

    reader = imageio_ffmpeg.read_frames(str(path))
    width, height = next(reader)["size"]
    frames = [np.frombuffer(frame, dtype=np.uint8) for frame in reader]
    return np.stack(frames).reshape(len(frames), height, width, 3)
