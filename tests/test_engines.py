"""Beyond MkDocs 1.6: the same plugin under ProperDocs (a maintained MkDocs 1.x fork)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from mkdocs.exceptions import PluginError
from test_serve import Server

from mkdocs_wan.media.encode import count_frames
from mkdocs_wan.media.posters import audit
from mkdocs_wan.site import require_mkdocs_1
from mkdocs_wan.store.cache import ClipCache

EXAMPLE = Path(__file__).parent.parent / "example_site"


def test_mkdocs_2_is_refused_with_a_clear_message():
    require_mkdocs_1("1.6.1")
    with pytest.raises(PluginError, match=r"needs MkDocs 1\.6\+ and < 2, found MkDocs 2\.0\.0.*ProperDocs"):
        require_mkdocs_1("2.0.0")


def test_properdocs_builds_the_example_site(tmp_path):
    pytest.importorskip("properdocs")
    shutil.copytree(EXAMPLE, tmp_path, dirs_exist_ok=True, ignore=shutil.ignore_patterns(".cache", "site"))
    (tmp_path / "docs" / "bad.md").write_text("<!-- @video-gen Broken {frames=ten} -->\n")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "NO_MKDOCS_2_WARNING": "1"}
    cmd = [sys.executable, "-m", "properdocs", "build", "--strict", "-f", "mkdocs.yml"]
    strict = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert strict.returncode == 1  # a malformed directive fails --strict under ProperDocs too
    assert "bad.md:1: frames must be an integer" in strict.stderr

    (tmp_path / "docs" / "bad.md").unlink()
    result = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    assert re.search(r"17 clips \([\d.]+ MB\), \d+ generated", result.stderr)
    clips = list((tmp_path / "site" / "assets" / "videos").glob("*.mp4"))
    assert len(clips) == 17 and all(count_frames(c) > 0 for c in clips)
    html = (tmp_path / "site" / "guide" / "forms" / "index.html").read_text()
    for src in re.findall(r'<video src="([^"]+)"', html):
        assert (tmp_path / "site" / "guide" / "forms" / src).resolve().is_file()


def test_zensical_builds_a_site_with_the_markdown_extension(tmp_path):
    """Zensical runs Markdown extensions, not MkDocs plugins: the extension does the work."""
    pytest.importorskip("zensical")
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "index.md").write_text("# Home\n\n<!-- @video-gen A lantern built by Zensical -->\n")
    # Only the options the docs show: docs_dir and site_dir come from Zensical's own config.
    options = {"model": "tiny", "cache_dir": str(tmp_path / "cache"), "size": "64x64", "frames": 9, "steps": 2}
    config = {"site_name": "Z", "site_dir": "public", "markdown_extensions": [{"mkdocs_wan.extension": options}]}
    (tmp_path / "mkdocs.yml").write_text(yaml.safe_dump(config))
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    cmd = [sys.executable, "-m", "zensical", "build"]
    result = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    html = (tmp_path / "public" / "index.html").read_text()
    (src,) = re.findall(r'<video src="([^"]+)"', html)
    clip = tmp_path / "public" / src.lstrip("/")
    assert count_frames(clip) == 9  # generated, placed, and published in the same build
    stamp = (tmp_path / "docs" / src.lstrip("/")).stat().st_mtime_ns
    again = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0 and (tmp_path / "docs" / src.lstrip("/")).stat().st_mtime_ns == stamp
    # Zensical copied docs/ over public/ again: the cached clip must not have been written through.
    key = Path(src).stem
    assert audit(ClipCache(tmp_path / "cache"), key) is None and count_frames(clip) == 9


def _serve_site(root: Path, config: dict) -> None:
    (root / "docs").mkdir()
    (root / "docs" / "index.md").write_text("# Home\n\n<!-- @video-gen A lantern on a live server -->\n")
    (root / "mkdocs.yml").write_text(yaml.safe_dump(config))


def _edit(page: Path, text: str) -> None:
    page.write_text(text)
    os.utime(page, (time.time() + 1, time.time() + 1))  # a new mtime for the watcher


def test_zensical_serve_shows_the_clip_and_a_new_one_after_an_edit(tmp_path):
    pytest.importorskip("zensical")
    options = {"model": "tiny", "cache_dir": str(tmp_path / "cache"), "size": "64x64", "frames": 9, "steps": 2}
    _serve_site(tmp_path, {"site_name": "Z", "markdown_extensions": [{"mkdocs_wan.extension": options}]})
    server = Server(tmp_path, program="zensical")
    try:
        first = re.search(r'<video src="([^"]+)"', server.wait_for("/", r"<video ", timeout=120))[1]
        body = server.get(first)[0]
        assert body[4:8] == b"ftyp" and count_frames(tmp_path / "site" / first.lstrip("/")) == 9
        _edit(tmp_path / "docs" / "index.md", "# Home\n\n<!-- @video-gen A second lantern -->\n")
        html = server.wait_for("/", r'<video src="(?!' + re.escape(first) + ")", timeout=120)
        second = re.search(r'<video src="([^"]+)"', html)[1]
        assert server.get(second)[0][4:8] == b"ftyp"
        cache = ClipCache(tmp_path / "cache")  # rebuilds copied docs/ over site/: no clip written through
        assert [audit(cache, Path(src).stem) for src in (first, second)] == [None, None]
        assert server.get(first)[0][4:8] == b"ftyp"
    finally:
        server.proc.kill()
        server.proc.wait()


def test_properdocs_serve_shows_a_placeholder_then_the_clip_with_one_model_load(tmp_path):
    pytest.importorskip("properdocs")
    options = {"model": "tiny", "size": "64x64", "frames": 9, "steps": 2}
    _serve_site(tmp_path, {"site_name": "P", "theme": {"name": "material"}, "plugins": [{"wan": options}]})
    server = Server(tmp_path, "-f", "mkdocs.yml", program="properdocs")
    try:
        server.wait_for("/", r"generating…|<video ", timeout=120)
        first = re.search(r'<video src="([^"]+)"', server.wait_for("/", r"<video ", timeout=120))[1]
        _edit(tmp_path / "docs" / "index.md", "# Home\n\n<!-- @video-gen A second lantern -->\n")
        html = server.wait_for("/", r'<video src="(?!' + re.escape(first) + ")", timeout=120)
        assert server.get("/" + re.search(r'<video src="([^"]+)"', html)[1])[0][4:8] == b"ftyp"
        assert server.output().count("loaded model tiny") == 1, server.output()
    finally:
        server.proc.kill()
        server.proc.wait()
