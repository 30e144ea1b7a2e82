"""MP4 encoding with the real ffmpeg: H.264, yuv420p, faststart, right frame count and size."""

from __future__ import annotations

import struct
from pathlib import Path

import imageio_ffmpeg
import numpy as np

from mkdocs_wan.media.encode import count_frames, encode_mp4


def top_level_atoms(path: Path) -> list[str]:
    data = path.read_bytes()
    atoms, offset = [], 0
    while offset + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[offset : offset + 8])
        atoms.append(kind.decode("latin-1"))
        if size == 1:
            size = struct.unpack(">Q", data[offset + 8 : offset + 16])[0]
        offset += size if size else len(data)
    return atoms


def gradient(frames: int, height: int, width: int) -> np.ndarray:
    t = np.arange(frames, dtype=np.uint16)[:, None, None, None]
    y = np.arange(height, dtype=np.uint16)[None, :, None, None]
    x = np.arange(width, dtype=np.uint16)[None, None, :, None]
    return ((t * 20 + y * 2 + x + np.array([0, 80, 160])) % 256).astype(np.uint8)


def test_encode_web_playable_mp4(tmp_path):
    path = tmp_path / "clip.mp4"
    encode_mp4(gradient(13, 64, 96), path, fps=12)
    meta = next(imageio_ffmpeg.read_frames(str(path)))
    assert meta["codec"] == "h264"
    assert meta["pix_fmt"].startswith("yuv420p")
    assert meta["size"] == (96, 64)
    assert meta["fps"] == 12
    assert count_frames(path) == 13
    atoms = top_level_atoms(path)
    assert atoms.index("moov") < atoms.index("mdat")  # faststart: playback starts before download ends


def test_encoding_is_deterministic(tmp_path):
    frames = gradient(9, 32, 32)
    encode_mp4(frames, tmp_path / "a.mp4", fps=24)
    encode_mp4(frames, tmp_path / "b.mp4", fps=24)
    assert (tmp_path / "a.mp4").read_bytes() == (tmp_path / "b.mp4").read_bytes()
