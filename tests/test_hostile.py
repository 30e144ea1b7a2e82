"""Hostile pages and broken caches, one class at a time: never a traceback, a hang, a blow-up or a lost clip."""

from __future__ import annotations

import re
import shutil
import time

import pytest
from conftest import summary
from PIL import Image

from mkdocs_wan.page.directives import Directive, DirectiveError, load_flat_yaml, parse_options
from mkdocs_wan.store.cache import ClipCache

pytestmark = pytest.mark.timeout(300)


def comment(body: str) -> dict:
    return parse_options(Directive("comment", body, 0, 0, 1))


def fence(body: str) -> dict:
    return parse_options(Directive("fence", body, 0, 0, 1))


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("a: &x [1, 2]\nb: *x\n", "anchors and aliases"),
        ("prompt: a\n<<: {seed: 1}\n", r"merge keys \(<<\) are not allowed in a video-gen block: write the keys out"),
        ("prompt: <<\n", "quote '<<' in a video-gen block"),
        ("prompt: A\nseed: 2\n!!merge x: {seed: 1}\n", r"merge keys \(<<\) are not allowed"),  # by tag: no quiet merge
        ("%TAG !m! tag:yaml.org,2002:\n---\nprompt: A\n!m!merge x: {seed: 1}\n", r"merge keys \(<<\) are not allowed"),
        ("segments:\n  - prompt: a\n    frames: [[[[1]]]]\n", "nests deeper than 4"),
        ("[" * 10_000, "nests deeper than 4"),
        ("prompt: a\nseed: " + "9" * 5_000 + "\n", "invalid value"),
        ("prompt: " + "x" * 20_000, "over the limit of 16,384"),
    ],
)
def test_yaml_that_would_blow_up_is_refused_before_it_expands(body, message):
    started = time.perf_counter()
    with pytest.raises(DirectiveError, match=message):
        fence(body)
    assert time.perf_counter() - started < 1


def test_a_billion_laughs_stays_small():
    laughs = 'a: &a ["x","x","x","x","x","x","x","x","x"]\n' + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{','.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(8)
    )
    with pytest.raises(DirectiveError, match="anchors and aliases"):
        fence(laughs)


def test_a_quoted_or_tagged_double_angle_is_text_and_a_data_file_keeps_it():
    """Only YAML's merge key is refused: `<<` written as text stays text (a data file's scalars
    are all text, so there a bare `<<` is text too)."""
    assert fence('prompt: "<<"\ncaption: !!str <<\n') == {"prompt": "<<", "caption": "<<"}
    assert load_flat_yaml("- {<<: x, name: a}\n", "data file rows.yml", text=True) == [{"<<": "x", "name": "a"}]


def test_quoted_option_values_may_hold_braces_and_equals():
    assert comment(' A kite {caption="a {b} = c" seed=1} ') == {"caption": "a {b} = c", "seed": "1", "prompt": "A kite"}
    assert comment(" A {braced} word {seed=2}") == {"seed": "2", "prompt": "A {braced} word"}
    with pytest.raises(DirectiveError, match="No closing quotation"):
        comment(' A kite {caption="open} ')
    with pytest.raises(DirectiveError, match="expected option=value"):
        comment(" A kite {seed={1}} ")


