"""Benchmark: cold build (generate every clip) vs. fully cached build, and one tiny clip.

Run: .venv/bin/python tests/bench_build.py [--clips N]
Reports wall times and their ratio from one run, so machine speed cancels out.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml


def build(root: Path) -> float:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "NO_MKDOCS_2_WARNING": "1"}
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "mkdocs", "build", "-q"], cwd=root, env=env, check=True)
    return time.perf_counter() - started


def tiny_clip_seconds(cache: Path, repeats: int = 5) -> tuple[float, float]:
    """Model load time and median generation time of a 64x64, 9-frame, 2-step clip."""
    from mkdocs_wan.generate import WanGenerator
    from mkdocs_wan.models import ModelRef
    from mkdocs_wan.spec import ClipSpec

    generator = WanGenerator(ModelRef.resolve("tiny", cache), cache)
    started = time.perf_counter()
    generator.load()
    load = time.perf_counter() - started
    spec = ClipSpec("A robot arm assembling a smartphone", "", 7, 9, 24, 64, 64, 2, 5.0)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        generator.generate(spec)
        times.append(time.perf_counter() - started)
    return load, statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clips", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "docs").mkdir()
        for i in range(args.clips):
            (root / "docs" / f"page{i}.md").write_text(f"# Page {i}\n\n<!-- @video-gen Clip number {i} -->\n")
        config = {
            "site_name": "Bench",
            "plugins": [{"wan": {"model": "tiny", "size": "64x64", "frames": 9, "steps": 2}}],
        }
        (root / "mkdocs.yml").write_text(yaml.safe_dump(config))
        cold = build(root)
        cached = [build(root) for _ in range(3)]
        load, clip = tiny_clip_seconds(root / ".cache" / "mkdocs-wan")
    warm = statistics.median(cached)
    print(f"cold build, {args.clips} clips generated: {cold:.2f} s")
    print(f"fully cached build (median of 3):   {warm:.2f} s  ({cold / warm:.1f}x faster)")
    print(f"tiny model load in-process:          {load:.2f} s")
    print(f"tiny clip 64x64, 9 frames, 2 steps:  {clip * 1000:.0f} ms (median of 5)")


if __name__ == "__main__":
    main()
