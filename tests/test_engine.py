"""One page engine behind every front end: same markup and records, layers that cannot leak."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import markdown
from conftest import start_tags
from PIL import Image

from mkdocs_wan.cache import ClipCache
from mkdocs_wan.encode import read_metadata
from mkdocs_wan.extension import WanExtension

TINY = {"model": "tiny", "size": "64x64", "frames": 5, "steps": 1}


def figure_of(html: str) -> str:
    """The first `<figure>` of a page, whole."""
    return re.search(r'<figure class="wan-video".*?</figure>', html, re.DOTALL)[0]


def relative_to_site(figure: str) -> str:
    """The figure with its clip/poster URLs reduced to file names (front ends place files differently)."""
    return re.sub(r'(src|poster)="[^"]*/([0-9a-f]{64}\.(?:mp4|jpg))"', r'\1="\2"', figure)


def test_plugin_and_extension_give_the_same_figure_provenance_and_record(site, tmp_path, shared_cache):
    directive = "<!-- @video-gen A lantern in two front ends {seed=42 caption='Lit <once>' loop=false} -->"
    site.options.update(TINY | {"style": "ink wash"})
    site.page("guide/page.md", f"# Page\n\n{directive}\n")
    result = site.build("--strict")
    assert result.returncode == 0, result.stderr
    from_plugin = figure_of((site.site_dir / "guide" / "page" / "index.html").read_text())

    options = TINY | {"style": "ink wash", "seed": 42, "cache_dir": str(shared_cache), "docs_dir": str(tmp_path / "x")}
    from_extension = figure_of(markdown.markdown(f"{directive}\n", extensions=[WanExtension(**options)]))

    assert relative_to_site(from_plugin) == relative_to_site(from_extension)
    (figure_tag, *_rest) = start_tags(from_extension)
    attrs = figure_tag[1]
    assert attrs["data-generator"].startswith("mkdocs-wan ") and attrs["data-model"] == "tiny"
    assert attrs["data-seed"] == "42" and attrs["data-prompt"] == "A lantern in two front ends"
    record = ClipCache(shared_cache).index[attrs["data-wan-key"]]
    assert record["model"] == "tiny" and record["fingerprint"] == "tiny/v2|dtype=auto"


def test_extension_resolves_a_relative_image_next_to_its_page(tmp_path, shared_cache):
    docs = tmp_path / "docs"
    (docs / "guide" / "img").mkdir(parents=True)
    (docs / "img").mkdir()
    Image.new("RGB", (64, 64), (200, 30, 30)).save(docs / "guide" / "img" / "start.png")
    Image.new("RGB", (64, 64), (30, 30, 200)).save(docs / "img" / "start.png")  # the wrong one: docs_dir root
    options = TINY | {"cache_dir": str(shared_cache), "docs_dir": str(docs), "page": "guide/page.md"}
    html = markdown.markdown(
        "<!-- @video-gen A red start {image=img/start.png} -->\n", extensions=[WanExtension(**options)]
    )
    assert "<video" in html, html
    key = re.search(r'data-wan-key="(\w+)"', html)[1]
    spec = ClipCache(shared_cache).index[key]["spec"]
    red = __import__("hashlib").sha256((docs / "guide" / "img" / "start.png").read_bytes()).hexdigest()
    assert spec["image"] == f"sha256:{red}"

    missing = markdown.markdown("<!-- @video-gen A {image=img/none.png} -->\n", extensions=[WanExtension(**options)])
    assert "guide/page.md:1" in missing and "looked for guide/img/none.png" in missing


def test_stitched_title_carries_the_site_style_like_a_single_clip(site):
    site.options.update(TINY | {"style": "flat pastel"})
    site.page("one.md", "# One\n\n<!-- @video-gen A paper boat -->\n")
    site.page("two.md", "# Two\n\n```video-gen\nsegments:\n  - A paper boat\n  - It sails away\ntransition: 1\n```\n")
    result = site.build("--strict")
    assert result.returncode == 0, result.stderr
    titles = {}
    for page in ("one", "two"):
        (src,) = re.findall(r'<video src="([^"]+)"', (site.site_dir / page / "index.html").read_text())
        titles[page] = read_metadata((site.site_dir / page / src).resolve())["title"]
    assert titles == {"one": "A paper boat, flat pastel", "two": "A paper boat → It sails away, flat pastel"}


def test_extension_reads_integer_options_given_as_numbers(tmp_path, shared_cache):
    """Python-Markdown turns options whose default is None into booleans; seed must stay 42."""
    options = TINY | {"seed": 42, "cache_dir": str(shared_cache), "docs_dir": str(tmp_path)}
    html = markdown.markdown("<!-- @video-gen A seeded kite -->\n", extensions=[WanExtension(**options)])
    assert 'data-seed="42"' in html


def test_lower_layers_import_neither_torch_nor_the_encoder_nor_mkdocs():
    modules = ["directives", "spec", "plan", "keys", "cache", "layout", "models", "options", "images", "pages"]
    code = (
        "import json, sys\n"
        + "".join(f"import mkdocs_wan.{name}\n" for name in modules)
        + "print(json.dumps(sorted(sys.modules)))"
    )
    loaded = json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, check=True).stdout)
    leaked = [
        m for m in loaded if m.split(".")[0] in {"torch", "diffusers", "transformers", "mkdocs", "imageio_ffmpeg"}
    ]
    leaked += [m for m in loaded if m in {"mkdocs_wan.encode", "mkdocs_wan.generate", "mkdocs_wan.speed", "numpy"}]
    assert leaked == []


def test_no_stage_imports_a_front_end():
    """Only front ends may import front ends (plugin, extension, cli, collect)."""
    front = {"plugin", "extension", "cli", "collect", "__main__"}
    package = Path(__file__).parent.parent / "mkdocs_wan"
    offenders = []
    for module in package.glob("*.py"):
        if module.stem in front:
            continue
        imported = set(re.findall(r"^\s*(?:from|import) mkdocs_wan\.?(\w*)", module.read_text(), re.MULTILINE))
        offenders += [f"{module.stem} -> {name}" for name in imported & front]
    assert offenders == []
