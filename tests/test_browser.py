"""The example site in real headless Chromium (Debian's package, driven by Playwright).

Every video on every page must load, have the right duration, no media error, start playing
muted by itself, and have an accessible name. One screenshot per theme goes to test-artifacts/.
"""

from __future__ import annotations

import functools
import http.server
import re
import shutil
import subprocess
import sys
import tarfile
import threading
from pathlib import Path

import imageio_ffmpeg
import pytest

from mkdocs_wan.media.encode import count_frames

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(__file__).parent.parent / "test-artifacts"
EXAMPLE = Path(__file__).parent.parent / "example_site"
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

playwright_api = pytest.importorskip("playwright.sync_api")
if not Path(CHROMIUM).exists():
    pytest.skip("Debian's chromium is not installed (apt-get install chromium)", allow_module_level=True)


@pytest.fixture(scope="module")
def sites(tmp_path_factory):
    """The example site built with mkdocs-material and with MkDocs' default theme."""
    root = tmp_path_factory.mktemp("example")
    shutil.copytree(EXAMPLE, root, dirs_exist_ok=True, ignore=shutil.ignore_patterns(".cache", "site"))
    env = {"HF_HUB_OFFLINE": "1", "NO_MKDOCS_2_WARNING": "1", "PATH": "/usr/bin:/bin"}
    built = {}
    for theme, args in (("material", []), ("mkdocs", ["-t", "mkdocs"]), ("readthedocs", ["-t", "readthedocs"])):
        out = root / f"site-{theme}"
        cmd = [sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(out), *args]
        result = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, result.stderr
        built[theme] = out
    return built


@pytest.fixture(scope="module")
def browser():
    with playwright_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield chromium
        chromium.close()


def serve(directory: Path) -> tuple[http.server.ThreadingHTTPServer, str]:
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def expected_seconds(clip: Path) -> float:
    fps = next(imageio_ffmpeg.read_frames(str(clip)))["fps"]
    return count_frames(clip) / fps


REVEAL = """(video) => {  // a clip in a content tab: click its tab, as a reader would
  const block = video.closest('.tabbed-block');
  if (!block) return;
  const index = [...block.parentElement.children].indexOf(block);
  block.closest('.tabbed-set').querySelectorAll(':scope > input')[index].click();
}"""
STATE = """async (video) => {
  const deadline = Date.now() + 15000;
  while (video.readyState < 2 && !video.error && Date.now() < deadline) await new Promise(r => setTimeout(r, 50));
  const start = video.currentTime;
  await new Promise(r => setTimeout(r, 400));
  return {ready: video.readyState, duration: video.duration, error: video.error && video.error.code,
          paused: video.paused, muted: video.muted, advanced: video.currentTime !== start,
          autoplay: video.hasAttribute('data-wan-autoplay'),
          src: video.getAttribute('src')};
}"""


@pytest.mark.parametrize("theme", ["material", "mkdocs"])
def test_every_video_plays_in_chromium(sites, browser, theme):
    site = sites[theme]
    server, base = serve(site)
    pages = sorted(p for p in site.rglob("index.html") if "<video" in p.read_text())
    assert len(pages) >= 4
    ARTIFACTS.mkdir(exist_ok=True)
    try:
        context = browser.new_context(viewport={"width": 1200, "height": 900})
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        seen = 0
        for html in pages:
            url = f"{base}/{html.parent.relative_to(site).as_posix()}/".replace("//", "/").replace(":/", "://")
            page.goto(url, wait_until="load")
            videos = page.locator("figure.wan-video video")
            for i in range(videos.count()):
                video = videos.nth(i)
                video.evaluate(REVEAL)
                video.scroll_into_view_if_needed()
                state = video.evaluate(STATE)
                where = f"{url} video {i} ({state['src']})"
                assert state["error"] is None, where
                assert state["ready"] >= 2, where
                clip = (html.parent / state["src"]).resolve()
                assert abs(state["duration"] - expected_seconds(clip)) < 0.05, (where, state)
                if state["autoplay"]:
                    assert state["muted"] and not state["paused"] and state["advanced"], (where, state)
                else:  # {autoplay=false}: waits for the reader
                    assert state["paused"] and not state["advanced"], (where, state)
                playwright_api.expect(video).to_have_accessible_name(re.compile(r"\S"))
                seen += 1
        assert seen >= 19
        page.goto(f"{base}/guide/forms/", wait_until="load")
        page.wait_for_timeout(500)
        page.screenshot(path=str(ARTIFACTS / f"example-{theme}.png"), full_page=True)
        # MkDocs' default theme loads highlight.js from a CDN, which this offline machine can't reach.
        assert [e for e in errors if "hljs" not in e] == []
    finally:
        server.shutdown()


