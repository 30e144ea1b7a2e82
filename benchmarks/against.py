"""A/B against an earlier commit, in one run: the only comparison this shared machine allows
(the same build's time moves by a third over a day; ratios from different runs mean little).

Run: .venv/bin/python benchmarks/against.py REV [--runs 9]
Exports REV's `mkdocs_wan` with `git archive` and imports it in place of the installed one (the
editable install's finder is taken off `sys.meta_path`), then on the real-site pages of `cpu.py`:
- times `find_directives`, the source-line candidates and `near_misses` over the HTML and source
  each page hands the plugin (best of 5), for REV and for this checkout;
- builds the cached site with REV's plugin, this checkout's and none, interleaved, and reports the
  median CPU time of each `mkdocs build` subprocess over the plain build.
Prints JSON; writes nothing under benchmarks/results.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import resource
import statistics
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import yaml
from cpu import WAN, real_site

CHECKOUT = Path(__file__).resolve().parent.parent
#: Runs before anything imports `mkdocs_wan`: the package comes from the folder given first.
USE = "import sys; sys.meta_path = [f for f in sys.meta_path if 'editable' not in repr(f)]; sys.path.insert(0, {!r}); "
CAPTURE = """
import pickle, sys
from mkdocs.commands.build import build
from mkdocs.config import load_config
import mkdocs_wan.assembly.engine as engine
pages, render = [], engine.PageEngine.render
def keep(self, html, markdown, page, *args, **kwargs):
    pages.append((html, markdown))
    return render(self, html, markdown, page, *args, **kwargs)
engine.PageEngine.render = keep
build(load_config("with.yml"))
pickle.dump(pages, open(sys.argv[1], "wb"))
"""
SCAN = """
import json, pickle, sys, timeit
from mkdocs_wan.page import directives, sourcelines
pages = pickle.load(open(sys.argv[1], "rb"))
stages = {
    "find_directives": lambda html, md: directives.find_directives(html, md),
    "source_candidates": lambda html, md: sourcelines._candidates(md),
    "near_misses": lambda html, md: directives.near_misses(html),
}
best = {k: min(timeit.repeat(lambda f=f: [f(*p) for p in pages], number=10, repeat=5)) / 10 for k, f in stages.items()}
print(json.dumps({k: round(v * 1000, 2) for k, v in best.items()}))
"""
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "NO_MKDOCS_2_WARNING": "1"}


def python(code: Path, script: str, *args: str, cwd: Path) -> str:
    run = [sys.executable, "-c", USE.format(str(code)) + script, *args]
    return subprocess.run(run, cwd=cwd, env=ENV, check=True, capture_output=True, text=True).stdout


def build_cpu_s(code: Path, config: str, cwd: Path) -> float:
    """CPU seconds of one `mkdocs build` whose plugin is imported from `code`."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    python(code, "from mkdocs.__main__ import cli; cli()", "build", "-q", "-f", config, cwd=cwd)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("rev", help="the commit to compare with, e.g. HEAD~3")
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root, old = Path(tmp) / "site", Path(tmp) / "old"
        old.mkdir()
        archive = subprocess.run(
            ["git", "archive", args.rev, "mkdocs_wan"], cwd=CHECKOUT, check=True, capture_output=True
        )
        (Path(tmp) / "old.tar").write_bytes(archive.stdout)
        with tarfile.open(Path(tmp) / "old.tar") as tar:
            tar.extractall(old, filter="data")
        for code in (old, CHECKOUT):  # bytecode first: PYTHONDONTWRITEBYTECODE would recompile every run
            compileall.compile_dir(str(code / "mkdocs_wan"), quiet=1)
        site = real_site(root)
        base = {"site_name": "READMEs", "theme": {"name": "mkdocs"}}
        (root / "with.yml").write_text(yaml.safe_dump({**base, "plugins": ["search", {"wan": WAN}]}))
        (root / "without.yml").write_text(yaml.safe_dump({**base, "plugins": ["search"]}))
        pages = Path(tmp) / "pages.pkl"
        python(CHECKOUT, CAPTURE, str(pages), cwd=root)  # fills the cache too
        scans = {
            name: json.loads(python(code, SCAN, str(pages), cwd=root))
            for name, code in (("rev", old), ("now", CHECKOUT))
        }
        times: dict[str, list[float]] = {"rev": [], "now": [], "plain": []}
        for _ in range(args.runs):  # interleaved, so drift in machine load hits all three alike
            times["rev"].append(build_cpu_s(old, "with.yml", root))
            times["now"].append(build_cpu_s(CHECKOUT, "with.yml", root))
            times["plain"].append(build_cpu_s(CHECKOUT, "without.yml", root))
    plain = statistics.median(times["plain"])
    result = {
        "rev": args.rev,
        "site": site,
        "scan_ms": scans,
        "build_cpu_s": {k: round(statistics.median(v), 3) for k, v in times.items()},
        "ratio_to_plain": {k: round(statistics.median(times[k]) / plain, 3) for k in ("rev", "now")},
        "command": "python benchmarks/against.py " + " ".join(sys.argv[1:]),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
