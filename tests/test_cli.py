"""The `mkdocs-wan` command on a real site: generate, list, prune, verify; `generate: never`."""

from __future__ import annotations

import subprocess
import sys

from conftest import Site, summary

from mkdocs_wan.store.cache import ClipCache

PAGES = {
    "index.md": "# Home\n\n<!-- @video-gen A lantern swinging in the dark -->\n",
    "sub/page.md": "# Sub\n\nText.\n\n```video-gen\nprompt: Steam rising from a cup\nframes: 5\n```\n",
}


def make(site):
    for path, text in PAGES.items():
        site.page(path, text)


def test_generate_then_cache_only_build(site):
    site.cache_dir = site.root / "cache"
    site.options["cache_dir"] = "cache"
    make(site)
    listed = site.cli("list")
    assert listed.returncode == 0, listed.stderr
    assert "index.md:3\tmissing" in listed.stdout and "sub/page.md:5\tmissing" in listed.stdout

    generated = site.cli("generate", "-f", "mkdocs.yml")
    assert generated.returncode == 0, generated.stderr
    assert summary("2 clips (MB), 2 generated, 0 cached, 0 failed", generated.stdout)
    assert generated.stderr.count("loaded model tiny in") == 1
    assert not site.site_dir.exists()  # nothing was built

    listed = site.cli("list")
    assert "index.md:3\tcached\t0.0" in listed.stdout and "Steam rising from a cup" in listed.stdout

    site.options["generate"] = "never"
    check = "print('heavy', sorted(m for m in ('torch', 'diffusers') if m in sys.modules))"
    built = site.build("--strict", script=check)
    assert built.returncode == 0, built.stderr
    assert summary("2 clips (MB), 0 generated, 2 cached", built.stderr) and "heavy []" in built.stdout


def test_generate_never_warns_with_page_and_prompt(site):
    site.options["generate"] = "never"
    site.page("index.md", "# Home\n\n<!-- @video-gen An uncached <em>comet</em> -->\n")
    result = site.build("--strict")
    assert result.returncode == 1
    assert "index.md:3: clip not in the cache and `generate: never`: An uncached <em>comet</em>" in result.stderr
    assert "loaded model" not in result.stderr
    result = site.build()
    html = (site.site_dir / "index.html").read_text()
    assert "not generated" in html and "An uncached &lt;em&gt;comet&lt;/em&gt;" in html and "<video" not in html
    assert summary("1 clip (MB), 0 generated, 0 cached, 1 missing (generate: never)", result.stderr)


def test_list_shows_malformed_directives_in_page_order_and_exits_1(site):
    site.page("index.md", "# Home\n\n<!-- @video-gen A bad one {frames=ten} -->\n\n<!-- @video-gen A good one -->\n")
    listed = site.cli("list")
    assert listed.returncode == 1
    rows = [line.split("\t") for line in listed.stdout.splitlines()]
    assert [row[:2] for row in rows] == [["index.md:3", "malformed"], ["index.md:5", "missing"]]
    assert rows[0][4] == "frames must be an integer, got 'ten'" and rows[1][4] == "A good one"
    site.page("index.md", "# Home\n\n<!-- @video-gen A good one -->\n")
    assert site.cli("list").returncode == 0


def test_prune_and_verify(site):
    site.options["cache_dir"] = "cache"
    make(site)
    assert site.cli("generate").returncode == 0
    cache = ClipCache(site.root / "cache")
    keys = cache.clip_keys()
    assert len(keys) == 2

    site.page("sub/page.md", "# Sub\n\nNo clip any more.\n")
    dry = site.cli("prune", "--dry-run")
    assert dry.returncode == 0 and "would delete" in dry.stdout and "1 unreferenced clips" in dry.stdout
    assert cache.clip_keys() == keys
    pruned = site.cli("prune")
    assert "deleted" in pruned.stdout
    (kept,) = cache.clip_keys()
    assert kept in keys

    data = bytearray(cache.path(kept).read_bytes())
    data[len(data) // 2] ^= 0xFF
    cache.path(kept).write_bytes(bytes(data))
    verified = site.cli("verify")
    assert verified.returncode == 1  # damage found: CI can gate on it
    assert f"dropped {kept}.mp4: checksum mismatch" in verified.stdout
    assert "1 cached clip files: 0 ok, 1 bad" in verified.stdout
    assert "(files, not directives: each segment of a long clip is one too)" in verified.stdout
    assert cache.clip_keys() == []


def test_errors_are_one_line(site):
    site.options["model"] = "./no-weights-here"
    site.page("index.md", "<!-- @video-gen A -->\n")
    result = site.cli("generate")
    assert result.returncode == 1
    assert "Error: model: ./no-weights-here: no such folder (" in result.stderr and "Traceback" not in result.stderr


def test_prune_keeps_the_segments_of_a_referenced_stitched_clip(site):
    site.options["cache_dir"] = "cache"
    site.page("story.md", "# Story\n\n```video-gen\nsegments:\n  - A box opens\n  - A bird flies out\n```\n")
    assert site.cli("generate").returncode == 0
    cache = ClipCache(site.root / "cache")
    assert len(cache.clip_keys()) == 3  # two segments and the stitched clip
    pruned = site.cli("prune")
    assert pruned.returncode == 0 and "0 unreferenced clips" in pruned.stdout and "3 clip files kept" in pruned.stdout
    assert len(cache.clip_keys()) == 3
    site.page("story.md", "# Story\n\nThe clip is gone.\n")
    assert "3 unreferenced clips" in site.cli("prune").stdout and cache.clip_keys() == []


def test_generate_makes_the_good_clips_and_exits_1_on_a_malformed_directive(site):
    page = "# Home\n\n<!-- @video-gen A bad one {frames=ten} -->\n\n<!-- @video-gen A good one generated here -->\n"
    site.page("index.md", page)  # a prompt of its own: the session's shared cache must not have it
    result = site.cli("generate")
    assert result.returncode == 1, result.stderr
    assert "index.md:3: frames must be an integer, got 'ten'" in result.stderr
    assert "1 clip (" in result.stdout and "1 generated" in result.stdout
    assert "1 malformed directive made no clip (named above)" in result.stderr and "Traceback" not in result.stderr


def test_the_command_in_the_wrong_folder_names_f_and_the_nearest_config(tmp_path):
    outer = tmp_path / "outer"
    site = Site(outer / "site", tmp_path / "cache")
    site.page("index.md", "# Home\n")
    site.write_config()
    for folder in (site.root / "docs", outer):  # the config above, then below
        result = subprocess.run([sys.executable, "-m", "mkdocs_wan", "list"], cwd=folder, env=site.env(),
                                capture_output=True, text=True, timeout=120)  # fmt: skip
        assert result.returncode == 1
        said = f"no mkdocs.yml in {folder}: run the command in the site's folder, or give it with -f PATH"
        assert said in result.stderr, result.stderr
        assert f"the nearest is {site.root / 'mkdocs.yml'}" in result.stderr and "Traceback" not in result.stderr


def test_tiny_help_names_every_kind_whole():
    from mkdocs_wan.render.tiny import KINDS

    shown = subprocess.run([sys.executable, "-m", "mkdocs_wan", "tiny", "--help"], capture_output=True, text=True)
    words = set(shown.stdout.replace(",", " ").split())
    assert {*KINDS, "safety"} <= words, shown.stdout  # each kind whole (not wrapped mid-word), none forgotten
    assert "t2v-1.3b" in shown.stdout and "T2V-14B" in shown.stdout