def test_hostile_values_become_page_and_line_warnings_before_any_model_work(site, tmp_path):
    bomb = site.root / "docs" / "bomb.png"
    bomb.parent.mkdir(parents=True, exist_ok=True)
    Image.new("1", (9000, 9000)).save(bomb)  # 81 MP, a few KB on disk
    site.page(
        "index.md",
        "# Hostile\n\n"
        "<!-- @video-gen A {frames=+-5} -->\n\n"  # 3
        "<!-- @video-gen B {frames=٣٣} -->\n\n"  # 5: Arabic-Indic digits
        "<!-- @video-gen C {size=²x64} -->\n\n"  # 7
        "<!-- @video-gen D {seed=" + "9" * 40 + "} -->\n\n"  # 9
        "<!-- @video-gen E {image=bomb.png} -->\n\n"  # 11
        "<!-- @video-gen " + "long prompt " * 300 + " -->\n\n"  # 13
        '```video-gen\nprompt: F\nnegative_prompt: "nul \\0 here"\n```\n\n'  # 15 (the key: 17)
        '```video-gen\nprompt: "G \\uD800"\n```\n',  # 20 (the key: 21)
    )
    result = site.build("--strict")
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    for line, problem in [
        (3, "frames must be an integer, got '+-5'"),
        (5, "frames must be an integer"),
        (7, "size must look like WIDTHxHEIGHT"),
        (9, "seed must be an integer"),
        (11, "image 'bomb.png' is 9000x9000 pixels, over the limit of 40,000,000 pixels"),
        (13, "prompt is 3,599 characters long, over the limit of 2,000"),
        (17, "negative_prompt contains a NUL character"),  # a fenced block's mistake: its key's line
        (21, "prompt contains an unpaired surrogate"),
    ]:
        assert f"index.md:{line}: {problem}" in result.stderr, (line, result.stderr)
    assert "loaded model" not in result.stderr  # all refused before the model was even loaded


def test_unclosed_openers_scan_in_linear_time(site):
    site.options["generate"] = "never"
    site.page("index.md", "# Many\n\n" + "<!-- @video-gen unclosed " * 10_000 + "\n")
    started = time.perf_counter()
    result = site.build()
    assert result.returncode == 0, result.stderr
    assert time.perf_counter() - started < 60  # was minutes: one regex scan per opener to the end


@pytest.mark.parametrize("where", ["site", "docs/cache"])
def test_cache_dir_inside_site_or_docs_is_refused_at_config_time(site, where):
    site.options["cache_dir"] = where
    site.page("index.md", "<!-- @video-gen A kite -->\n")
    result = site.build()
    assert result.returncode == 1 and "Traceback" not in result.stderr
    name = "site_dir" if where == "site" else "docs_dir"
    assert re.search(rf"cache_dir .* is inside {name} .*default `\.cache/mkdocs-wan`", result.stderr), result.stderr


def test_cache_dir_that_is_a_file_is_one_line(site):
    (site.root / "notadir").write_text("oops")
    site.options["cache_dir"] = "notadir"
    site.page("index.md", "# Home\n")
    result = site.build()
    assert result.returncode == 1 and "is a file, not a folder" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("damage", ["deleted", "corrupt"])
