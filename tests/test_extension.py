"""`mkdocs_wan.extension` with plain `markdown.markdown()`: same core, clips in a static folder."""

from __future__ import annotations

import re

import markdown

from mkdocs_wan.extension import WanExtension
from mkdocs_wan.media.encode import count_frames


def test_markdown_extension_renders_a_playable_clip(tmp_path, shared_cache, caplog):
    docs = tmp_path / "docs"
    ext = {"model": "tiny", "cache_dir": str(shared_cache), "docs_dir": str(docs), "size": "64x64", "frames": 9,
           "steps": 2}  # fmt: skip
    text = "# Page\n\n`<!-- @video-gen shown as code -->`\n\n<!-- @video-gen A lantern for Python-Markdown -->\n"
    html = markdown.markdown(text, extensions=[WanExtension(**ext)])
    (key,) = re.findall(r'data-wan-key="(\w+)"', html)
    assert f'<video src="/assets/videos/{key}.mp4" poster="/assets/videos/{key}.jpg"' in html
    assert "&lt;!-- @video-gen shown as code --&gt;" in html
    clip = docs / "assets" / "videos" / f"{key}.mp4"
    assert count_frames(clip) == 9 and (docs / "assets" / "videos" / f"{key}.jpg").is_file()

    before = clip.stat().st_mtime_ns
    again = markdown.markdown(text, extensions=[WanExtension(**ext)])  # a rebuild writes nothing
    assert again == html and clip.stat().st_mtime_ns == before

    bad = markdown.markdown("<!-- @video-gen Oops {frames=ten} -->\n", extensions=[WanExtension(**ext)])
    assert "Video not generated" in bad and "line 1" in bad
    assert "line 1: frames must be an integer" in caplog.text


def test_fenced_form_through_superfences(tmp_path, shared_cache):
    from mkdocs_wan.page.directives import custom_fence

    ext = WanExtension(model="tiny", cache_dir=str(shared_cache), docs_dir=str(tmp_path), size="64x64", frames=5,
                       steps=1)  # fmt: skip
    text = "```video-gen\nprompt: A fenced lantern for Python-Markdown\n```\n"
    fences = {"pymdownx.superfences": {"custom_fences": [custom_fence()]}}
    html = markdown.markdown(text, extensions=["pymdownx.superfences", ext], extension_configs=fences)
    (src,) = re.findall(r'<video src="/([^"]+)"', html)
    assert count_frames(tmp_path / src) == 5


def test_a_rejected_clip_leaves_the_static_folder_and_never_means_never(tmp_path, shared_cache, caplog, monkeypatch):
    import logging

    import yaml

    docs = tmp_path / "docs"
    ext = {"model": "tiny", "cache_dir": str(shared_cache), "docs_dir": str(docs), "size": "64x64", "frames": 5,
           "steps": 1}  # fmt: skip
    text = "<!-- @video-gen A lantern a reviewer rejects -->\n"
    html = markdown.markdown(text, extensions=[WanExtension(**ext)])
    (key,) = re.findall(r'data-wan-key="(\w+)"', html)
    placed = docs / "assets" / "videos" / f"{key}.mp4"
    assert placed.is_file()
    decision = {"decision": "rejected", "by": "Ada", "at": "2026-12-02T10:00:00Z", "why": ""}
    (tmp_path / "mkdocs-wan-reviews.yml").write_text(yaml.safe_dump({"clips": {key: decision}}))
    monkeypatch.chdir(tmp_path)  # the extension's review_file is relative to where it runs
    markdown.markdown("No clip on this page any more.\n", extensions=[WanExtension(**ext)])
    assert not placed.exists() and not placed.with_suffix(".jpg").exists()  # no page uses it: gone all the same
    again = markdown.markdown(text, extensions=[WanExtension(**ext)])
    assert "<video" not in again and "Video not available" in again and "Ada" not in again
    assert not placed.exists() and not placed.with_suffix(".jpg").exists()  # no longer at its URL either

    # generate: never with a fetch_from that has nothing: a "not generated" box, no model loaded.
    never = ext | {"generate": "never", "fetch_from": "http://127.0.0.1:9/", "cache_dir": str(tmp_path / "empty")}
    caplog.clear()
    caplog.set_level(logging.INFO)
    out = markdown.markdown("<!-- @video-gen A lantern nobody made -->\n", extensions=[WanExtension(**never)])
    assert "<video" not in out and "not generated" in out.lower() and "loaded model" not in caplog.text


def test_a_clip_that_cannot_be_placed_stops_mkdocs_in_one_line(tmp_path, shared_cache):
    import subprocess
    import sys

    import yaml

    (tmp_path / "docs" / "assets").mkdir(parents=True)
    (tmp_path / "docs" / "assets" / "videos").write_text("a file where the clips' folder goes")
    (tmp_path / "docs" / "index.md").write_text("# T\n\n<!-- @video-gen A lantern with nowhere to go -->\n")
    ext = {"model": "tiny", "size": "64x64", "frames": 5, "steps": 1, "cache_dir": str(shared_cache)}
    config = {"site_name": "T", "markdown_extensions": [{"mkdocs_wan.extension": ext}]}
    (tmp_path / "mkdocs.yml").write_text(yaml.safe_dump(config))
    result = subprocess.run([sys.executable, "-m", "mkdocs", "build"], cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert "cannot place clips in" in result.stderr and "videos: File exists" in result.stderr
