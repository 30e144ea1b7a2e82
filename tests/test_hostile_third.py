"""Hostile input, third round: text that is not a directive, control characters, secrets, the
cache folder, stray files, start pictures that change or lie about their type."""

from __future__ import annotations

import os
import stat
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from mkdocs_wan.assembly.engine import PageEngine
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
    site.page("other.md", "# Other\n")  # two pages: the theme shows a nav, with the title as each link's text
    result = site.build()
    assert result.returncode == 0, result.stderr
    html = (site.site_dir / "index.html").read_text()
    assert html.count('data-wan-key="') == 1 and "The real clip" in html
    other = (site.site_dir / "other" / "index.html").read_text()
    assert "wan-" not in other and other.count("Intro <!-- @video-gen A title clip --></a>") == 1
    assert '"<!-- @video-gen A script clip -->"; window.ok' in html  # the script is untouched
    assert 'title="<!-- @video-gen An attribute clip -->"' in html
    assert "<textarea><!-- @video-gen A textarea clip --></textarea>" in html
    assert "title clip" not in " ".join(_warnings(result))


def test_control_characters_in_a_prompt_are_refused_with_their_line(site):
    site.page("index.md", "# P\n\n<!-- @video-gen A kite \x1b[2K\x1b[1Aall cached -->\n")
    result = site.build()
    assert _warnings(result)[0] == (
        "index.md:3: prompt contains a control character (U+001B); remove it: in a log or terminal it could "
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
    site.options["cache_dir"] = str(tmp_path / "cache")  # a clip to make, so the identity is loaded
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
    from mkdocs_wan.media.credentials import manifest_state

    (clip,) = (site.site_dir / "assets" / "videos").glob("*.mp4")
    state, manifest = manifest_state(clip)
    assert state in ("Valid", "Trusted"), state  # signed, with the WebP picture as its ingredient
    ingredients = [(i.get("title"), i.get("format")) for i in manifest.get("ingredients", [])]
    assert ingredients == [("start.webp", "image/webp")], ingredients


def test_a_write_killed_between_the_clip_and_the_index_keeps_the_new_clip(tmp_path):
    """SIGKILL right after a clip was replaced (as `mkdocs-wan sign` does) and before the index
    learnt of it: the next check serves the new, intact clip instead of deleting it."""
    cache = ClipCache(tmp_path / "cache")
    key = "ab" * 32
    cache.store(key, lambda path: path.write_bytes(b"old clip"), {"model": "tiny"})
    code = f"""
import os, signal
from pathlib import Path
import mkdocs_wan.store.cache as c
c._fsync_dir = lambda folder: os.kill(os.getpid(), signal.SIGKILL)  # right after the rename
c.ClipCache(Path({str(tmp_path / "cache")!r})).store({key!r}, lambda p: p.write_bytes(b"new clip"), {{"model": "tiny"}})
"""
    killed = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60)
    assert killed.returncode == -9
    again = ClipCache(tmp_path / "cache")
    assert again.check(key) == "ok" and again.path(key).read_bytes() == b"new clip"
    assert again.verify_bytes(key) is None


def _keyed(text: str) -> tuple[str, str]:
    from mkdocs_wan.page.spec import build_spec
    from mkdocs_wan.store.keys import clip_key
    from tests.test_spec import DEFAULTS

    spec = build_spec({"prompt": text}, DEFAULTS)
    return clip_key(spec, "tiny/v2", 20), spec.prompt


def test_prompts_the_model_reads_alike_share_one_key():
    import unicodedata

    same = [
        ("A café at dawn", unicodedata.normalize("NFD", "A café at dawn")),
        ("Tom &amp; Jerry", "Tom & Jerry"),
        ("\u201cHello\u201d, it said", '"Hello", it said'),
        ("A  kite\n over  the sea", "A kite over the sea"),
    ]
    for a, b in same:
        assert _keyed(a)[0] == _keyed(b)[0], (a, b)


_TEXT = st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=30)


@settings(max_examples=150, deadline=None)
@given(_TEXT, _TEXT)
def test_equal_keys_exactly_when_the_model_reads_equal_text(a, b):
    from diffusers.pipelines.wan.pipeline_wan import prompt_clean

    from mkdocs_wan.page.spec import SpecError

    try:
        (key_a, read_a), (key_b, read_b) = _keyed(a), _keyed(b)
    except SpecError:
        return  # nothing left once cleaned: refused before any model work
    assert prompt_clean(read_a) == read_a and prompt_clean(read_b) == read_b  # the model reads the keyed text
    assert (key_a == key_b) == (read_a == read_b)


