"""Beyond MkDocs 1.6: the same plugin under ProperDocs (a maintained MkDocs 1.x fork)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from mkdocs.exceptions import PluginError

from mkdocs_wan.encode import count_frames
from mkdocs_wan.plugin import require_mkdocs_1

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
    assert re.search(r"14 clips \([\d.]+ MB\), \d+ generated", result.stderr)
    clips = list((tmp_path / "site" / "assets" / "videos").glob("*.mp4"))
    assert len(clips) == 14 and all(count_frames(c) > 0 for c in clips)
    html = (tmp_path / "site" / "guide" / "forms" / "index.html").read_text()
    for src in re.findall(r'<video src="([^"]+)"', html):
        assert (tmp_path / "site" / "guide" / "forms" / src).resolve().is_file()


def test_zensical_builds_a_site_with_the_markdown_extension(tmp_path):
    """Zensical runs Markdown extensions, not MkDocs plugins: the extension does the work."""
    pytest.importorskip("zensical")
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "index.md").write_text("# Home\n\n<!-- @video-gen A lantern built by Zensical -->\n")
    options = {
        "model": "tiny", "cache_dir": str(tmp_path / "cache"), "docs_dir": str(tmp_path / "docs"),
        "site_dir": str(tmp_path / "site"), "size": "64x64", "frames": 9, "steps": 2,
    }  # fmt: skip
    config = {"site_name": "Z", "markdown_extensions": [{"mkdocs_wan.extension": options}]}
    (tmp_path / "mkdocs.yml").write_text(yaml.safe_dump(config))
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    cmd = [sys.executable, "-m", "zensical", "build"]
    result = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    html = (tmp_path / "site" / "index.html").read_text()
    (src,) = re.findall(r'<video src="([^"]+)"', html)
    clip = tmp_path / "site" / src.lstrip("/")
    assert count_frames(clip) == 9  # generated, placed, and published in the same build
    stamp = clip.stat().st_mtime_ns
    again = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0 and (tmp_path / "docs" / src.lstrip("/")).stat().st_mtime_ns == stamp
