"""What readers get: posters, provenance tags, labels, CSS, size summary, quality warnings."""

from __future__ import annotations

import re
import shutil

import numpy as np
import pytest
from conftest import summary
from PIL import Image

from mkdocs_wan import __version__
from mkdocs_wan.media.encode import decode_first_frame, encode_mp4, read_metadata
from mkdocs_wan.media.posters import ensure_poster
from mkdocs_wan.media.quality import quality_problem
from mkdocs_wan.render.tiny import ensure_tiny_model
from mkdocs_wan.store.cache import ClipCache


def noise(frames: int = 9) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 255, (frames, 32, 32, 3), dtype=np.uint8)


@pytest.mark.parametrize(
    ("frames", "problem"),
    [
        (np.zeros((9, 32, 32, 3), np.uint8), "near-black"),
        (np.full((9, 32, 32, 3), 128, np.uint8), "near-constant (one flat colour)"),
        (np.repeat(noise(1), 9, axis=0), "frozen (no change between frames)"),
        (noise(), None),
    ],
)
def test_quality_problem(frames, problem):
    assert quality_problem(frames) == problem


def test_metadata_tags_and_poster(tmp_path):
    frames = noise()
    encode_mp4(frames, tmp_path / "c.mp4", 8, metadata={"title": "A <kite>, close up", "comment": "seed 7"})
    tags = read_metadata(tmp_path / "c.mp4")
    assert tags["title"] == "A <kite>, close up" and tags["comment"] == "seed 7"
    cache = ClipCache(tmp_path / "cache")
    cache.store("k", lambda p: encode_mp4(frames, p, 8), {"frames": 9})
    ensure_poster(cache, "k")
    with Image.open(cache.poster_path("k")) as poster:
        assert poster.format == "JPEG" and poster.size == (32, 32)
        assert np.abs(np.asarray(poster, np.int16) - decode_first_frame(cache.path("k"))).mean() < 40


def test_build_delivers_poster_provenance_label_css_and_size(site):
    site.page("sub/page.md", "# P\n\n<!-- @video-gen A labelled lighthouse {seed=11} -->\n")
    result = site.build("--strict")
    assert result.returncode == 0, result.stderr
    assert summary("1 clip (MB), 1 generated, 0 cached", result.stderr)
    page = site.site_dir / "sub" / "page" / "index.html"
    html = page.read_text()
    figure = re.search(r"<figure [^>]*>", html)[0]
    assert 'data-model="tiny"' in figure and 'data-seed="11"' in figure
    assert f'data-generator="mkdocs-wan {__version__}"' in figure and 'data-prompt="A labelled lighthouse"' in figure
    assert re.search(r'<span class="wan-video-label" id="wan-ai-\w+" data-search-exclude>AI-generated</span> ', html)
    poster = re.search(r'poster="([^"]+)"', html)[1]
    assert (page.parent / poster).resolve().is_file()
    assert 'href="../../assets/stylesheets/mkdocs-wan.css"' in html
    assert (site.site_dir / "assets" / "stylesheets" / "mkdocs-wan.css").is_file()
    assert 'src="../../assets/javascripts/mkdocs-wan.js"' in html
    assert (site.site_dir / "assets" / "javascripts" / "mkdocs-wan.js").is_file()
    clip = page.parent / re.search(r'<video src="([^"]+)"', html)[1]
    tags = read_metadata(clip.resolve())
    assert tags["title"] == "A labelled lighthouse"
    assert tags["comment"] == f"AI-generated with tiny (seed 11) by mkdocs-wan {__version__}"

    site.options["ai_label"] = False
    site.options["crf"] = 35  # a new key: the clip is made again, and the page shows it without a label
    result = site.build("--strict")
    assert result.returncode == 0, result.stderr
    assert summary("1 clip (MB), 1 generated, 0 cached", result.stderr), result.stderr
    html = page.read_text()
    assert "<video " in html and '<span class="wan-video-label wan-visually-hidden"' in html  # for screen readers


