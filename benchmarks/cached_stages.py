"""Where a fully cached build's plugin time goes, stage by stage (wall time, not a profiler's).

Run: .venv/bin/python benchmarks/cached_stages.py [--pages 300] [--runs 3]
`cpu.py` gives the ratio a user feels; this says which stage to cut to move it. It builds the
same generated site as `cpu.py` (2 directives a page) once to fill the cache, then runs
`mkdocs build` in this process with each plugin hook and the engine's stages wrapped in a
timer, and reports the median milliseconds each stage took in all of a build (summed over its
calls) over `--runs` cached builds, next to the whole build and the same build without the
plugin (both in this process, so neither pays imports; the plugin's import is given apart).
cProfile doubles these small functions' cost and moves it around; a wrapper per stage adds
about a microsecond a call.
Nested stages are indented under the stage that calls them; a stage's time includes theirs.
"""

from __future__ import annotations

import argparse
import compileall
import functools
import os
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

from cpu import cpu_name, generated_site
from record import write_results


def stages() -> list[tuple[str, Any, str]]:
    """(label, owner, attribute) of each timed stage, callers before callees."""
    import mkdocs_wan.assembly.engine as engine
    import mkdocs_wan.assembly.publish as publish
    import mkdocs_wan.plugin as plugin
    from mkdocs_wan.store.cache import ClipCache

    hooks = [(hook, plugin.WanPlugin, hook) for hook in ("on_page_content", "on_env", "on_post_page", "on_post_build")]
    return [
        *hooks,
        ("  render", engine.PageEngine, "render"),
        ("    find_directives", engine, "find_directives"),
        ("    near_misses", engine, "near_misses"),
        ("    _replace (per directive)", engine.PageEngine, "_replace"),
        ("      _plan (spec, key, policy)", engine.PageEngine, "_plan"),
        ("        plan_clip", engine, "plan_clip"),
        ("      _embed", engine.PageEngine, "_embed"),
        ("        _ready (cache check)", engine.PageEngine, "_ready"),
        ("          ClipCache.record", ClipCache, "record"),
        ("        _poster", engine.PageEngine, "_poster"),
        ("        _video (urls, markup)", engine.PageEngine, "_video"),
        ("  publish.place (links)", publish, "place"),
    ]


def timed(totals: Counter[str], label: str, func: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return func(*args, **kwargs)
        finally:
            totals[label] += time.perf_counter() - started

    return wrapper


def build_once(config_file: Path, totals: Counter[str]) -> float:
    from mkdocs.commands.build import build
    from mkdocs.config import load_config

    totals.clear()
    started = time.perf_counter()
    build(load_config(str(config_file)))
    return time.perf_counter() - started


def main() -> None:
    compileall.compile_dir(str(Path(__file__).parent.parent / "mkdocs_wan"), quiet=1)
    parser = argparse.ArgumentParser()
    parser.add_argument("--pages", type=int, default=300)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    os.environ.update({"HF_HUB_OFFLINE": "1", "NO_MKDOCS_2_WARNING": "1"})
    import logging

    logging.getLogger("mkdocs").setLevel(logging.WARNING)  # as `mkdocs build -q`

    import mkdocs.commands.build  # MkDocs' own modules first: a plain build loads them too
    import mkdocs.config  # noqa: F401

    started = time.perf_counter()
    import mkdocs_wan.plugin  # noqa: F401 — what the plugin's import adds to a build, once per process

    import_ms = (time.perf_counter() - started) * 1000
    totals: Counter[str] = Counter()
    labels = []
    for label, owner, name in stages():
        setattr(owner, name, timed(totals, label, getattr(owner, name)))
        labels.append(label)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        generated_site(root, args.pages)
        os.chdir(root)
        build_once(root / "with.yml", totals)  # fills the cache
        runs: dict[str, list[float]] = {label: [] for label in labels}
        with_plugin, without_plugin = [], []
        for _ in range(args.runs):  # interleaved, so drift in machine load hits both alike
            with_plugin.append(build_once(root / "with.yml", totals))
            for label in labels:
                runs[label].append(totals[label])
            without_plugin.append(build_once(root / "without.yml", totals))
    result = {
        "benchmark": "cached_stages",
        "date": date.today().isoformat(),
        "device": cpu_name(),
        "pages": args.pages,
        "directives": 2 * args.pages,
        "runs": args.runs,
        "build_with_plugin_ms": round(statistics.median(with_plugin) * 1000, 1),
        "build_without_plugin_ms": round(statistics.median(without_plugin) * 1000, 1),
        "plugin_import_ms": round(import_ms, 1),
        "stages_ms": {label: round(statistics.median(runs[label]) * 1000, 1) for label in labels},
        "command": "python benchmarks/cached_stages.py " + " ".join(sys.argv[1:]),
    }
    write_results(result, "cached-stages")


if __name__ == "__main__":
    main()