def test_a_lost_or_corrupt_index_loses_no_clip(site, damage):
    site.options["cache_dir"] = "cache"
    site.page("index.md", f"# Home\n\n<!-- @video-gen A clip that outlives its index ({damage}) -->\n")
    assert summary("1 clip (MB), 1 generated, 0 cached", site.build("--strict").stderr)
    index = site.root / "cache" / "index"
    if damage == "deleted":
        shutil.rmtree(index)
    else:
        (index / "cache.db").write_bytes(b"this is not a database" * 100)
    verified = site.cli("verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "1 ok (1 index records rebuilt), 0 bad" in verified.stdout
    if damage == "corrupt":
        assert "was damaged" in verified.stderr and list(index.parent.glob("index.corrupt-*"))
    result = site.build("--strict")
    assert result.returncode == 0, result.stderr
    assert summary("1 clip (MB), 0 generated, 1 cached", result.stderr)


def test_a_corrupt_index_is_rebuilt_by_the_build_too(site):
    site.options["cache_dir"] = "cache"
    site.page("index.md", "# Home\n\n<!-- @video-gen A clip whose index breaks before a build -->\n")
    assert site.build("--strict").returncode == 0
    (site.root / "cache" / "index" / "cache.db").write_bytes(b"\0garbage" * 500)
    result = site.build()
    assert result.returncode == 0, result.stderr
    assert "was damaged" in result.stderr and summary("1 clip (MB), 0 generated, 1 cached", result.stderr)
    assert (
        ClipCache(site.root / "cache").check(re.search(r"[0-9a-f]{64}", (site.site_dir / "index.html").read_text())[0])
        == "ok"
    )


def test_killed_encodes_leave_nothing_behind(site):
    site.options["cache_dir"] = "cache"
    stale = site.root / "cache" / "tmp" / "encode-999999999-abc"
    stale.mkdir(parents=True)
    (stale / "clip.mp4").write_bytes(b"half")
    site.page("index.md", "# Home\n\n<!-- @video-gen A clip after a killed encode -->\n")
    assert site.build("--strict").returncode == 0
    assert not stale.exists() and not list((site.root / "cache" / "tmp").iterdir())


def test_a_segmented_clip_title_with_broken_unicode_is_a_warning_not_a_crash(site):
    site.options["generate"] = "never"
    site.page("index.md", '# S\n\n```video-gen\nprompt: "Fox \\ud800 story"\nsegments: [a fox, a fox runs]\n```\n')
    result = site.build()
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    assert "index.md:3: prompt contains an unpaired surrogate" in result.stderr


def test_attacks_found_by_review_stay_fixed(site, tmp_path):
    """Each was a traceback, a write outside the site, or model time wasted before (see the review)."""
    site.options["generate"] = "never"
    img = site.root / "docs" / "img"
    img.mkdir(parents=True, exist_ok=True)
    (img / ".hidden").mkdir()  # MkDocs itself skips dot-folders (it would fail copying a link loop)
    (img / ".hidden" / "loop.png").symlink_to("loop.png")
    Image.new("RGB", (2000, 2)).save(img / "strip.png")
    Image.new("RGB", (64, 64)).save(img / "doc.pdf", format="PDF")
    site.page(
        "index.md",
        "# R\n\n<!-- @video-gen A {image=img/.hidden/loop.png} -->\n\n<!-- @video-gen B {size=0x0} -->\n\n"
        "<!-- @video-gen C {image=img/strip.png} -->\n\n<!-- @video-gen D {image=img/doc.pdf} -->\n\n"
        "```video-gen\nprompt: [not, text]\nsegments: [a, b]\n```\n",
    )
    result = site.build()
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    for line, problem in [(3, "cannot be opened"), (5, "size sides must be multiples of 32"), (7, "wider than 16:1"),
                          (9, "cannot be read as a picture"), (11, "prompt must be text")]:  # fmt: skip
        assert f"index.md:{line}: " in result.stderr and problem in result.stderr, (line, result.stderr)


def test_the_extension_never_writes_through_a_link_or_outside_docs(tmp_path, shared_cache):
    import markdown

    from mkdocs_wan.extension import WanExtension

    docs, victim = tmp_path / "docs", tmp_path / "victim"
    options = {"model": "tiny", "size": "64x64", "frames": 5, "steps": 1, "cache_dir": str(shared_cache)}
    text = "<!-- @video-gen A clip an attacker wants written elsewhere -->\n"
    html = markdown.markdown(text, extensions=[WanExtension(**options, docs_dir=str(docs))])
    key = re.search(r'data-wan-key="(\w+)"', html)[1]
    static = docs / "assets" / "videos"
    for f in static.iterdir():
        f.unlink()
    (static / f"{key}.mp4").symlink_to(victim)  # dangling: exists() is False
    markdown.markdown(text, extensions=[WanExtension(**options, docs_dir=str(docs))])
    assert not victim.exists()
    with pytest.raises(ValueError, match=r"static_dir '\.\./\.\./out' must stay inside docs_dir"):
        markdown.markdown(text, extensions=[WanExtension(**options, docs_dir=str(docs), static_dir="../../out")])


def test_a_lying_sidecar_or_a_dangling_link_never_costs_a_clip_or_a_traceback(site):
    site.options["cache_dir"] = "cache"
    site.page("index.md", "# Home\n\n<!-- @video-gen A clip next to a lying record -->\n")
    assert site.build("--strict").returncode == 0
    cache = ClipCache(site.root / "cache")
    (key,) = cache.clip_keys()
    shutil.rmtree(site.root / "cache" / "index")
    cache.sidecar_path(key).write_text('{"bytes": 1}')
    (site.root / "cache" / "clips" / "deadbeef.mp4").symlink_to("/nonexistent")
    dry = site.cli("prune", "--dry-run")
    assert dry.returncode == 0 and "Traceback" not in dry.stderr, dry.stderr
    assert cache.path(key).is_file()  # a dry run deletes nothing, not even a clip it cannot vouch for
    verified = site.cli("verify")
    assert "Traceback" not in verified.stderr, verified.stderr