@pytest.mark.parametrize("theme", ["material", "mkdocs"])
def test_clips_scale_down_to_the_content_width(sites, browser, theme):
    """In a column narrower than the clip (a phone, a nested block), the clip shrinks to fit and
    keeps its aspect ratio: the theme's own column, squeezed to 64 px around each figure."""
    server, base = serve(sites[theme])
    try:
        page = browser.new_context(viewport={"width": 360, "height": 740}).new_page()
        page.goto(f"{base}/guide/forms/", wait_until="load")
        boxes = page.locator("figure.wan-video video").evaluate_all(
            """(videos) => videos.filter(v => v.offsetParent).map(v => {
              const column = v.closest('figure').parentElement;
              column.style.width = '64px';
              const box = v.getBoundingClientRect();
              return {width: box.width, height: box.height, column: column.getBoundingClientRect().width,
                      natural: v.width, ratio: v.width / v.height};
            })"""
        )
        assert boxes
        for box in boxes:
            assert box["natural"] > 64 and 0 < box["width"] <= box["column"] + 0.5, box
            assert abs(box["width"] / box["height"] - box["ratio"]) < 0.05, box
    finally:
        server.shutdown()


def test_a_gallery_is_centred_as_a_single_clip_is(sites, browser):
    server, base = serve(sites["mkdocs"])
    try:
        page = browser.new_context(viewport={"width": 1400, "height": 900}).new_page()
        page.goto(f"{base}/guide/templates/", wait_until="load")
        margins = page.locator(".wan-gallery").first.evaluate(
            """(grid) => {
              const outer = grid.getBoundingClientRect();
              const items = [...grid.children].map(c => c.getBoundingClientRect());
              const left = Math.min(...items.map(r => r.left)), right = Math.max(...items.map(r => r.right));
              return [left - outer.left, outer.right - right, items.length];
            }"""
        )
        assert margins[2] >= 2 and abs(margins[0] - margins[1]) < 2, margins
    finally:
        server.shutdown()


@pytest.fixture(scope="module")
def axe_script(tmp_path_factory: pytest.TempPathFactory) -> str:
    """axe-core, pinned, from the npm registry (`npm pack`: no install, no browser download)."""
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip("npm is not installed (apt-get install npm)")
    folder = tmp_path_factory.mktemp("axe")
    packed = subprocess.run([npm, "pack", f"axe-core@{AXE_VERSION}", "--silent"], cwd=folder, capture_output=True,
                            text=True, timeout=300)  # fmt: skip
    assert packed.returncode == 0, packed.stderr
    with tarfile.open(folder / packed.stdout.strip().splitlines()[-1]) as tar:
        member = tar.extractfile("package/axe.min.js")
        assert member is not None
        return member.read().decode()


AXE_VERSION = "4.14.1"
AXE_RUN = """async () => {
  const result = await axe.run(document, {runOnly: {type: 'tag',
      values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa']}});
  const ours = (node) => node.target.some((sel) => {
    const el = document.querySelector(sel);
    return el && (el.closest('figure.wan-video') || el.closest('.wan-video-error'));
  });
  return result.violations.map((v) => ({id: v.id, help: v.help, nodes: v.nodes.filter(ours).map((n) => n.html)}))
      .filter((v) => v.nodes.length);
}"""


def _pages_with_clips(site: Path) -> list[str]:
    return sorted(
        "/" + p.parent.relative_to(site).as_posix().strip(".") + "/"
        for p in site.rglob("index.html")
        if "wan-video" in p.read_text()
    )


@pytest.mark.parametrize(
    ("theme", "scheme"), [("material", "light"), ("material", "dark"), ("mkdocs", "light"), ("readthedocs", "light")]
)
def test_axe_finds_no_violation_in_the_plugins_markup(sites, browser, axe_script, theme, scheme):
    server, base = serve(sites[theme])
    try:
        page = browser.new_context(color_scheme=scheme).new_page()
        found = {}
        for path in _pages_with_clips(sites[theme]):
            page.goto(base + path.replace("//", "/"), wait_until="load")
            page.add_script_tag(content=axe_script)
            violations = page.evaluate(AXE_RUN)
            if violations:
                found[path] = violations
        assert found == {}
    finally:
        server.shutdown()


def test_reduced_motion_keeps_every_clip_still_and_motion_starts_them(sites, browser):
    server, base = serve(sites["material"])
    try:
        for motion, moves in (("reduce", False), ("no-preference", True)):
            page = browser.new_context(reduced_motion=motion).new_page()
            page.goto(f"{base}/guide/options/", wait_until="load")
            videos = page.locator("figure.wan-video video[data-wan-autoplay]")
            assert videos.count() >= 10
            for i in range(videos.count()):
                video = videos.nth(i)
                video.scroll_into_view_if_needed()  # browsers start autoplay clips once visible
                page.wait_for_timeout(300)
                state = video.evaluate("(v) => ({paused: v.paused, time: v.currentTime, autoplay: v.autoplay})")
                if moves:
                    assert state["autoplay"] and (state["time"] > 0 or not state["paused"]), (i, state)
                else:
                    assert not state["autoplay"] and state["paused"] and state["time"] == 0, (i, state)
    finally:
        server.shutdown()


