"""Real `mkdocs build` runs over temp sites with the tiny model."""

from __future__ import annotations

import json
import posixpath
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import imageio_ffmpeg
import pytest
from conftest import summary

from mkdocs_wan.media.encode import count_frames
from mkdocs_wan.store.cache import ClipCache


class Videos(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.srcs: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag == "video":
            self.srcs.append(dict(attrs)["src"])


def video_srcs(html_file: Path) -> list[str]:
    parser = Videos()
    parser.feed(html_file.read_text())
    return parser.srcs


def resolve(site_dir: Path, page_html: Path, src: str) -> Path:
    """Where a browser would fetch `src` from, for a page served from `page_html`."""
    page_url = "/" + page_html.relative_to(site_dir).as_posix()
    return site_dir / posixpath.normpath(posixpath.join(posixpath.dirname(page_url), src)).lstrip("/")


@pytest.mark.parametrize("directory_urls", [True, False], ids=["directory-urls", "file-urls"])
def test_build_generates_embeds_and_resolves_from_nested_pages(site, directory_urls):
    site.config["use_directory_urls"] = directory_urls
    prompt = f"A robot arm assembling a smartphone ({directory_urls})"
    site.page("index.md", f"# Home\n\n<!-- @video-gen {prompt} -->\n")
    site.page(
        "guide/deep/page.md",
        f"# Deep\n\n<!-- @video-gen {prompt} -->\n\n```video-gen\nprompt: A kite ({directory_urls})\nframes: 5\n```\n",
    )

    result = site.build("--strict")
    assert result.returncode == 0, result.stderr
    assert summary("2 clips (MB), 2 generated, 0 cached", result.stderr)  # identical directives generate once
    assert result.stderr.count("loaded model tiny in") == 1
    assert "Traceback" not in result.stderr

    deep = site.site_dir / ("guide/deep/page/index.html" if directory_urls else "guide/deep/page.html")
    srcs = video_srcs(deep)
    assert len(srcs) == 2 and all(src.startswith("../") for src in srcs)
    clips = [resolve(site.site_dir, deep, src) for src in srcs]
    assert all(clip.is_file() for clip in clips)
    assert [count_frames(clip) for clip in clips] == [9, 5]
    assert next(imageio_ffmpeg.read_frames(str(clips[0])))["size"] == (64, 64)
    assert video_srcs(site.site_dir / "index.html") == [srcs[0].replace("../", "", srcs[0].count("../"))]


def test_second_build_generates_nothing_and_never_imports_torch_or_the_service(site):
    site.page("index.md", "<!-- @video-gen A lighthouse at dusk {seed=5} -->\n")
    site.page("other.md", "```video-gen\nprompt: Waves on rocks\n```\n")
    first = site.build()
    assert first.returncode == 0, first.stderr
    assert summary("2 clips (MB), 2 generated, 0 cached", first.stderr)

    check = (
        "heavy = sorted(m for m in ('torch', 'diffusers', 'transformers', 'c2pa', 'cryptography', 'requests',"
        " 'starlette', 'uvicorn', 'mkdocs_wan.service', 'mkdocs_wan.render.remote', 'pygls', 'ftfy')"
        " if m in sys.modules)\nprint('heavy', heavy)"
    )
    second = site.build("--strict", script=check)
    assert second.returncode == 0, second.stderr
    assert summary("2 clips (MB), 0 generated, 2 cached", second.stderr)
    assert "loaded model" not in second.stderr
    assert "heavy []" in second.stdout
    cache = ClipCache(site.cache_dir)
    for clip in site.site_dir.glob("assets/videos/*.mp4"):  # hard-linked from the cache, not copied
        assert clip.stat().st_ino == cache.path(clip.stem).stat().st_ino


def test_strict_build_fails_on_malformed_directive_with_file_and_line(site):
    site.page(
        "sub/page.md",
        "# Page\n\nText.\n\n<!-- @video-gen A kite {frames=ten} -->\n\n```video-gen\nprompt: x\nsize: [1\n```\n",
    )
    result = site.build("--strict")
    assert result.returncode == 1
    assert "sub/page.md:5: frames must be an integer, got 'ten'" in result.stderr
    assert re.search(r"sub/page\.md:(9|10): invalid YAML", result.stderr)
    assert "Aborted with 2 warnings in strict mode" in result.stdout + result.stderr
    assert "Traceback" not in result.stderr


def test_malformed_directive_renders_a_visible_note_without_strict(site):
    site.page("index.md", "<!-- @video-gen <b>bold</b> {colour=red} -->\n")
    result = site.build()
    assert result.returncode == 0, result.stderr
    html = (site.site_dir / "index.html").read_text()
    assert "Video not generated" in html and "index.md:1" in html and "unknown option &#x27;colour&#x27;" in html
    assert "<b>bold</b>" not in html


def test_unloadable_model_is_a_clear_error(site):
    site.options["model"] = "./weights-not-downloaded"
    site.page("index.md", "<!-- @video-gen A kite -->\n")
    result = site.build()
    assert result.returncode == 1
    (line,) = result.stderr.strip().splitlines()  # one line, before any page is read or model loaded
    assert line.startswith("ERROR   -  mkdocs_wan: model: ./weights-not-downloaded: no such folder (")
    assert "`model: tiny`" in line
    assert "`hf download Wan-AI/Wan2.2-TI2V-5B-Diffusers --local-dir ./weights-not-downloaded`" in line
    assert "Traceback" not in result.stderr


def test_invalid_site_default_is_a_config_error(site):
    site.options["size"] = "1000x1000"
    site.page("index.md", "# Nothing\n")
    result = site.build()
    assert result.returncode == 1
    assert "size sides must be multiples of 32" in result.stderr


def test_generation_failure_is_a_warning_and_a_note_and_other_clips_survive(site, shared_cache):
    """A local checkpoint that loads but cannot decode: each affected page says so, the build goes on."""
    from mkdocs_wan.render.tiny import ensure_tiny_model

    broken = site.root / "weights"
    shutil.copytree(ensure_tiny_model(shared_cache), broken)
    vae_config = broken / "vae" / "config.json"
    config = json.loads(vae_config.read_text())
    config["latents_std"] = config["latents_std"][:47]  # 47 of 48 channels: fails at decode time
    vae_config.write_text(json.dumps(config))
    site.options["model"] = "./weights"
    site.page("a.md", "# A\n\n<!-- @video-gen A broken clip -->\n")
    site.page("b.md", "# B\n\nText\n\n<!-- @video-gen A broken clip -->\n")

    result = site.build("--strict")
    assert result.returncode == 1
    assert "loaded model ./weights in" in result.stderr
    assert re.search(r"a\.md:3: generation failed: RuntimeError", result.stderr)
    assert re.search(r"b\.md:5: generation failed: RuntimeError", result.stderr)
    assert summary("1 clip (MB), 0 generated, 0 cached, 1 failed", result.stderr)
    assert "Traceback" not in result.stderr
    assert not list(site.site_dir.glob("assets/videos/*.mp4"))  # no clip file is published

    result = site.build()  # without --strict the site is still built, with a visible note
    assert result.returncode == 0
    html = (site.site_dir / "b" / "index.html").read_text()
    assert "Video not generated" in html and "b.md:5" in html and "<video" not in html


def test_image_and_segment_directives_in_a_real_build(site):
    from PIL import Image

    picture = site.root / "docs" / "img" / "product.png"
    picture.parent.mkdir(parents=True)
    Image.new("RGB", (120, 80), (30, 140, 220)).save(picture)
    site.page("guide/page.md", "# P\n\n<!-- @video-gen A product turning slowly {image=../img/product.png} -->\n")
    site.page(
        "story.md",
        "# Story\n\n```video-gen\nimage: /img/product.png\nsegments:\n  - The box opens\n"
        "  - prompt: The product rises\n    frames: 13\ntransition: 2\n```\n",
    )
    result = site.build("--strict")
    assert result.returncode == 0, result.stderr
    assert summary("2 clips (MB), 2 generated, 0 cached", result.stderr)
    story = site.site_dir / "story" / "index.html"
    (src,) = video_srcs(story)
    assert count_frames(resolve(site.site_dir, story, src)) == 9 + 13 - 2
    assert "The box opens → The product rises" in story.read_text()

    Image.new("RGB", (120, 80), (220, 40, 30)).save(picture)  # a new picture means new clips
    result = site.build("--strict")
    assert summary("2 clips (MB), 2 generated, 0 cached", result.stderr), result.stderr


def test_bad_image_paths_fail_strict_builds_with_page_and_line(site, tmp_path_factory):
    outside = tmp_path_factory.mktemp("outside") / "secret.png"
    outside.write_bytes(b"\x89PNG not really")
    (site.root / "docs" / "img").mkdir(parents=True)
    (site.root / "docs" / "img" / "link.png").symlink_to(outside)
    (site.root / "docs" / "img" / "notes.png").write_text("plain text")
    site.page(
        "page.md",
        "<!-- @video-gen A {image=img/missing.png} -->\n\n"
        "<!-- @video-gen B {image=../../../../etc/passwd} -->\n\n"
        "<!-- @video-gen C {image=img/link.png} -->\n\n"
        "<!-- @video-gen D {image=img/notes.png} -->\n\n"
        "<!-- @video-gen E {segments=a} -->\n",
    )
    result = site.build("--strict")
    assert result.returncode == 1
    assert "page.md:1: image 'img/missing.png' not found" in result.stderr
    assert "page.md:3: image '../../../../etc/passwd' resolves outside docs_dir" in result.stderr
    assert "page.md:5: image 'img/link.png' resolves outside docs_dir" in result.stderr
    assert "page.md:7: image 'img/notes.png' cannot be read as a picture" in result.stderr
    assert "page.md:9: segments need the fenced form" in result.stderr
    assert "Aborted with 5 warnings" in result.stdout + result.stderr


def test_strict_build_with_a_warning_generates_nothing(site):
    site.page("a.md", "# A\n\n<!-- @video-gen A kite {frames=ten} -->\n")
    site.page("b.md", "# B\n\n<!-- @video-gen A clip that a doomed build must not pay for -->\n")
    result = site.build("--strict")
    assert result.returncode == 1
    assert "--strict and 1 warning already: generating none of the 1 missing clip," in result.stderr
    assert "loaded model" not in result.stderr and "Traceback" not in result.stderr
    assert summary("1 clip (MB), 0 generated, 0 cached, 1 skipped (--strict)", result.stderr), result.stderr
    result = site.build()  # not strict: the good clip is made, the bad directive is a note
    assert result.returncode == 0 and summary("1 clip (MB), 1 generated, 0 cached", result.stderr), result.stderr


def test_an_overridden_controls_option_is_explained(site):
    site.options.update({"fps": 8, "frames": 49})  # 6.1 s: longer than WCAG's 5 s
    site.page("index.md", "# C\n\n<!-- @video-gen A long kite {controls=false loop=false} -->\n\n<!-- @video-gen "
              "A looping kite {controls=false frames=9} -->\n\n<!-- @video-gen A short kite {controls=false loop=false"
              " frames=9} -->\n")  # fmt: skip
    result = site.build("--strict")
    assert result.returncode == 0, result.stderr
    assert "index.md:3: controls=false overridden: an autoplaying clip of 6.1 s keeps its controls" in result.stderr
    assert "index.md:5: controls=false overridden: an autoplaying clip that loops keeps its controls" in result.stderr
    assert "index.md:7: controls=false overridden" not in result.stderr


def test_a_page_that_never_mentions_a_video_is_passed_through_unread(tmp_path, monkeypatch, caplog):
    """Most pages of a site have no clip: the plugin hands their HTML back as it came, without
    reading their source again. A page with a directive, or with a near miss it warns about, is
    read. (A real build in this process, so the reads can be counted.)"""
    import yaml
    from mkdocs.commands.build import build
    from mkdocs.config import load_config

    from mkdocs_wan import site

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "index.md").write_text("# Home\n\nPlain text, a [link](other.md) and a table.\n\n| a | b |\n|---|---|\n")
    (docs / "other.md").write_text("# Other\n\n<!-- a comment -->\n\nNothing to see.\n")
    (docs / "clip.md").write_text("# Clip\n\n<!-- @video-gen A page-reading kite -->\n")
    (docs / "typo.md").write_text("# Typo\n\n<!-- @Video-Gen A misspelt kite -->\n")
    options = {"model": "tiny", "generate": "never", "cache_dir": str(tmp_path / "cache")}
    config = {"site_name": "Reads", "plugins": [{"wan": options}], "markdown_extensions": ["tables"]}
    (tmp_path / "mkdocs.yml").write_text(yaml.safe_dump(config))
    read: list[str] = []
    original = site.page_source
    monkeypatch.setattr(site, "page_source", lambda page: read.append(page.file.src_uri) or original(page))
    caplog.set_level("WARNING")
    build(load_config(str(tmp_path / "mkdocs.yml")))
    assert sorted(read) == ["clip.md", "typo.md"]
    assert any("typo.md:3:" in record.getMessage() for record in caplog.records), caplog.text
    plain = (tmp_path / "site" / "index.html").read_text()
    assert "<table>" in plain and "wan-video" not in plain