def test_swapping_failed_clips_for_notes_is_linear_in_the_page(tmp_path):
    """10,000 clips not generated on one page: one pass, not one whole-page replace per clip."""
    import time

    settings = Settings.from_options({"model": "tiny", "generate": "never"}, tmp_path, tmp_path)
    engine = PageEngine(settings, ClipCache(tmp_path / "cache"), warn=lambda _message: None)

    def page(count: int) -> float:
        engine.new_build()
        text = "".join(f"<p>Text {i}</p>\\n<!-- @video-gen Clip number {i} -->\\n" for i in range(count))
        html = engine.render(text, "", "index.md", lambda name, path: name, "generate")
        engine.build.failed |= dict.fromkeys(engine.build.missing, "no GPU here")
        started = time.perf_counter()
        swapped = engine.swap_failures(html, "index.md")
        seconds = time.perf_counter() - started
        assert swapped.count("generation failed: no GPU here") == count and "<video" not in swapped
        return seconds

    small, large = page(1_000), page(10_000)
    assert large < 25 * small + 0.05  # ten times the clips: about ten times the time, never a hundred


@pytest.mark.parametrize("option", ["cache_dir", "model"])
def test_a_loop_of_links_as_cache_or_model_folder_is_one_line(site, option):
    (site.root / "loop").symlink_to("loop")
    site.options[option] = "./loop"
    site.page("index.md", "<!-- @video-gen A kite -->\n")
    result = site.build()
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "Symlink loop" in result.stderr or "Too many levels of symbolic links" in result.stderr


def _signed_clip(tmp_path, name: str, chain: bytes, key: bytes, clip_key: str):
    """A small real MP4, signed by (chain, key) with a manifest naming `clip_key`."""
    import numpy as np

    from mkdocs_wan.media.credentials import Identity, Signer
    from mkdocs_wan.media.encode import encode_mp4

    plain = tmp_path / f"{name}-plain.mp4"
    encode_mp4(np.random.default_rng(1).integers(0, 256, (5, 64, 64, 3), dtype=np.uint8), plain, 8)
    signed = tmp_path / f"{name}.mp4"
    signer = Signer(lambda: Identity(chain, key, None, local=False))
    signed.write_bytes(signer(plain.read_bytes(), {"key": clip_key}))
    return signed


def test_a_team_ca_vouches_for_the_teams_own_leaf_not_for_everyone_it_certified(tmp_path):
    """A team's certificate often comes from a CA that certifies others too: another customer of
    it must not be able to sign clips a fetching site takes (unless the site lists the CA itself)."""

    from mkdocs_wan.media.credentials import (
        CredentialsError,
        Identity,
        _make_identity,
        _make_root,
        site_trust,
        untrusted,
    )

    ca = _make_root("Shared CA")
    team_chain, team_key, ca_pem = _make_identity(ca, "team signer")
    stranger_chain, stranger_key, _ = _make_identity(ca, "stranger")
    team = Identity(team_chain, team_key, None, local=False)
    key = "a" * 64
    trust = site_trust(team, None, tmp_path)
    assert untrusted(_signed_clip(tmp_path, "team", team_chain, team_key, key), key, trust) is None
    stranger = _signed_clip(tmp_path, "stranger", stranger_chain, stranger_key, key)
    problem = untrusted(stranger, key, trust)
    assert problem is not None and "'stranger'" in problem and "whom this site does not trust" in problem
    (tmp_path / "ca.pem").write_bytes(ca_pem)
    assert untrusted(stranger, key, site_trust(team, ["ca.pem"], tmp_path)) is None  # listed: the site's choice

    # trust_anchors takes certificates only; a path with "private" in it is still a path.
    (tmp_path / "private").mkdir()
    (tmp_path / "private" / "key-and-root.pem").write_bytes(team_key + ca_pem)
    with pytest.raises(CredentialsError, match="trust_anchors holds a private key") as caught:
        site_trust(team, ["private/key-and-root.pem"], tmp_path)
    assert "BEGIN" not in str(caught.value)
    (tmp_path / "private" / "root.pem").write_bytes(ca_pem)
    assert site_trust(team, ["private/root.pem"], tmp_path).anchors.startswith(b"-----BEGIN CERTIFICATE")


def test_a_signing_key_path_with_private_in_its_name_is_read(tmp_path):
    from mkdocs_wan.media.credentials import _make_identity, _make_root, load_identity

    chain, key, _ = _make_identity(_make_root("Team CA"), "team signer")
    (tmp_path / "private").mkdir()
    (tmp_path / "private" / "chain.pem").write_bytes(chain)
    (tmp_path / "private" / "private-key.pem").write_bytes(key)
    identity = load_identity("private/chain.pem", "private/private-key.pem", tmp_path, tmp_path / "local")
    assert identity.chain == chain and not identity.local


def test_page_names_and_bidi_overrides_never_reach_a_log_line_raw(site):
    site.options["generate"] = "never"
    site.page("ev\x1b[31mil.md", "# E\n\n<!-- @video-gen x {bogus=1} -->\n")
    site.page("index.md", "# I\n\n<!-- @video-gen A cat \u202egnp.exe\u202c done -->\n")
    result = site.build()
    assert result.returncode == 0, result.stderr
    assert "\x1b" not in result.stderr and "\u202e" not in result.stderr
    warnings = _warnings(result)
    assert any(w.startswith("ev\\x1b[31mil.md:3: unknown option 'bogus'") for w in warnings), warnings
    assert any(w.startswith("index.md:3: prompt contains a bidirectional override (U+202E)") for w in warnings), (
        warnings
    )
