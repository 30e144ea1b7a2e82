"""Hostile pages through the whole page path: Markdown file → real `mkdocs build` → HTML.

Each example is built twice in subprocesses bounded in memory (RLIMIT_AS) and time — once with
the plugin (`generate: never`, so no model work) and once without it, the video-gen fence still
rendered to its marker — on a theme that prints only the page content, so the two outputs must
be identical outside the clips' markup, token by token. Every error note must match a
`page.md:LINE` warning, nothing may be written outside site_dir and the cache, and no traceback.
"""

from __future__ import annotations

import re
import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from conftest import assert_only_clips_changed
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

MEMORY_LIMIT = 3 << 30  # bytes of address space per build: MkDocs needs ~0.3 GB here
TIME_LIMIT = 60.0  # seconds per build

HOSTILE_CHARS = "\u202e\u2066\u200b\ufeff\u0663\u00b2\u0000é字🎬<>&\"'{}=\\ "
hostile_text = st.text(
    st.one_of(st.sampled_from(HOSTILE_CHARS), st.characters(exclude_categories=("Cs",))), max_size=12
).filter(lambda s: "--" not in s and not s.endswith("-"))
integer = st.sampled_from(["+-5", "٣٣", "²", "9" * 40, "-0", "0x10", "1_000", " 7 ", "+7", "", "4.5", "1e3"])
option_value = st.one_of(integer, st.text(st.sampled_from("{}\"'= ab1x,"), max_size=14))
option_name = st.sampled_from(["frames", "seed", "size", "steps", "fps", "guidance", "caption", "alt", "loop", "image"])
image_name = st.sampled_from(["bomb.png", "lying.png", "notes.png", "empty.png", "../../../etc/passwd", "nul\\0.png"])
yaml_scalar = st.one_of(
    st.sampled_from(['"nul \\0 here"', '"lone \\uD800"', '"bidi \\u202e"', "x" * 300, "&a x", "*a", "!!binary aGk="]),
    integer,
    hostile_text.map(repr),
)
comment = st.one_of(
    st.builds(
        lambda p, opts: f"<!-- @video-gen {p} {{{' '.join(f'{n}={v}' for n, v in opts)}}} -->",
        hostile_text,
        st.lists(st.tuples(option_name, option_value), max_size=3),
    ),
    st.builds(lambda p: f"<!-- @video-gen {p} -->", hostile_text),
    st.builds(lambda p, i: f"<!-- @video-gen {p} {{image={i}}} -->", hostile_text, image_name),
    st.builds(lambda p: f"<!-- @video-gen {p}", hostile_text),  # unclosed
    st.builds(lambda p: f"<!-- @video-gen <!-- @video-gen {p} --> -->", hostile_text),  # nested
)
fence = st.builds(
    lambda body: f"```video-gen\n{body}\n```",
    st.one_of(
        st.builds(lambda k, v: f"prompt: A kite\n{k}: {v}", option_name, yaml_scalar),
        st.builds(lambda v: f"prompt: {v}", yaml_scalar),
        st.builds(lambda n: "prompt: deep\nsegments: " + "[" * n + "a" + "]" * n, st.integers(1, 60)),
        st.just('a: &x ["l","l","l"]\nb: &y [*x,*x,*x]\nprompt: laughs'),
        st.builds(lambda i: f"prompt: from a picture\nimage: {i}", image_name),
    ),
)
prose = st.sampled_from(
    [
        "Plain *text*.",
        "- item\n- <b>html</b>",
        "!!! note\n    Inside.",
        "`<!-- @video-gen code -->`",
        "| a |\n|---|\n| 1 |",
    ]
)
page_text = st.lists(st.one_of(prose, comment, fence), min_size=1, max_size=6).map("\n\n".join)


def limits() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


@pytest.fixture(scope="module")
def hostile_site(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    docs = root / "docs"
    docs.mkdir()
    Image.new("1", (9000, 9000)).save(docs / "bomb.png")  # 81 MP in a few KB
    png = (docs / "bomb.png").read_bytes()
    (docs / "lying.png").write_bytes(png[:16] + (100_000).to_bytes(4, "big") * 2 + png[24:40])  # header lies, data cut
    (docs / "notes.png").write_text("not a picture")
    (docs / "empty.png").write_bytes(b"")
    (root / "theme").mkdir()
    (root / "theme" / "main.html").write_text("{{ page.content }}")
    fences = {"custom_fences": [{"name": "video-gen", "class": "video-gen", "format": "!!python/name:x"}]}
    base = {"site_name": "H", "theme": {"name": None, "custom_dir": "theme"}, "use_directory_urls": False}
    with_plugin = {**base, "plugins": [{"wan": {"model": "tiny", "generate": "never", "cache_dir": "cache"}}],
                   "markdown_extensions": ["admonition", "pymdownx.superfences"]}  # fmt: skip
    # Without the plugin, but with a never-closed directive closed as the plugin closes it (so the
    # rest of the page shows): everything else must render exactly as it does here.
    closer = "mkdocs_wan.page.unclosed"
    without = {**base, "plugins": [], "markdown_extensions": ["admonition", {"pymdownx.superfences": fences}, closer]}
    (root / "with.yml").write_text(yaml.safe_dump(with_plugin))
    text = yaml.safe_dump(without).replace("'!!python/name:x'", "!!python/name:mkdocs_wan.directives.fence_format")
    (root / "without.yml").write_text(text)
    return root


def build(root: Path, config: str, out: str) -> tuple[subprocess.CompletedProcess[str], float]:
    cmd = [sys.executable, "-m", "mkdocs", "build", "-f", config, "-d", out]
    env = {"PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1", "NO_MKDOCS_2_WARNING": "1", "PYTHONIOENCODING": "utf-8"}
    started = time.perf_counter()
    result = subprocess.run(
        cmd, cwd=root, env=env, capture_output=True, text=True, timeout=TIME_LIMIT, preexec_fn=limits
    )
    return result, time.perf_counter() - started


def snapshot(root: Path) -> set[str]:
    skip = {"site-with", "site-without", "cache", ".hypothesis"}
    return {str(p.relative_to(root)) for p in root.rglob("*") if not skip & set(p.relative_to(root).parts)}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=page_text)
def test_hostile_pages_build_cleanly_with_page_and_line_warnings(hostile_site, text):
    root = hostile_site
    page = root / "docs" / "index.md"
    page.write_text(text, encoding="utf-8")
    before = snapshot(root)
    with_plugin, seconds = build(root, "with.yml", "site-with")
    plain, _ = build(root, "without.yml", "site-without")
    assert plain.returncode == 0, plain.stderr
    assert with_plugin.returncode == 0 and "Traceback" not in with_plugin.stderr, with_plugin.stderr[-3000:]
    assert seconds < TIME_LIMIT / 2
    after = (root / "site-with" / "index.html").read_text(encoding="utf-8")
    embeds = assert_only_clips_changed((root / "site-without" / "index.html").read_text(encoding="utf-8"), after)
    lines = len(text.splitlines())
    for embed in embeds:
        if "wan-video-error" in embed:
            where = re.search(r"<code>(index\.md:(\d+))</code>", embed)
            assert where and 1 <= int(where[2]) <= lines, embed
            assert f"mkdocs_wan: {where[1]}: " in with_plugin.stderr, (embed, with_plugin.stderr[-2000:])
    assert snapshot(root) == before  # nothing written outside site_dir and the cache
