"""`fetch_from` on loopback: a site with N clips is built once (tiny model), served over HTTP, and
a fresh checkout builds from it with `generate: never`; reports the fetch-build time next to a
fully cached build and a cold (generating) build of the same site, medians of 3, in one run.

    .venv/bin/python benchmarks/fetch.py [N]
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import yaml

ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "NO_MKDOCS_2_WARNING": "1"}


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


def make_site(root: Path, clips: int, **options: object) -> None:
    (root / "docs").mkdir(parents=True, exist_ok=True)
    lines = [f"<!-- @video-gen Benchmark clip number {i} -->\n" for i in range(clips)]
    (root / "docs" / "index.md").write_text("# Clips\n\n" + "\n".join(lines))
    wan = {"model": "tiny", "size": "128x96", "frames": 17, "steps": 2, "cache_dir": "cache", **options}
    config = {"site_name": "Bench", "plugins": [{"wan": wan}]}
    (root / "mkdocs.yml").write_text(yaml.safe_dump(config))


def build(root: Path) -> float:
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build"], cwd=root, env=ENV, capture_output=True, text=True
    )
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(result.stderr)
    return elapsed


def main() -> None:
    clips = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    with tempfile.TemporaryDirectory() as tmp:
        publisher = Path(tmp) / "publisher"
        make_site(publisher, clips)
        cold = build(publisher)
        cached = statistics.median(build(publisher) for _ in range(3))
        handler = functools.partial(_Quiet, directory=str(publisher / "site"))
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        url = f"http://127.0.0.1:{server.server_address[1]}/"
        fetching = []
        for run in range(3):
            consumer = Path(tmp) / f"consumer-{run}"
            make_site(consumer, clips, fetch_from=url, generate="never")
            fetching.append(build(consumer))
            shutil.rmtree(consumer)
        server.shutdown()
        size = sum(p.stat().st_size for p in (publisher / "site" / "assets" / "videos").glob("*.mp4"))
    result = {
        "clips": clips,
        "clip_bytes_total": size,
        "cold_build_generating_s": round(cold, 3),
        "fully_cached_build_s": round(cached, 3),
        "fresh_cache_build_fetching_s": round(statistics.median(fetching), 3),
        "fetch_overhead_per_clip_ms": round((statistics.median(fetching) - cached) / clips * 1000, 1),
    }
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
