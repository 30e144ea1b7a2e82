"""Hostile input, third round: text that is not a directive, control characters, secrets, the
cache folder, stray files, start pictures that change or lie about their type."""

from __future__ import annotations

import os
import stat
import subprocess
import sys

import pytest
from PIL import Image

from mkdocs_wan.build.engine import PageEngine
from mkdocs_wan.media.pictures import load_image, picture_type
from mkdocs_wan.settings.options import Settings
from mkdocs_wan.store.cache import ClipCache


def _warnings(result: subprocess.CompletedProcess[str]) -> list[str]:
    return [line.split("mkdocs_wan: ", 1)[1] for line in result.stderr.splitlines() if "mkdocs_wan: " in line]


def test_only_real_comments_become_clips_never_text_in_scripts_attributes_or_titles(site):
    site.options["generate"] = "never"
    site.page(
        "index.md",
        '---\ntitle: "Intro <!-- @video-gen A title clip -->"\n---\n\n# Page\n\n'
        '<script>var s = "<!-- @video-gen A script clip -->"; window.ok = s.length;</script>\n\n'
        '<div title="<!-- @video-gen An attribute clip -->">x</div>\n\n'
        "<textarea><!-- @video-gen A textarea clip --></textarea>\n\n<!-- @video-gen The real clip -->\n",
    )
    result = site.build()
    assert result.returncode == 0, result.stderr
    html = (site.site_dir / "index.html").read_text()
    assert html.count('data-wan-key="') == 1 and "The real clip" in html
    assert '"<!-- @video-gen A script clip -->"; window.ok' in html  # the script is untouched
    assert 'title="<!-- @video-gen An attribute clip -->"' in html
    assert "<textarea><!-- @video-gen A textarea clip --></textarea>" in html
    assert "title clip" not in " ".join(_warnings(result))


def test_control_characters_in_a_prompt_are_refused_with_their_line(site):
    site.page("index.md", "# P\n\n<!-- @video-gen A kite \x1b[2K\x1b[1Aall cached -->\n")
    result = site.build()
    assert _warnings(result)[0] == (
        "index.md:3: the prompt contains a control character (U+001B); remove it: in a log or terminal it could "
        "hide or fake other lines"
    )
    assert "\x1b" not in result.stderr and "loaded model" not in result.stderr


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("device", "cdua", "device must be auto, cpu, mps, cuda or cuda:N (also xpu, npu), got 'cdua'"),
        ("ray_actors", 10**9, "ray_actors must be a whole number from 1 to 1,024, got '1000000000'"),
        ("cache_dir", ".", "contains mkdocs.yml's folder"),
    ],
)
def test_bad_site_options_fail_at_config_time_in_one_line(site, option, value, message):
    site.options[option] = value
    site.page("index.md", "<!-- @video-gen A kite -->\n")
    result = site.build()
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert message in result.stderr and "loaded model" not in result.stderr


def test_the_cache_lists_checks_and_deletes_only_files_it_made(site, tmp_path):
    cache_dir = tmp_path / "cache"
    site.options["cache_dir"] = str(cache_dir)
    site.page("index.md", "<!-- @video-gen A kite -->\n")
    assert site.build().returncode == 0
    clips = cache_dir / "clips"
    mine = [clips / "holiday.mp4", clips / "holiday.json", clips / "holiday.jpg"]
    for path in mine:
        path.write_bytes(b"the user's own file")
    odd = os.fsencode(clips) + b"/\xff\xfe-not-utf8.mp4"
    with open(odd, "wb") as handle:  # noqa: PTH123 — a bytes name no Path can hold
        handle.write(b"x")
    site.page("index.md", "# No clips any more\n")
    for command in ("verify", "prune"):
        result = site.cli(command)
        assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    assert all(path.read_bytes() == b"the user's own file" for path in mine) and os.path.exists(odd)  # noqa: PTH110
    assert not list(clips.glob("[0-9a-f]" * 8 + "*.mp4"))  # the cache's own unreferenced clip was pruned


