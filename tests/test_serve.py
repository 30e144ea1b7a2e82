"""A real `mkdocs serve` on a loopback port with the tiny model, driven like a writer would.

Each test starts its own server on a fresh site (so any test runs alone, in any order), edits
pages and waits for the live rebuild, exactly as a browser tab would see it.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

from mkdocs_wan.media.posters import audit
from mkdocs_wan.store.cache import ClipCache

SLOW = "A slow kite over the dunes {size=256x256 frames=33 steps=8}"


class Server:
    def __init__(self, root: Path, *args: str, program: str = "mkdocs") -> None:
        self.root = root
        self.log = root / "serve.log"
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "NO_MKDOCS_2_WARNING": "1"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", program, "serve", "-a", f"127.0.0.1:{self.port}", *args],
            cwd=root,
            env=env,
            stdout=self.log.open("w"),
            stderr=subprocess.STDOUT,
            # Ctrl-C must reach it even when the suite itself runs in the background (`cmd &` starts
            # with SIGINT ignored, which children inherit, and Python then never raises it).
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )

    def get(self, path: str) -> tuple[bytes, str, float]:
        started = time.perf_counter()
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=30) as response:
            body = response.read()
            return body, response.headers.get("Content-Type", ""), time.perf_counter() - started

    def page(self, path: str) -> str:
        return self.get(path)[0].decode()

    def output(self) -> str:
        return self.log.read_text()

    def wait_log(self, text: str, timeout: float = 90.0) -> str:
        """The log once it says `text`: an event the server emits, which no timing can make us miss
        (a placeholder on a page can come and go between two looks)."""
        deadline = time.monotonic() + timeout
        while text not in (output := self.output()):
            assert self.proc.poll() is None and time.monotonic() < deadline, f"never logged {text!r}\n{output}"
            time.sleep(0.05)
        return output

    def wait_for(self, path: str, pattern: str, timeout: float = 90.0) -> str:
        deadline = time.monotonic() + timeout
        while True:
            assert self.proc.poll() is None, self.output()
            try:
                html = self.page(path)
                if re.search(pattern, html):
                    return html
            except OSError:
                pass
            assert time.monotonic() < deadline, f"{path} never matched {pattern!r}\n{self.output()}"
            time.sleep(0.2)


def clip_key(html: str) -> str | None:
    match = re.search(r'data-wan-key="(\w+)"[^>]*><video ', html)
    return match[1] if match else None


def write(path: Path, text: str) -> None:
    path.write_text(text)
    os.utime(path, (time.time() + 1, time.time() + 1))  # make sure the poller sees a new mtime


def make_site(root: Path) -> Path:
    (root / "docs").mkdir()
    options = {"model": "tiny", "size": "64x64", "frames": 9, "steps": 2}
    (root / "mkdocs.yml").write_text(yaml.safe_dump({"site_name": "Serve", "plugins": [{"wan": options}]}))
    (root / "docs" / "index.md").write_text(f"# Home\n\n<!-- @video-gen {SLOW} -->\n")
    (root / "docs" / "other.md").write_text("# Other\n\n<!-- @video-gen A quiet dog asleep -->\n")
    return root


@pytest.fixture
def server(tmp_path):
    srv = Server(make_site(tmp_path))
    srv.wait_log("Serving on", timeout=60)  # the first build ran: both clips queued, placeholders shown
    assert "2 clips (0.0 MB), 0 generated, 0 cached, 2 queued" in srv.output(), srv.output()
    yield srv
    if srv.proc.poll() is None:
        srv.proc.kill()
        srv.proc.wait()


def test_pages_answer_quickly_while_a_clip_generates(server):
    landed = "generated clip for index.md" in server.output()
    html = server.page("/")
    if not landed:  # asked before the clip landed (and so before the rebuild that shows it)
        assert "generating…" in html and "A slow kite over the dunes" in html
    times = []
    deadline = time.monotonic() + 120
    while "generated clip for index.md" not in server.output():
        assert time.monotonic() < deadline, server.output()
        _body, _, seconds = server.get("/other/")
        times.append(seconds)
        time.sleep(0.1)
    assert times, "no page was requested while the clip generated"
    assert max(times) < 2.0, times
    assert re.search(r"clip for index\.md:3: step 1/8, [\d.]+ s elapsed, ETA", server.output())  # not silent


def test_clip_appears_and_its_url_serves_an_mp4(server):
    sentinel = server.root / ".cache" / "mkdocs-wan" / "serve" / "reload.txt"
    touched = sentinel.stat().st_mtime_ns  # created before the server watches it
    html = server.wait_for("/", r"<video ")
    assert sentinel.stat().st_mtime_ns > touched  # the worker touched it: that is what reloaded the page
    src = re.search(r'<video src="([^"]+)"', html)[1]
    body, content_type, _ = server.get("/" + src)
    assert content_type == "video/mp4" and body[4:8] == b"ftyp"


def test_edited_prompt_makes_a_new_clip_and_reverting_it_brings_the_first_back(server):
    other_before = server.wait_for("/other/", r"<video ")
    first = clip_key(server.wait_for("/", r"<video "))
    other_key = clip_key(other_before)
    other_src = re.search(r'<video src="([^"]+)"', other_before)[1]
    other_bytes = server.get("/other/" + other_src)[0]

    write(server.root / "docs" / "index.md", "# Home\n\n<!-- @video-gen A red kite over the dunes -->\n")
    html = server.wait_for("/", r'data-wan-key="(?!' + first + r')\w+"[^>]*><video ')
    assert "A red kite over the dunes" in html
    other_after = server.page("/other/")
    assert clip_key(other_after) == other_key
    assert server.get("/other/" + other_src)[0] == other_bytes

    # Reverting the prompt brings back the first clip without generating.
    generated_before = server.output().count("generated clip for")
    write(server.root / "docs" / "index.md", f"# Home\n\n<!-- @video-gen {SLOW} -->\n")
    html = server.wait_for("/", "slow kite")
    assert clip_key(html) == first  # the first rebuild already shows the cached clip
    time.sleep(1)
    assert server.output().count("generated clip for") == generated_before


def test_malformed_directive_does_not_kill_the_server_and_fixing_it_recovers(server):
    write(server.root / "docs" / "other.md", "# Other\n\n<!-- @video-gen A dog {frames=ten} -->\n")
    html = server.wait_for("/other/", "Video not generated")
    assert "other.md:3" in html and "frames must be an integer" in html
    assert "other.md:3: frames must be an integer" in server.output()
    write(server.root / "docs" / "other.md", "# Other\n\n<!-- @video-gen A dog {frames=13} -->\n")
    server.wait_for("/other/", r"<video ")


def test_model_loaded_once_across_rebuilds(server):
    server.wait_for("/", r"<video ")
    write(server.root / "docs" / "other.md", "# Other\n\n<!-- @video-gen A cat asleep -->\n")
    server.wait_for("/other/", 'aria-label="Generated clip: A cat asleep"')  # a clip, not its placeholder
    assert server.output().count("loaded model tiny in") == 1


def test_ctrl_c_with_a_clip_in_flight_stops_cleanly_and_keeps_nothing_half_made(tmp_path):
    root = make_site(tmp_path)
    long_clip = "A very long kite flight {size=256x256 frames=33 steps=150}"  # far longer than a shutdown
    (root / "docs" / "index.md").write_text(f"# Home\n\n<!-- @video-gen {long_clip} -->\n")
    server = Server(root)
    try:
        deadline = time.monotonic() + 120
        while "clip for index.md:3: step 1/150" not in server.output():  # denoising, 149 steps to go
            assert server.proc.poll() is None and time.monotonic() < deadline, server.output()
            time.sleep(0.05)
        server.proc.send_signal(signal.SIGINT)
        assert server.proc.wait(timeout=60) == 0
    finally:
        if server.proc.poll() is None:
            server.proc.kill()
    log = server.output()
    assert "Traceback" not in log
    assert "cancelled clip for index.md:3 (nothing kept): A very long kite flight" in log, log
    cache = ClipCache(root / ".cache" / "mkdocs-wan")
    assert not list(cache.clips.glob(".*.tmp.*")) and not list((cache.root / "tmp").glob("*"))
    assert all(audit(cache, key) is None for key in cache.clip_keys())  # what landed (the dog) is whole


def test_dirty_serve_still_rerenders_pages_when_their_clip_lands(tmp_path):
    """`serve --dirty` re-renders only changed sources; a placeholder page must update anyway."""
    srv = Server(make_site(tmp_path), "--dirty")
    try:
        srv.wait_log("2 queued", timeout=60)  # the pages were built with placeholders
        srv.wait_for("/", r"<video ")
        srv.wait_for("/other/", r"<video ")
    finally:
        srv.proc.send_signal(signal.SIGINT)
        srv.proc.wait(timeout=60)


def test_worker_keeps_working_when_the_reload_sentinel_cannot_be_written(tmp_path):
    """A sentinel path the server cannot write (here: a folder in its place) costs auto-reload
    only: one warning, every clip still made, and an edit shows them."""
    root = make_site(tmp_path)
    (root / ".cache" / "mkdocs-wan" / "serve" / "reload.txt").mkdir(parents=True)
    srv = Server(root)
    try:
        deadline = time.monotonic() + 120
        while srv.output().count("generated clip for") < 2:  # both clips, one after the other
            assert srv.proc.poll() is None and time.monotonic() < deadline, srv.output()
            time.sleep(0.2)
        assert srv.output().count("pages will not reload by themselves") == 1
        write(root / "docs" / "index.md", f"# Home\n\nEdited.\n\n<!-- @video-gen {SLOW} -->\n")
        srv.wait_for("/", r"Edited\.(.|\n)*<video ")
    finally:
        srv.proc.send_signal(signal.SIGINT)
        srv.proc.wait(timeout=60)
    assert "Traceback" not in srv.output()


def test_quick_edits_stop_the_clips_no_page_wants_any_more(tmp_path):
    """Three edits of one prompt in quick succession: the clips of the first two are stopped (or
    never started), each said in the log, and only the last one is made and shown."""
    srv = Server(make_site(tmp_path))
    try:
        srv.wait_log("clip for index.md:3: step", timeout=120)  # the first clip is in flight
        page = srv.root / "docs" / "index.md"
        write(page, "# Home\n\n<!-- @video-gen A second slow kite {size=256x256 frames=33 steps=8} -->\n")
        srv.wait_for("/", "A second slow kite")
        write(page, "# Home\n\n<!-- @video-gen A third kite -->\n")
        html = srv.wait_for("/", r'data-wan-key="\w+"[^>]*><video ', timeout=120)
        assert "A third kite" in html
        output = srv.output()
        assert "stopping the clip in flight: no page uses it any more" in output
        assert "cancelled clip for index.md:3 (nothing kept): A slow kite over the dunes" in output
        assert (
            "generated clip for index.md:3" in output
            and "A slow kite over the dunes" not in output.split("generated clip for index.md:3")[-1].splitlines()[0]
        )
        srv.wait_for("/other/", r"<video ", timeout=120)
        cache = ClipCache(srv.root / ".cache" / "mkdocs-wan")
        assert len(cache.clip_keys()) == 2  # the third clip and other.md's: nothing for the first two
    finally:
        if srv.proc.poll() is None:
            srv.proc.kill()
            srv.proc.wait()
