"""The first hour, measured: what the README promises a new user of the documentation site.

Run: .venv/bin/python benchmarks/first_hour.py [--skip-install]
On a clean copy of the checkout: (1) a fresh virtual environment with the README's docs install
line (`pip install torch==… -e . mkdocs-material`; pip's download cache as this machine has it),
(2) the first `mkdocs build --strict` of the documentation site (every clip generated with the
offline `tiny` model), (3) a rebuild with every clip cached. Wall and CPU seconds of each, the
machine, its load, and the date go to benchmarks/results/first-hour-<date>.json; the README quotes
them as ranges with their date and machine.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

from record import write_results

ROOT = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "NO_MKDOCS_2_WARNING": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}


def timed(cmd: str, cwd: Path, env: dict[str, str]) -> dict[str, float]:
    """Wall and CPU seconds (user + system, of every child) of one shell command."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(cmd, shell=True, cwd=cwd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        sys.exit(f"failed: {cmd}\n{done.stderr[-3000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall_s": round(wall, 1), "cpu_s": round(cpu, 1)}


def cpu_name() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--skip-install", action="store_true", help="use this checkout's .venv instead")
    args = parser.parse_args()
    import torch

    torch_version = torch.__version__.split("+")[0]
    result: dict[str, object] = {
        "benchmark": "first_hour",
        "date": date.today().isoformat(),
        "cpu": cpu_name(),
        "cores": os.cpu_count(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        ignore = shutil.ignore_patterns(".venv", ".cache", "site", "node_modules", ".test-tools", "__pycache__")
        shutil.copytree(ROOT, work / "mkdocs-wan", ignore=ignore)
        checkout = work / "mkdocs-wan"
        if args.skip_install:
            bin_dir = ROOT / ".venv" / "bin"
        else:
            install = f".venv/bin/pip install -q torch=={torch_version} -e . mkdocs-material"
            result["install"] = timed(f"{sys.executable} -m venv .venv && {install}", checkout, ENV)
            bin_dir = checkout / ".venv" / "bin"
        env = {**ENV, "PATH": f"{bin_dir}{os.pathsep}{ENV['PATH']}"}
        env.pop("PYTHONPATH", None)
        build = f"{bin_dir / 'mkdocs'} build --strict -f example_site/mkdocs.yml"
        result["first_build"] = timed(build, checkout, env)
        result["rebuild"] = timed(build, checkout, env)
        clips = len(list((checkout / "example_site" / "site" / "assets" / "videos").glob("*.mp4")))
        result["clips"] = clips
    result["command"] = "python benchmarks/first_hour.py " + " ".join(sys.argv[1:])
    write_results(result, "first-hour")


if __name__ == "__main__":
    main()