def test_a_signing_key_value_is_never_echoed_and_a_fifo_never_hangs(site, tmp_path):
    site.page("index.md", "<!-- @video-gen A kite -->\n")
    secret = "\ufeff-----BEGIN PRIVATE KEY-----\nTOP-SECRET-KEY-MATERIAL\n-----END PRIVATE KEY-----"
    cert = '"-----BEGIN CERTIFICATE-----\nABC\n"'
    env = {**site.env(), "MKDOCS_WAN_SIGNING_CERT": cert, "MKDOCS_WAN_SIGNING_KEY": secret}
    site.write_config()
    result = subprocess.run([sys.executable, "-m", "mkdocs", "build"], cwd=site.root, env=env, capture_output=True,
                            text=True, timeout=120)  # fmt: skip
    assert result.returncode == 1 and "TOP-SECRET" not in result.stderr + result.stdout
    fifo = tmp_path / "cert.pem"
    os.mkfifo(fifo)
    env = {**site.env(), "MKDOCS_WAN_SIGNING_CERT": str(fifo), "MKDOCS_WAN_SIGNING_KEY": str(fifo)}
    result = subprocess.run([sys.executable, "-m", "mkdocs", "build"], cwd=site.root, env=env, capture_output=True,
                            text=True, timeout=120)  # fmt: skip
    assert result.returncode == 1 and "is not a regular file" in result.stderr


def test_the_local_signing_key_is_private(site, tmp_path):
    site.options["cache_dir"] = str(tmp_path / "cache")
    site.page("index.md", "<!-- @video-gen A kite -->\n")
    assert site.build().returncode == 0
    key = tmp_path / "cache" / "credentials" / "key.pem"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600


def test_a_clip_is_made_from_the_picture_bytes_that_were_hashed(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    Image.new("RGB", (32, 32), (255, 0, 0)).save(docs / "start.png")
    settings = Settings.from_options({"model": "tiny", "size": "32x32", "frames": 5}, tmp_path, docs)
    engine = PageEngine(settings, ClipCache(tmp_path / "cache"))
    engine.render("<!-- @video-gen A kite {image=start.png} -->", "", "index.md", lambda name, path: name)
    (plan,) = engine.build.missing.values()
    Image.new("RGB", (32, 32), (0, 0, 255)).save(docs / "start.png")  # edited while the GPU is busy
    red = load_image(plan.steps[0].image)
    assert tuple(red[0, 0]) == (255, 0, 0) and plan.steps[0].image.is_relative_to(tmp_path / "cache")


def test_a_picture_is_typed_by_its_bytes_and_turned_by_its_exif_orientation(tmp_path):
    Image.new("RGB", (8, 4)).save(tmp_path / "really-a.jpg", format="PNG")
    assert picture_type(tmp_path / "really-a.jpg") == "image/png"
    Image.new("RGB", (8, 4)).save(tmp_path / "a.webp", format="WEBP")
    assert picture_type(tmp_path / "a.webp") == "image/webp"
    photo = Image.new("RGB", (40, 20), (10, 20, 30))
    exif = photo.getexif()
    exif[0x0112] = 6  # "rotate 90° clockwise to view": how phones store portrait photos
    photo.save(tmp_path / "phone.jpg", exif=exif)
    assert load_image(tmp_path / "phone.jpg").shape == (40, 20, 3)


def test_a_webp_start_picture_makes_a_signed_clip(site):
    Image.new("RGB", (48, 32), (200, 40, 40)).save(site.root / "start.webp", format="WEBP")
    site.page("index.md", "<!-- @video-gen A kite {image=start.webp} -->\n")
    (site.root / "docs" / "start.webp").write_bytes((site.root / "start.webp").read_bytes())
    result = site.build("--strict")
    assert result.returncode == 0, result.stderr
    assert "1 generated" in result.stderr
