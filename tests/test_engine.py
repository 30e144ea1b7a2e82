"""One page engine behind every front end: same markup and records, layers that cannot leak."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import markdown
from conftest import start_tags
from PIL import Image

from mkdocs_wan.extension import WanExtension
from mkdocs_wan.media.encode import read_metadata
from mkdocs_wan.store.cache import ClipCache

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


#: The stages, lowest first: a package imports only packages before it (and the base modules).
LAYERS = ["models", "page", "settings", "store", "media", "render", "assembly", "service"]
BASE = {"errors", "logs", ""}  # "" is `from mkdocs_wan import __version__`
FRONT_ENDS = {"plugin", "site", "config", "extension", "cli", "collect", "serve", "__main__", "directives", "lsp"}


PACKAGE = Path(__file__).parent.parent / "mkdocs_wan"


def _imports(module: Path, package: Path = PACKAGE) -> set[str]:
    """The mkdocs_wan packages or top-level modules a file imports, lazily or not: read with `ast`,
    so relative (`from ..plugin import x`) and parenthesised imports count too."""
    here = ["mkdocs_wan", *module.parent.relative_to(package).parts]
    found: set[str] = set()
    for node in ast.walk(ast.parse(module.read_text())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = here[: len(here) - node.level + 1] if node.level else []
            target = ".".join([*base, *([node.module] if node.module else [])])
            names = [target] if node.module else [f"{target}.{alias.name}" for alias in node.names]
            if target == "mkdocs_wan":  # `from mkdocs_wan import site`: the module named
                names = [f"mkdocs_wan.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] == "mkdocs_wan":
                found.add(parts[1] if len(parts) > 1 else "")
    return found - {"__version__"}


def test_the_import_reader_sees_relative_and_parenthesised_imports(tmp_path):
    probe = tmp_path / "mkdocs_wan" / "render" / "probe.py"
    probe.parent.mkdir(parents=True)
    probe.write_text("from ..plugin import WanPlugin\nfrom mkdocs_wan.cli import (\n    cli,\n)\nfrom . import x\n")
    assert _imports(probe, tmp_path / "mkdocs_wan") == {"plugin", "cli", "render"}


def test_packages_import_only_lower_stages_and_never_a_front_end():
    package = Path(__file__).parent.parent / "mkdocs_wan"
    top = {p.stem for p in package.glob("*.py")} | {p.name for p in package.iterdir() if p.is_dir()}
    assert top - {"__init__", "assets", "__pycache__", "py"} == set(LAYERS) | BASE - {""} | FRONT_ENDS
    offenders = []
    for layer, name in enumerate(LAYERS):
        allowed = set(LAYERS[: layer + 1]) | BASE
        for module in (package / name).glob("*.py"):
            offenders += [f"{name}/{module.name} -> {dep}" for dep in _imports(module) - allowed]
    for name in BASE - {""}:
        offenders += [f"{name}.py -> {dep}" for dep in _imports(package / f"{name}.py") - {""}]
    assert offenders == []


def test_lower_layers_import_neither_torch_nor_the_encoder_nor_mkdocs():
    """A fully cached build reads pages, settings and the store: none of that may pull in model
    code, the encoder, numpy or MkDocs (the page engine adds those only when a clip is missing)."""
    modules = [
        f"{package}.{path.stem}"
        for package in ("models", "page", "settings", "store")
        for path in (Path(__file__).parent.parent / "mkdocs_wan" / package).glob("*.py")
    ] + ["assembly.engine", "assembly.plan", "assembly.single"]
    code = (
        "import json, sys\n"
        + "".join(f"import mkdocs_wan.{name}\n" for name in modules)
        + "print(json.dumps(sorted(sys.modules)))"
    )
    loaded = json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, check=True).stdout)
    heavy = {"torch", "diffusers", "transformers", "mkdocs", "imageio_ffmpeg", "numpy", "PIL", "c2pa", "requests"}
    leaked = [m for m in loaded if m.split(".")[0] in heavy]
    leaked += [m for m in loaded if m.startswith(("mkdocs_wan.render", "mkdocs_wan.media.encode"))]
    assert leaked == []


def test_the_module_maps_list_every_module_once():
    """README and "how it works" show the layout one line per module; a new module must join them."""
    root = Path(__file__).parent.parent
    package = root / "mkdocs_wan"
    modules = {p.relative_to(package).as_posix() for p in package.rglob("*.py") if p.stem != "__init__"}
    modules -= {"__main__.py"}
    for doc in (root / "README.md", root / "example_site" / "docs" / "how-it-works.md"):
        block = re.search(r"```text\nmkdocs_wan/\n(.*?)```", doc.read_text(), re.S).group(1)
        listed, folder = [], ""
        for line in block.splitlines():
            name = line.split()[0]
            if line.startswith("  ") and not line.startswith("    "):
                folder = name if name.endswith("/") else ""
                if not folder:
                    listed.append(name)
            elif line.startswith("    "):
                listed.append(folder + name)
        assert sorted(listed) == sorted(modules), doc.name
