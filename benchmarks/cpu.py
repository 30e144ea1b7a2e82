"""CPU benchmark: what the plugin costs a fully cached site, and tiny-model seconds per clip.

Run: .venv/bin/python benchmarks/cpu.py [--pages 300]
Builds a generated site with 2 directives per page (600 by default) once to fill the cache, then
times, interleaved in one run, the cached build with the plugin against the same pages without it
(median of 5 each), and reports the ratio; and the same build with the plugin loaded but its page
engine left out (`engine_left_out_ratio`: what import, config and hooks cost alone). The same for a
real, mid-sized site: the Markdown READMEs of the installed packages the test extra brings
(real-world Markdown: tables, code, HTML, badges) with two directives each, built with the Material
theme and SuperFences (as most Material sites are) and with MkDocs' default theme and no
SuperFences; and with clips on only 2 of its pages, as on most real sites. Also the import cost of
the plugin module beyond MkDocs' own build modules, and pages of 5,000 and 10,000 uncached
directives, unclosed openers or directives in one paragraph (`--hostile-only` runs just those).
Writes benchmarks/results/cpu-<date>.json.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from datetime import date
from pathlib import Path

import yaml
from record import write_results

WAN = {"model": "tiny", "size": "32x32", "frames": 5, "steps": 1, "guidance": 1.0}


#: `mkdocs build` with the plugin loaded but its page engine left out: each page's directives are
#: made plain comments and nothing is published. What the plugin costs beyond this is the engine's.
ENGINE_LEFT_OUT = (
    "import sys, mkdocs_wan.plugin as p\n"
    "p.WanPlugin.on_page_content = lambda self, html, **kw: html.replace('@video-gen', '@x')\n"
    "from mkdocs.__main__ import cli\n"
    "sys.argv[0] = 'mkdocs'; cli()"
)


def build(root: Path, config: str, engine: bool = True) -> float:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "NO_MKDOCS_2_WARNING": "1"}
    run = ["-m", "mkdocs"] if engine else ["-c", ENGINE_LEFT_OUT]
    started = time.perf_counter()
    subprocess.run([sys.executable, *run, "build", "-q", "-f", config], cwd=root, env=env, check=True)
    return time.perf_counter() - started


#: Installed with `.[test]`; their READMEs become the pages of the real-site benchmark.
README_PACKAGES = [
    "mkdocs", "mkdocs-material", "mkdocs-material-extensions", "pymdown-extensions", "markdown-it-py", "rich",
    "typer", "attrs", "msgpack", "ftfy", "ghp-import", "pillow", "idna", "urllib3", "fsspec", "numpy",
    "platformdirs", "mergedeep", "paginate", "tomli", "accelerate", "diffusers",
]  # fmt: skip


def real_site(root: Path, clip_pages: int | None = None) -> dict[str, int]:
    """Pages from installed packages' READMEs, with a directive a third and two thirds in (on the
    first `clip_pages` pages only, if given: most pages of a real site have no clip)."""
    from importlib import metadata

    docs = root / "docs"
    docs.mkdir(parents=True)
    (docs / "index.md").write_text("# Package READMEs\n\nReal-world Markdown, rendered with mkdocs-wan.\n")
    pages = size = 0
    for name in README_PACKAGES:
        try:
            body = metadata.metadata(name).get_payload() or ""
        except metadata.PackageNotFoundError:
            continue
        paras = body.split("\n\n")
        if clip_pages is not None and pages >= clip_pages:
            (docs / f"{name}.md").write_text(body)
            pages, size = pages + 1, size + len(body.encode())
            continue
        paras.insert(2 * len(paras) // 3, f"<!-- @video-gen A short clip about {name}, the second one -->")
        paras.insert(len(paras) // 3, f"<!-- @video-gen A short clip about {name} -->")
        text = "\n\n".join(paras)
        (docs / f"{name}.md").write_text(text)
        pages, size = pages + 1, size + len(text.encode())
    return {"pages": pages, "markdown_bytes": size, "directives": 2 * min(pages, clip_pages or pages)}


def generated_site(root: Path, pages: int) -> None:
    """`pages` pages of two directives each, and a config with the plugin and one without."""
    (root / "docs").mkdir()
    for i in range(pages):
        text = f"# Page {i}\n\nText.\n\n<!-- @video-gen Clip {i}a -->\n\nMore.\n\n<!-- @video-gen Clip {i}b -->\n"
        (root / "docs" / f"page{i:03d}.md").write_text(text)
    base = {"site_name": "Bench", "theme": {"name": "mkdocs"}}
    (root / "with.yml").write_text(yaml.safe_dump({**base, "plugins": [{"wan": WAN}]}))
    (root / "without.yml").write_text(yaml.safe_dump({**base, "plugins": []}))


def cached_ratio(root: Path, base: dict[str, object], runs: int) -> dict[str, float]:
    """Median cached build with the plugin over the same site without it, interleaved."""
    (root / "with.yml").write_text(yaml.safe_dump({**base, "plugins": ["search", {"wan": WAN}]}))
    (root / "without.yml").write_text(yaml.safe_dump({**base, "plugins": ["search"]}))
    cold = build(root, "with.yml")
    with_plugin, without_plugin, engine_left_out = [], [], []
    for _ in range(runs):
        with_plugin.append(build(root, "with.yml"))
        without_plugin.append(build(root, "without.yml"))
        engine_left_out.append(build(root, "with.yml", engine=False))
    return {
        "cold_build_s": round(cold, 2),
        "cached_build_with_plugin_s": round(statistics.median(with_plugin), 3),
        "build_without_plugin_s": round(statistics.median(without_plugin), 3),
        "cached_overhead_ratio": round(statistics.median(with_plugin) / statistics.median(without_plugin), 3),
        "engine_left_out_ratio": round(statistics.median(engine_left_out) / statistics.median(without_plugin), 3),
    }


def hostile_pages(runs: int) -> dict[str, dict[str, float]]:
    """One page of N "not generated" boxes (`generate: never`), N unclosed openers or N directives in
    one paragraph, with the plugin over without it: each must stay within 2.5x and linear (N=5,000 against N=10,000)."""
    rows: dict[str, dict[str, float]] = {}
    kinds = {
        "boxes": ("<!-- @video-gen Clip number {i} -->", "\n\n"),
        "openers": ("<!-- @video-gen Clip {i}", "\n\n"),
        "one_paragraph": ("word <!-- @video-gen Clip {i} --> more", "\n"),
    }
    for kind, (line, between) in kinds.items():
        for count in (5000, 10000):
            with tempfile.TemporaryDirectory() as tmp:
                root = Path(tmp)
                (root / "docs").mkdir()
                body = between.join(line.format(i=i) for i in range(count))
                (root / "docs" / "index.md").write_text(f"# Many\n\n{body}\n")
                base = {"site_name": "Hostile", "theme": {"name": "mkdocs"}}
                wan = {**WAN, "generate": "never", "cache_dir": str(root / "cache")}
                (root / "with.yml").write_text(yaml.safe_dump({**base, "plugins": [{"wan": wan}]}))
                (root / "without.yml").write_text(yaml.safe_dump({**base, "plugins": []}))
                with_plugin, without_plugin = [], []
                for _ in range(runs):
                    with_plugin.append(build(root, "with.yml"))
                    without_plugin.append(build(root, "without.yml"))
                rows[f"{kind}_{count}"] = {
                    "with_plugin_s": round(statistics.median(with_plugin), 3),
                    "without_plugin_s": round(statistics.median(without_plugin), 3),
                    "ratio": round(statistics.median(with_plugin) / statistics.median(without_plugin), 3),
                }
    return rows


def plugin_import_ms(runs: int = 5) -> float:
    """Median ms to import the plugin module in a fresh interpreter that already has MkDocs' build."""
    code = (
        "import time, mkdocs.commands.build, mkdocs.plugins\n"
        "t = time.perf_counter(); import mkdocs_wan.plugin; print((time.perf_counter() - t) * 1000)"
    )
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    times = [
        float(subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout)
        for _ in range(runs)
    ]
    return round(statistics.median(times), 1)


