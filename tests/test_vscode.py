"""The VS Code extension in a real VS Code: code-server (VS Code 1.139) with the extension installed
from its .vsix, driven in Debian's Chromium. One test, end to end: the Problems panel shows a broken
directive's message at its line, the Generate lens starts the local service (autoStart) and makes
the clip through it, progress shows, and the player beside the page plays the clip from the cache.

The tools come from `editors/vscode/scripts/setup-test.sh` (registries only; CI runs it)."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from conftest import Site

ROOT = Path(__file__).resolve().parent.parent
TOOLS = ROOT / "editors" / "vscode" / ".test-tools"
CODE_SERVER = TOOLS / "cs" / "node_modules" / ".bin" / "code-server"
NODE24 = TOOLS / "node24" / "package" / "bin"
VSIX = TOOLS / "mkdocs-wan.vsix"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SHOTS = Path(os.environ.get("MKDOCS_WAN_SHOTS", ROOT / "test-artifacts"))

if not (CODE_SERVER.exists() and VSIX.exists() and NODE24.is_dir()):
    pytest.skip("code-server and the .vsix are not installed: run editors/vscode/scripts/setup-test.sh",
                allow_module_level=True)  # fmt: skip
playwright_api = pytest.importorskip("playwright.sync_api")

PAGE = """# Kites

<!-- @video-gen A kite {frames=ten} -->

Some text between the two.

