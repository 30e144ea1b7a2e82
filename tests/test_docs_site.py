"""mkdocs-wan's own documentation site (`example_site/`), its troubleshooting page, the README's
quickstart in a fresh virtual environment, and the packages `python -m build` makes."""

from __future__ import annotations

import ast
import html
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).parent.parent
DOCS = ROOT / "example_site" / "docs"
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "NO_MKDOCS_2_WARNING": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
ERRORS = {
    "SpecError",
    "DirectiveError",
    "ModelLoadError",
    "CacheError",
    "GenerationError",
    "PluginError",
    "Refused",
    "ServiceError",
}
ERRORS |= {"CredentialsError", "FamilyError"}


def _copy_checkout(target: Path) -> Path:
    """The files a checkout holds (what git tracks, plus this tree's uncommitted edits), no build output."""
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.splitlines()
    for name in listed:
        source = ROOT / name
        if source.is_file() and not name.startswith(("tests/", "benchmarks/")):
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    return target


def test_the_docs_site_builds_strict_with_a_clip_next_to_every_example(tmp_path):
    site = tmp_path / "site"
    shutil.copytree(ROOT / "example_site", tmp_path / "docs-site", ignore=shutil.ignore_patterns(".cache", "site"))
    cmd = [sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(site)]
    result = subprocess.run(cmd, cwd=tmp_path / "docs-site", env=ENV, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    assert "WARNING" not in result.stderr, result.stderr

    config = yaml.load((ROOT / "example_site" / "mkdocs.yml").read_text(), Loader=yaml.BaseLoader)
    plugins = [next(iter(p)) if isinstance(p, dict) else p for p in config["plugins"]]
    assert plugins[:2] == ["search", "wan"]  # the docs show the config a reader should copy

    def pages(nav: list) -> list[str]:
        return [p for item in nav for v in item.values() for p in (pages(v) if isinstance(v, list) else [v])]

    listed = pages(config["nav"])
    assert len(listed) >= 8 and sorted(listed) == sorted(p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md"))
    # Every directive shown as an example in the options page renders right after it, as a clip.
    options = (site / "guide" / "options" / "index.html").read_text()
    examples = 0
    for block in re.finditer(r"<pre>.*?</pre>", options, re.S):
        code = html.unescape(re.sub(r"<[^>]+>", "", block[0]))
        prompt = re.search(r"@video-gen (.+?)(?: \{| -->)|^prompt: (.+)$", code, re.M)
        if prompt is None:
            continue
        examples += 1
        after = re.match(r"\s*</div>\s*(<figure class=\"wan-video\".*?</figure>)", options[block.end() :], re.S)
        assert after and html.escape(prompt[1] or prompt[2]) in after[1], code
    assert examples >= 12
    for src in re.findall(r'<video src="([^"]+)"', options):
        assert (site / "guide" / "options" / src).resolve().is_file()


def _messages() -> list[tuple[str, str]]:
    """The fixed words of every error the package raises and every warning it logs."""
    found = []
    for module in sorted((ROOT / "mkdocs_wan").rglob("*.py")):
        for node in ast.walk(ast.parse(module.read_text())):
            text = None
            if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call):
                name = getattr(node.exc.func, "id", getattr(node.exc.func, "attr", ""))
                if name in ERRORS and node.exc.args:
                    text = node.exc.args[0]
            elif isinstance(node, ast.Call) and getattr(node.func, "attr", "") in ("warn", "warning") and node.args:
                text = node.args[0]
            if isinstance(text, ast.JoinedStr):
                parts = [v.value for v in text.values if isinstance(v, ast.Constant)]
            elif isinstance(text, ast.Constant) and isinstance(text.value, str):
                parts = [text.value]
            else:
                continue
            words = max((p.strip(" :;,") for p in parts), key=len, default="")
            if len(words) >= 12:
                found.append((f"{module.relative_to(ROOT / 'mkdocs_wan')}:{node.lineno}", words.split("%")[0].strip()))
    return found


def test_the_troubleshooting_page_explains_every_message():
    page = " ".join((DOCS / "troubleshooting.md").read_text().split())
    messages = _messages()
    assert len(messages) >= 60
    missing = [(where, words) for where, words in messages if " ".join(words.split()) not in page]
    assert missing == []


def test_the_readme_quickstart_builds_in_a_fresh_venv_with_only_the_package(tmp_path):
    """The quickstart's blocks, verbatim: pip line, mkdocs.yml, directive; no test extra."""
    readme = (ROOT / "README.md").read_text()
    quickstart = readme.split("## Quickstart for your own site")[1].split("\n## ")[0]
    blocks = dict(re.findall(r"```(\w+)\n(.*?)```", quickstart, re.S))
    install, config, page = blocks["bash"].strip(), blocks["yaml"], blocks["markdown"]
    assert install.startswith("pip install ./mkdocs-wan") and "[" not in install.split("#")[0]
    _copy_checkout(tmp_path / "mkdocs-wan")
    subprocess.run([sys.executable, "-m", "venv", str(tmp_path / "venv")], check=True)
    bin_dir = tmp_path / "venv" / "bin"
    env = {**ENV, "PATH": f"{bin_dir}{os.pathsep}{ENV['PATH']}", "VIRTUAL_ENV": str(tmp_path / "venv")}
    env.pop("PYTHONPATH", None)
    # This machine's CPU wheel of torch (the README's development command pins it the same way).
    pip = subprocess.run(
        f"pip install -q torch=={_torch_version()} && {install}",
        shell=True,
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert pip.returncode == 0, pip.stderr[-3000:]
    listed = subprocess.run([bin_dir / "pip", "list"], env=env, capture_output=True, text=True).stdout
    assert "mkdocs-wan" in listed and not re.search(r"^(pytest|playwright|ray|hypothesis) ", listed, re.M)

    site = tmp_path / "my-site"
    (site / "docs").mkdir(parents=True)
    (site / "mkdocs.yml").write_text(config)
    (site / "docs" / "index.md").write_text(page)
    result = subprocess.run(
        [bin_dir / "mkdocs", "build"], cwd=site, env=env, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr
    assert re.search(r"mkdocs_wan: 1 clip \([\d.]+ MB\), 1 generated, 0 cached", result.stderr), result.stderr
    html = (site / "site" / "index.html").read_text()
    src = re.search(r'<video src="([^"]+)"', html)[1]
    assert (site / "site" / src).stat().st_size > 1000
    frames, seconds = __import__("imageio_ffmpeg").count_frames_and_secs(str(site / "site" / src))
    assert frames == 17 and seconds >= 2.0, (frames, seconds)  # a clip a reader can see, not a blink
    assert (site / "site" / "search" / "search_index.json").is_file()  # search kept next to wan


def _torch_version() -> str:
    import torch

    return torch.__version__.split("+")[0]


def test_python_m_build_makes_a_wheel_and_sdist_that_pass_twine_check(tmp_path):
    pytest.importorskip("build")
    pytest.importorskip("twine")
    checkout = _copy_checkout(tmp_path / "checkout")
    out = tmp_path / "dist"
    built = subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(out), str(checkout)],
        env=ENV,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert built.returncode == 0, built.stderr[-3000:]
    dists = sorted(out.iterdir(), key=lambda d: d.suffix)
    assert [d.suffix for d in dists] == [".gz", ".whl"]
    check = subprocess.run(
        [sys.executable, "-m", "twine", "check", "--strict", *map(str, dists)], capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout + check.stderr
    import zipfile

    names = zipfile.ZipFile(dists[1]).namelist()
    assets = ("mkdocs_wan/assets/mkdocs-wan.css", "mkdocs_wan/assets/mkdocs-wan.js")
    for needed in ("mkdocs_wan/py.typed", *assets, "mkdocs_wan/plugin.py"):
        assert needed in names
    assert any(n.endswith("licenses/LICENSE") for n in names)
    metadata = next(n for n in names if n.endswith("METADATA"))
    meta = zipfile.ZipFile(dists[1]).read(metadata).decode()
    assert "License-Expression: Apache-2.0" in meta and "Classifier: Framework :: MkDocs" in meta
