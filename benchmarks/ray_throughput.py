"""Ray backend throughput on the tiny model: clips/s with 1 vs 2 actors, in one run.

Run: .venv/bin/python benchmarks/ray_throughput.py [--clips 16]
It re-runs itself inside a private network namespace that only has loopback (`unshare -rn`),
so Ray's traffic stays on 127.0.0.1. Writes benchmarks/results/ray-<date>.json.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mkdocs_wan.page.spec import ClipSpec
    from mkdocs_wan.render.raypool import RayPool

RESULTS = Path(__file__).parent / "results"


def clips_per_second(pool: RayPool, specs: list[ClipSpec]) -> float:
    from mkdocs_wan.assembly.jobs import generate_missing
    from mkdocs_wan.assembly.plan import Generate, Plan
    from mkdocs_wan.store.cache import ClipCache

    with tempfile.TemporaryDirectory() as tmp:
        jobs = {f"k{i}": Plan((Generate(f"k{i}", s),), s, s.prompt) for i, s in enumerate(specs)}
        started = time.perf_counter()
        made, failures = generate_missing(jobs, ClipCache(Path(tmp)), pool, {})
        assert not failures and len(made) == len(specs)
        return len(specs) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clips", type=int, default=16)
    args = parser.parse_args()
    if os.environ.get("MKDOCS_WAN_NETNS") != "1":
        inner = f"ip link set lo up && exec {sys.executable} {__file__} --clips {args.clips}"
        env = {**os.environ, "MKDOCS_WAN_NETNS": "1", "HF_HUB_OFFLINE": "1"}
        sys.exit(subprocess.run(["unshare", "-rn", "sh", "-c", inner], env=env).returncode)

    import ray

    from mkdocs_wan.models.reference import ModelRef
    from mkdocs_wan.page.spec import ClipSpec
    from mkdocs_wan.render.generate import WanGenerator
    from mkdocs_wan.render.raypool import RayPool

    logging.getLogger("mkdocs").setLevel(logging.ERROR)  # no progress bar in the numbers
    cache = Path(tempfile.mkdtemp())
    generator = WanGenerator(ModelRef.resolve("tiny", cache), cache)
    generator.load()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
    specs = [ClipSpec(f"Clip {i}", "", i, 17, 24, 128, 128, 4, 5.0) for i in range(args.clips)]
    rates = {}
    for actors in (1, 2):
        pool = RayPool(generator, None, actors)
        clips_per_second(pool, specs[:actors])  # warm-up: every actor loads its model
        rates[actors] = clips_per_second(pool, specs)
        for actor in pool.actors:
            ray.kill(actor)
    result = {
        "benchmark": "ray",
        "date": date.today().isoformat(),
        "device": "cpu, 2 cores, tiny model, 128x128x17, 4 steps",
        "clips": args.clips,
        "clips_per_s_1_actor": round(rates[1], 2),
        "clips_per_s_2_actors": round(rates[2], 2),
        "speedup": round(rates[2] / rates[1], 2),
    }
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"ray-{result['date']}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