<!-- @video-gen A red kite over a green hill {size=128x128 frames=17 steps=12} -->
"""


VIDEO = "const v = document.querySelector('video#clip')"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_http(url: str, deadline: float, proc: subprocess.Popen[bytes], log: Path) -> None:
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.3)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Stop code-server and everything it started (the language server, the service) by its group."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
            proc.wait(timeout=10)
            return
        except ProcessLookupError:
            return
        except subprocess.TimeoutExpired:
            continue


def test_the_extension_shows_a_problem_and_plays_a_clip_it_made_through_the_service(tmp_path):
    site = Site(tmp_path / "ws", tmp_path / "cache")
    site.page("kites.md", PAGE)
    site.write_config()
    data, extensions = tmp_path / "vscode-data", tmp_path / "vscode-extensions"
    settings = {
        "workbench.startupEditor": "none", "telemetry.telemetryLevel": "off", "extensions.autoCheckUpdates": False,
        "extensions.autoUpdate": False, "workbench.tips.enabled": False, "chat.disableAIFeatures": True,
        "remote.autoForwardPorts": False,
        # Machine-scoped: only user (and remote machine) settings may say what runs.
        "mkdocsWan.command": [sys.executable, "-m", "mkdocs_wan"], "mkdocsWan.service.autoStart": True,
    }  # fmt: skip
    for scope in ("User", "Machine"):
        (data / scope).mkdir(parents=True)
        (data / scope / "settings.json").write_text(json.dumps(settings))
    env = {
        **site.env(), "PATH": f"{NODE24}{os.pathsep}{os.environ['PATH']}",
        "XDG_CONFIG_HOME": str(tmp_path / "xdg"), "XDG_DATA_HOME": str(tmp_path / "xdg-data"),
    }  # fmt: skip
    dirs = ["--user-data-dir", str(data), "--extensions-dir", str(extensions)]
    installed = subprocess.run([str(CODE_SERVER), *dirs, "--install-extension", str(VSIX)], env=env,
                               capture_output=True, text=True, timeout=180)  # fmt: skip
    assert installed.returncode == 0, installed.stdout + installed.stderr

    port, log = _free_port(), tmp_path / "code-server.log"
    proc = subprocess.Popen(
        [str(CODE_SERVER), "--bind-addr", f"127.0.0.1:{port}", "--auth", "none", "--disable-telemetry",
         "--disable-update-check", "--disable-workspace-trust", *dirs, str(site.root)],
        env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        _wait_http(f"http://127.0.0.1:{port}/healthz", time.monotonic() + 60, proc, log)
        with playwright_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
            try:
                page = browser.new_page(viewport={"width": 1500, "height": 900})
                try:
                    _drive(page, f"http://127.0.0.1:{port}/?folder={site.root}", site)
                except Exception:
                    SHOTS.mkdir(parents=True, exist_ok=True)
                    page.screenshot(path=str(SHOTS / "vscode-failure.png"))
                    (SHOTS / "vscode-failure.html").write_text(page.content())
                    logs = sorted(data.glob("logs/**/*.log"))
                    for path in (path for path in logs if "exthost" in str(path)):
                        print(f"== {path}\n{path.read_text()[-2500:]}")
                    raise
            finally:
                browser.close()
    finally:
        _stop(proc)
        info = site.cache_dir / "service.json"
        assert not info.exists() or _gone(json.loads(info.read_text())["pid"]), "the service outlived the editor"


def _gone(pid: int) -> bool:
    for _ in range(50):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    os.kill(pid, signal.SIGKILL)
    return False


def _drive(page, url: str, site: Site) -> None:
    page.goto(url)
    page.wait_for_selector(".monaco-workbench", timeout=90_000)
    page.wait_for_timeout(2000)
    page.locator(".monaco-workbench").click(position={"x": 700, "y": 450})
    page.keyboard.press("Control+P")
    page.wait_for_selector(".quick-input-widget input", timeout=20_000)
    page.keyboard.type("kites.md")
    # Quick Open searches the folder first (slow on a busy machine): Enter only once it found it.
    page.locator(".quick-input-list .monaco-list-row", has_text="kites.md").first.wait_for(timeout=90_000)
    page.keyboard.press("Enter")
    page.locator(".tabs-container .tab", has_text="kites.md").first.wait_for(timeout=60_000)

    # The Problems panel: the build's message, at the directive's line.
    page.keyboard.press("Control+Shift+M")
    problem = page.locator(".monaco-list-row[aria-label*='frames must be an integer, got']")
    problem.first.wait_for(timeout=90_000)
    label = problem.first.get_attribute("aria-label") or ""
    assert "got 'ten' at line 3 and character 1. generated by mkdocs-wan" in label, label

    generate = page.locator(".codelens-decoration a").filter(has_text=re.compile(r"^Generate$"))
    generate.first.wait_for(timeout=60_000)
    assert generate.count() == 1  # the broken directive has no lens
    SHOTS.mkdir(parents=True, exist_ok=True)
    clicked = time.monotonic()
    generate.first.click()

    # Progress shows above the directive and in the status bar until the clip plays in the player.
    seen: set[str] = set()
    bar = page.locator(".statusbar-item", has_text="mkdocs-wan")
    video = None
    deadline = time.monotonic() + 240
    while video is None:
        assert time.monotonic() < deadline, (seen, site.cache_dir)
        for text in page.locator(".codelens-decoration a").all_inner_texts() + bar.all_inner_texts():
            seen.add(re.sub(r"\d+", "N", text.strip()))
        for frame in page.frames:
            try:
                if frame.evaluate(f"() => {{ {VIDEO}; return !!v && v.readyState >= 2 }}"):
                    video = frame
            except playwright_api.Error:
                continue  # a frame that went away while we looked
        page.wait_for_timeout(100)
    playing = time.monotonic() - clicked
    facts = video.evaluate(f"() => {{ {VIDEO}; return [v.videoWidth, v.currentSrc] }}")
    assert facts[0] == 128, facts
    assert "vscode-resource" in facts[1] or "vscode-cdn" in facts[1], facts  # the cache's file, not the service's URL
    assert any(text.startswith(("step N/N", "queued")) for text in seen), seen
    print(f"click to clip playing: {playing:.1f} s (service start and model load included); seen: {sorted(seen)}")
    lens = page.locator(".codelens-decoration a", has_text="Play (cached, ")
    lens.first.wait_for(timeout=30_000)
    # Still the same element, playing (muted autoplay, looped): the settled progress did not reload it.
    video.wait_for_function(f"() => {{ {VIDEO}; return v.readyState >= 2 && !v.paused && v.currentTime > 0 }}",
                            timeout=15_000)  # fmt: skip
    page.screenshot(path=str(SHOTS / "vscode-player.png"))  # the docs' picture of the panel