def test_crf_changes_the_clip_and_its_size(site):
    site.page("index.md", "<!-- @video-gen A crf comparison {size=128x128 frames=17} -->\n")
    sizes = {}
    for crf in (10, 40):
        site.options["crf"] = crf
        result = site.build("--strict")
        assert summary("1 clip (MB), 1 generated, 0 cached", result.stderr), result.stderr
        (clip,) = site.site_dir.glob("assets/videos/*.mp4")
        sizes[crf] = clip.stat().st_size
    assert sizes[10] > sizes[40]


def test_quality_warning_names_page_and_prompt(site, shared_cache):
    """A checkpoint whose VAE decoder ignores its input yields one still picture: warn."""
    from safetensors.torch import load_file, save_file

    flat = site.root / "flat-weights"
    shutil.copytree(ensure_tiny_model(shared_cache), flat)
    weights = flat / "vae" / "diffusion_pytorch_model.safetensors"
    state = load_file(weights)
    state["decoder.conv_out.weight"].zero_()  # every frame becomes the bias pattern
    save_file(state, weights)
    site.options["model"] = "./flat-weights"
    site.page("index.md", "# Home\n\n<!-- @video-gen A clip that comes out flat -->\n")
    result = site.build()
    assert result.returncode == 0, result.stderr
    held = r"index\.md:3: held for review \(the generated clip looks (near-black|near-constant|frozen).*: A clip that"
    assert re.search(held, result.stderr), result.stderr  # QC holds it for a person to look at (`review`)
    assert "<video" not in (site.site_dir / "index.html").read_text()
    site.options.update(review=False, crf=21)  # the 0.1 behaviour: warn, and publish (a new key: made again)
    result = site.build()
    warning = r"index\.md:3: the generated clip looks (near-black|near-constant|frozen).*: A clip that comes out flat"
    assert re.search(warning, result.stderr) and "<video" in (site.site_dir / "index.html").read_text(), result.stderr


def test_verbose_build_reports_time_per_stage(site):
    site.page("index.md", "# T\n\n<!-- @video-gen A clip timed stage by stage -->\n")
    result = site.build("--verbose")
    assert result.returncode == 0, result.stderr
    stages = re.search(r"mkdocs_wan: stage times: text ([\d.]+) s, denoise ([\d.]+) s, decode ([\d.]+) s, "
                       r"encode ([\d.]+) s", result.stderr)  # fmt: skip
    assert stages, result.stderr
    assert sum(float(stages[i]) for i in range(1, 5)) > 0
    key = re.search(r'data-wan-key="(\w+)"', (site.site_dir / "index.html").read_text())[1]
    timings = ClipCache(site.cache_dir).record(key)["timings"]
    assert set(timings) == {"text", "denoise", "decode", "encode", "sign"}
    assert timings["denoise"] > 0 < timings["encode"]


def test_a_piped_build_logs_whole_lines_per_clip(site):
    """stderr is a pipe here, as in CI: no bar, no carriage returns, one line per event."""
    site.page("index.md", "# P\n\n```video-gen\nsegments:\n  - A kite rises\n  - The kite dives\n```\n")
    site.page("two.md", "# T\n\n<!-- @video-gen A second kite -->\n")
    result = site.build()
    assert result.returncode == 0, result.stderr
    assert "\r" not in result.stderr
    assert re.search(r"mkdocs_wan: clip 1/2: generating ", result.stderr)
    assert re.search(r"mkdocs_wan: clip \d/2, segment 2/2: step \d+/\d+, [\d.]+ s elapsed, ETA", result.stderr)
    assert len(re.findall(r"mkdocs_wan: clip \d/2: done in [\d.]+ s\n", result.stderr)) == 2
    assert all(line.startswith(("INFO", "WARNING", "DEBUG")) for line in result.stderr.splitlines() if line)