def tiny_seconds_per_clip(cache: Path, repeats: int = 7) -> dict[str, float]:
    from mkdocs_wan.models.reference import ModelRef
    from mkdocs_wan.page.spec import ClipSpec
    from mkdocs_wan.render.generate import WanGenerator
    from mkdocs_wan.settings.options import DRAFT_HOOK, draft_steps

    generator = WanGenerator(ModelRef.resolve("tiny", cache), cache)
    generator.load()
    out = {}
    final = ClipSpec("A robot arm", "", 7, 17, 24, 128, 128, 10, 5.0)
    for label, spec in {
        "64x64x9_2steps": ClipSpec("A robot arm", "", 7, 9, 24, 64, 64, 2, 5.0),
        "128x128x17_10steps": final,
        "128x128x17_10steps_draft": replace(final, steps=draft_steps(final.steps), cache_hook=DRAFT_HOOK),
    }.items():
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            generator.generate(spec)
            times.append(time.perf_counter() - started)
        out[label] = statistics.median(times)
    return out


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main() -> None:
    # Bytecode for the package, as pip writes it at install: with PYTHONDONTWRITEBYTECODE set (some
    # CI images), an edited checkout would otherwise compile every module again in every build.
    compileall.compile_dir(str(Path(__file__).parent.parent / "mkdocs_wan"), quiet=1)
    parser = argparse.ArgumentParser()
    parser.add_argument("--pages", type=int, default=300)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--hostile-only", action="store_true", help="only the 10,000-directive pages")
    args = parser.parse_args()
    if args.hostile_only:
        print(json.dumps({"hostile_pages": hostile_pages(args.runs), "device": cpu_name()}, indent=2))
        return
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        generated_site(root, args.pages)
        cold = build(root, "with.yml")
        with_plugin, without_plugin, engine_left_out = [], [], []
        for _ in range(args.runs):  # interleaved, so drift in machine load hits both alike
            with_plugin.append(build(root, "with.yml"))
            without_plugin.append(build(root, "without.yml"))
            engine_left_out.append(build(root, "with.yml", engine=False))
        per_clip = tiny_seconds_per_clip(root / ".cache" / "mkdocs-wan")
    real: dict[str, object] = {}
    for label, base in {
        "material_superfences": {
            "theme": {"name": "material"},
            "markdown_extensions": ["admonition", "pymdownx.highlight", "pymdownx.superfences", "tables"],
        },
        "mkdocs_theme_plain_markdown": {"theme": {"name": "mkdocs"}},
        "mkdocs_theme_clips_on_2_pages": {"theme": {"name": "mkdocs"}},
    }.items():
        with tempfile.TemporaryDirectory() as tmp:
            few = 2 if label.endswith("2_pages") else None
            real["site" if few is None else "site_clips_on_2_pages"] = real_site(Path(tmp), few)
            real[label] = cached_ratio(Path(tmp), {"site_name": "READMEs", **base}, args.runs)
    result = {
        "benchmark": "cpu",
        "date": date.today().isoformat(),
        "device": cpu_name(),
        "cores": os.cpu_count(),
        "pages": args.pages,
        "directives": 2 * args.pages,
        "cold_build_s": round(cold, 2),
        "cold_build_s_per_clip": round(cold / (2 * args.pages), 4),
        "cached_build_with_plugin_s": round(statistics.median(with_plugin), 3),
        "build_without_plugin_s": round(statistics.median(without_plugin), 3),
        "cached_overhead_ratio": round(statistics.median(with_plugin) / statistics.median(without_plugin), 3),
        "engine_left_out_ratio": round(statistics.median(engine_left_out) / statistics.median(without_plugin), 3),
        "tiny_generate_s": {k: round(v, 4) for k, v in per_clip.items()},
        "real_site": real,
        "plugin_import_ms": plugin_import_ms(),
        "hostile_pages": hostile_pages(args.runs),
        "command": "python benchmarks/cpu.py " + " ".join(sys.argv[1:]),
    }
    write_results(result, "cpu")


if __name__ == "__main__":
    main()