@pytest.mark.parametrize("theme", ["material", "mkdocs"])
def test_moving_clips_can_be_paused_and_say_they_are_ai_generated(sites, browser, theme):
    server, base = serve(sites[theme])
    try:
        page = browser.new_context().new_page()
        checked = 0
        for path in _pages_with_clips(sites[theme]):
            page.goto(base + path.replace("//", "/"), wait_until="load")
            videos = page.locator("figure.wan-video video")
            for i in range(videos.count()):
                video = videos.nth(i)
                facts = video.evaluate(
                    "(v) => ({auto: v.hasAttribute('data-wan-autoplay'), loop: v.loop, controls: v.controls,"
                    " seconds: v.duration || 0})"
                )
                if facts["auto"] and (facts["loop"] or facts["seconds"] > 5):
                    assert facts["controls"], (path, i, facts)  # WCAG 2.2.2: a way to pause it
                playwright_api.expect(video).to_have_accessible_description(re.compile("AI-generated"))
                checked += 1
        assert checked >= 19
    finally:
        server.shutdown()


def test_small_clips_keep_a_readable_box_and_a_play_button(site, browser):
    """A 64x64 clip's box holds its text; a 96x96 clip is shown wide enough for Chromium to draw
    its play button (it hides the controls of smaller videos)."""
    site.page("index.md", "# Small\n\n<!-- @video-gen A tiny clip -->\n\n<!-- @video-gen A 96 clip {size=96x96} -->\n")
    assert site.build().returncode == 0
    site.options["generate"] = "never"
    site.page(
        "index.md",
        "# Small\n\n<!-- @video-gen A tiny clip -->\n\n<!-- @video-gen A 96 clip {size=96x96} -->\n\n"
        "<!-- @video-gen A small clip whose prompt is long enough to need several lines in its box -->\n",
    )
    site.build()
    server, base = serve(site.site_dir)
    try:
        page = browser.new_context(viewport={"width": 1024, "height": 800}).new_page()
        page.goto(f"{base}/", wait_until="load")
        widths = page.locator("figure.wan-video video").evaluate_all(
            "(vs) => vs.map(v => v.getBoundingClientRect().width)"
        )
        assert len(widths) == 2 and min(widths) >= 190, widths  # 12rem: the play button shows
        spill = page.locator(".wan-placeholder").evaluate_all(
            "(boxes) => boxes.map(b => [b.scrollWidth - b.clientWidth, b.scrollHeight - b.clientHeight])"
        )
        assert spill == [[0, 0]], spill
    finally:
        server.shutdown()


AXE_ALL = """async () => (await axe.run(document, {runOnly: {type: 'tag',
    values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa']}})).violations.map((v) => v.id + ': ' + v.help)"""


def test_the_review_page_approves_a_held_clip_by_keyboard_and_is_axe_clean(tmp_path, axe_script, browser):
    from conftest import Site
    from test_review import flagging
    from test_service import Service

    from mkdocs_wan.render.safety import save_tiny_classifier

    save_tiny_classifier(tmp_path / "clf")
    site = flagging(Site(tmp_path, tmp_path / "cache"), tmp_path / "clf")
    site.page("index.md", "# Held\n")
    running = Service(site)
    try:
        key = running.submit("<!-- @video-gen A kite someone must look at -->").json()["key"]
        held = running.wait(key, "held")
        assert "scores it nsfw" in held["error"]
        audit = browser.new_context(bypass_csp=True).new_page()  # axe is injected inline: CSP would stop it
        audit.goto(f"{running.url}/?token={running.token}")
        audit.wait_for_selector("#held video")
        audit.add_script_tag(content=axe_script)
        violations = audit.evaluate(AXE_ALL)
        assert violations == [], violations
        page = browser.new_context().new_page()
        page.goto(f"{running.url}/?token={running.token}")
        assert page.url == f"{running.url}/"  # the token left the address bar
        page.wait_for_selector("#held video")
        ready = page.eval_on_selector("#held video", "v => new Promise(r => v.readyState >= 2 ? r(v.readyState)"
                                      " : v.addEventListener('loadeddata', () => r(v.readyState)))")  # fmt: skip
        assert ready >= 2
        page.focus("#held input")
        page.keyboard.press("Tab")  # from the reason field to Approve
        assert page.evaluate("document.activeElement.textContent") == "Approve"
        page.keyboard.press("Enter")
        page.wait_for_selector("#held-empty", state="visible")
        decisions = (site.root / "mkdocs-wan-reviews.yml").read_text()
        assert key in decisions and "approved" in decisions
        assert running.client.get(f"/v1/clips/{key}").json()["status"] == "succeeded"
    finally:
        running.stop()
