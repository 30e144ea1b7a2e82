"""`fetch_from`: a CPU build reuses the clips a published site already holds, and trusts none of them blindly.

A site built with the tiny model is served by a real HTTP server on loopback; a second site with an
empty cache fetches from it. The server can be made to lie (truncated, swapped, oversized files, a
redirect to another scheme) by editing the published files or by the handler's redirect table.
"""

from __future__ import annotations

import functools
import hashlib
import http.server
import json
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import Site, summary
from test_serve import Server

from mkdocs_wan.media.posters import audit
from mkdocs_wan.store.cache import ClipCache

PAGE = "# Home\n\n<!-- @video-gen A red kite circling -->\n\n<!-- @video-gen A blue kite diving -->\n"
STORY = "# Story\n\n```video-gen\nsegments:\n  - A box opens\n  - A bird flies out\n```\n"


class _Handler(http.server.SimpleHTTPRequestHandler):
    redirects: dict[str, str] = {}  # noqa: RUF012 — set per server below
    log_message = lambda *args: None  # noqa: E731 — quiet

    def do_GET(self) -> None:
        target = self.redirects.get(self.path)
        if target is None:
            return super().do_GET()
        self.send_response(302)
        self.send_header("Location", target)
        self.end_headers()
        return None


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A site built (and its clips generated) with the tiny model: the deployed site of a GPU job."""
    site = Site(tmp_path_factory.mktemp("publisher"), tmp_path_factory.mktemp("publisher-cache"))
    site.page("index.md", PAGE)
    site.page("story.md", STORY)
    result = site.build()
    assert result.returncode == 0, result.stderr
    assert summary("3 clips (MB), 3 generated, 0 cached", result.stderr), result.stderr
    # The publisher's root certificate, which consumers list in `trust_anchors` (never published).
    shutil.copy(site.cache_dir / "credentials" / "root.pem", site.root / "publisher-root.pem")
    return site.site_dir


@pytest.fixture
def server(published: Path, tmp_path: Path) -> Iterator[tuple[str, Path, dict[str, str]]]:
    """A copy of the published site on a loopback HTTP server: (root URL, its folder, redirects)."""
    root = tmp_path / "served"
    shutil.copytree(published, root)
    shutil.copy(published.parent / "publisher-root.pem", tmp_path / "publisher-root.pem")
    handler = type("Handler", (_Handler,), {"redirects": {}})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler, directory=str(root)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/", root, handler.redirects
    finally:
        httpd.shutdown()
        httpd.server_close()


def consumer(tmp_path: Path, roots: object, generate: str = "never") -> Site:
    """A second checkout of the same docs with an empty cache (and signing identity) of its own,
    trusting the publisher's root certificate when a server fixture put it there."""
    site = Site(tmp_path / "consumer", tmp_path / "consumer-cache")
    site.options.update({"fetch_from": roots, "generate": generate})
    if (tmp_path / "publisher-root.pem").is_file():
        site.options["trust_anchors"] = str(tmp_path / "publisher-root.pem")
    site.page("index.md", PAGE)
    site.page("story.md", STORY)
    return site


def clips(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((folder / "assets" / "videos").glob("*.mp4"))}


def test_a_fresh_cache_fetches_every_clip_and_never_loads_the_model(server, tmp_path):
    url, served, _ = server
    site = consumer(tmp_path, [url])
    check = "print('heavy', sorted(m for m in ('torch', 'diffusers') if m in sys.modules))"
    result = site.build("--strict", script=check)
    assert result.returncode == 0, result.stderr
    assert summary("3 clips (MB), 0 generated, 3 fetched, 0 cached", result.stderr), result.stderr
    assert "heavy []" in result.stdout and "loaded model" not in result.stderr
    assert clips(site.site_dir) == clips(served)  # identical bytes
    records = sorted(p.name for p in (site.site_dir / "assets" / "videos").glob("*.json"))
    assert records == sorted(p.name for p in (served / "assets" / "videos").glob("*.json")) and len(records) == 3
    assert len(list((site.site_dir / "assets" / "videos").glob("*.jpg"))) == 3  # posters made from the clips

    again = site.build("--strict")
    assert summary("3 clips (MB), 0 generated, 0 fetched, 3 cached", again.stderr), again.stderr
    assert "fetching" not in again.stderr  # a cached build asks nobody


def test_the_first_root_that_has_a_clip_wins_and_a_404_is_quiet(server, tmp_path):
    url, _, _ = server
    site = consumer(tmp_path, [f"{url}nothing-here/", url])
    site.page("new.md", "# New\n\n<!-- @video-gen A directive nobody published yet -->\n")
    result = site.build()
    assert result.returncode == 0, result.stderr
    assert summary("4 clips (MB), 0 generated, 3 fetched, 0 cached, 1 missing (generate: never)", result.stderr)
    warnings = [line for line in result.stderr.splitlines() if line.startswith("WARNING")]
    assert warnings == ["WARNING -  mkdocs_wan: new.md:3: clip not in the cache and `generate: never`: "
                        "A directive nobody published yet"]  # fmt: skip
    html = (site.site_dir / "new" / "index.html").read_text()
    assert "not generated" in html and "<video" not in html


@pytest.mark.parametrize("lie", ["truncated", "swapped", "padded", "oversized record", "foreign record"])
def test_a_lying_server_is_refused_with_one_warning_and_the_clip_regenerated(server, tmp_path, lie):
    url, served, _ = server
    videos = served / "assets" / "videos"
    page = (served / "index.html").read_text()
    red, blue = re.findall(r'data-wan-key="(\w+)"', page)
    clip = videos / f"{red}.mp4"
    if lie == "truncated":
        clip.write_bytes(clip.read_bytes()[:-100])
    elif lie == "swapped":
        shutil.copy(videos / f"{blue}.mp4", clip)
    elif lie == "padded":  # more bytes than its record says
        clip.write_bytes(clip.read_bytes() + b"\0" * 4096)
    elif lie == "oversized record":
        record = (videos / f"{red}.json").read_text()
        (videos / f"{red}.json").write_text(re.sub(r'"bytes": \d+', '"bytes": 999999999', record))
    else:
        shutil.copy(videos / f"{blue}.json", videos / f"{red}.json")
    site = consumer(tmp_path, url, generate="auto")
    result = site.build()
    assert result.returncode == 0, result.stderr
    warning = [line for line in result.stderr.splitlines() if f"{red}.mp4" in line]
    assert len(warning) == 1 and warning[0].startswith("WARNING") and "not using it" in warning[0], result.stderr
    assert summary("3 clips (MB), 1 generated, 2 fetched, 0 cached", result.stderr), result.stderr
    cache_clip = tmp_path / "consumer-cache" / "clips" / f"{red}.mp4"
    assert cache_clip.read_bytes() == (tmp_path / "consumer" / "site" / "assets" / "videos" / f"{red}.mp4").read_bytes()
    if "record" not in lie:  # the served clip itself was tampered with; the cache never holds it
        assert cache_clip.read_bytes() != clip.read_bytes()
    assert audit(ClipCache(tmp_path / "consumer-cache"), red) is None


def test_an_unreachable_server_costs_one_warning_per_build(tmp_path):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{probe.getsockname()[1]}/"
    site = consumer(tmp_path, dead)
    result = site.build()
    assert result.returncode == 0, result.stderr
    reached = [line for line in result.stderr.splitlines() if "cannot reach" in line]
    assert len(reached) == 1 and dead in reached[0], result.stderr
    assert summary("3 clips (MB), 0 generated, 0 fetched, 0 cached, 3 missing (generate: never)", result.stderr)


def test_a_redirect_to_another_scheme_is_refused(server, tmp_path):
    url, served, redirects = server
    red = re.findall(r'data-wan-key="(\w+)"', (served / "index.html").read_text())[0]
    redirects[f"/assets/videos/{red}.json"] = "file:///etc/passwd"
    site = consumer(tmp_path, url)
    result = site.build()
    assert result.returncode == 0, result.stderr
    refused = [line for line in result.stderr.splitlines() if f"{red}.json" in line or f"{red}.mp4" in line]
    assert len(refused) == 1 and "not using it" in refused[0], result.stderr
    assert summary("3 clips (MB), 0 generated, 2 fetched, 0 cached, 1 missing (generate: never)", result.stderr)
    assert not (tmp_path / "consumer-cache" / "clips" / f"{red}.mp4").exists()


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("file:///etc", "fetch_from takes http(s) site roots"),
        ("http://[::1", "fetch_from takes http(s) site roots"),
        ("http://127.0.0.1:99999/", "fetch_from takes http(s) site roots"),
        ("https://docs.example.com/#top", "fetch_from takes http(s) site roots"),
        ("ftp://example.com/", "fetch_from takes http(s) site roots"),
        (["https://ok.example/", 7], "fetch_from must be a URL or a list of URLs"),
        ([], "fetch_from must be a URL or a list of URLs"),
    ],
)
def test_fetch_from_takes_only_http_urls(tmp_path, value, message):
    site = consumer(tmp_path, value)
    result = site.build()
    assert result.returncode == 1 and message in result.stderr and "Traceback" not in result.stderr


def test_generate_prefetches(server, tmp_path):
    url, _, _ = server
    site = consumer(tmp_path, url, generate="auto")
    result = site.cli("generate")
    assert result.returncode == 0, result.stderr
    assert summary("3 clips (MB), 0 generated, 3 fetched, 0 cached, 0 failed", result.stdout), result.stdout
    assert "loaded model" not in result.stderr
    listed = site.cli("list")
    assert listed.stdout.count("\tcached\t") == 3


def test_serve_fetches_in_its_worker_and_never_loads_the_model(server, tmp_path):
    url, served, _ = server
    site = consumer(tmp_path, url, generate="auto")
    site.write_config()
    srv = Server(site.root)
    try:
        html = srv.wait_for("/", r"<video ", timeout=60)
        src = re.search(r'<video src="([^"]+)"', html)[1]
        assert srv.get("/" + src)[0] == (served / src).read_bytes()
        srv.wait_for("/story/", r"<video ", timeout=60)
        srv.wait_for("/", r"(?s)<video .*<video ", timeout=60)  # the queue's order is the worker's
        assert "loaded model" not in srv.output() and srv.output().count("fetched http://127.0.0.1") == 3
    finally:
        srv.proc.kill()
        srv.proc.wait()


def test_a_swapped_clip_with_a_rewritten_record_is_caught_by_its_credentials(server, tmp_path):
    """Whoever controls the server can rewrite a record to match foreign bytes; the signed
    manifest still names the clip's own key."""
    url, served, _ = server
    videos = served / "assets" / "videos"
    red, blue = re.findall(r'data-wan-key="(\w+)"', (served / "index.html").read_text())
    shutil.copy(videos / f"{blue}.mp4", videos / f"{red}.mp4")
    record = json.loads((videos / f"{blue}.json").read_text())
    (videos / f"{red}.json").write_text(json.dumps({**record, "key": red}))
    site = consumer(tmp_path, url)
    result = site.build()
    warning = [line for line in result.stderr.splitlines() if f"{red}.mp4" in line]
    assert len(warning) == 1 and "its Content Credentials say it is another clip" in warning[0], result.stderr
    assert not (tmp_path / "consumer-cache" / "clips" / f"{red}.mp4").exists()


def test_only_clips_signed_by_a_signer_the_site_trusts_are_fetched(server, tmp_path):
    """Anyone can sign a clip: without the publisher's root in `trust_anchors` nothing is taken,
    and a clip whose credentials were stripped (record rewritten to match) is refused even then."""
    url, served, _ = server
    site = consumer(tmp_path, url)
    del site.options["trust_anchors"]
    result = site.build()
    warnings = [line for line in result.stderr.splitlines() if line.startswith("WARNING") and "not trust" in line]
    assert len(warnings) == 1 and "(said once for this site)" in warnings[0], result.stderr  # not once per clip
    assert "add that signer's root certificate to `trust_anchors`" in warnings[0]
    assert "`<cache_dir>/credentials/root.pem`" in warnings[0]
    assert not list((tmp_path / "consumer-cache" / "clips").glob("*.mp4"))

    videos = served / "assets" / "videos"
    red = re.findall(r'data-wan-key="(\w+)"', (served / "index.html").read_text())[0]
    stripped = tmp_path / "stripped.mp4"  # a remux drops the C2PA box; frames and size are intact
    ffmpeg = __import__("imageio_ffmpeg").get_ffmpeg_exe()
    subprocess.run(
        [ffmpeg, "-v", "error", "-i", videos / f"{red}.mp4", "-c", "copy", "-movflags", "+faststart", stripped],
        check=True,
    )
    shutil.copy(stripped, videos / f"{red}.mp4")
    record = json.loads((videos / f"{red}.json").read_text())
    data = stripped.read_bytes()
    record.update(sha256=hashlib.sha256(data).hexdigest(), bytes=len(data))
    (videos / f"{red}.json").write_text(json.dumps(record))
    site.options["trust_anchors"] = str(tmp_path / "publisher-root.pem")
    result = site.build()
    warnings = [line for line in result.stderr.splitlines() if line.startswith("WARNING") and ".mp4" in line]
    assert len(warnings) == 1 and "carries no Content Credentials" in warnings[0], result.stderr
    assert summary("3 clips (MB), 0 generated, 2 fetched, 0 cached, 1 missing (generate: never)", result.stderr)

    verify = site.cli("verify")
    assert verify.returncode == 0 and "2 ok" in verify.stdout and "2 Trusted" in verify.stdout, verify.stdout


def test_bytes_appended_to_a_genuine_signed_clip_are_refused(server, tmp_path):
    """C2PA's hash skips `free` boxes: a server can append one (a script, anything) to a clip
    that stays Trusted, and rewrite the record to match. Only the boxes a clip is made of pass."""
    url, served, _ = server
    videos = served / "assets" / "videos"
    red = re.findall(r'data-wan-key="(\w+)"', (served / "index.html").read_text())[0]
    payload = b"<script>alert(1)</script>"
    data = (videos / f"{red}.mp4").read_bytes() + (8 + len(payload)).to_bytes(4, "big") + b"free" + payload
    (videos / f"{red}.mp4").write_bytes(data)
    record = json.loads((videos / f"{red}.json").read_text())
    record.update(sha256=hashlib.sha256(data).hexdigest(), bytes=len(data))
    (videos / f"{red}.json").write_text(json.dumps(record))
    result = consumer(tmp_path, url).build()
    warnings = [line for line in result.stderr.splitlines() if line.startswith("WARNING") and ".mp4" in line]
    assert len(warnings) == 1 and "mdat, free) are not the ones a clip is made of" in warnings[0], result.stderr
    assert summary("3 clips (MB), 0 generated, 2 fetched, 0 cached, 1 missing (generate: never)", result.stderr)


class _Stalling(http.server.BaseHTTPRequestHandler):
    """Records arrive, clips drip one byte at a time (or, with `silent`, nothing ever comes)."""

    silent = False
    served: Path

    def do_GET(self) -> None:
        if self.silent:
            time.sleep(60)
            return
        body = (self.served / self.path.lstrip("/")).read_bytes()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.path.endswith(".json"):
            self.wfile.write(body)
            return
        for byte in body:
            self.wfile.write(bytes([byte]))
            self.wfile.flush()
            time.sleep(1.0)

    def log_message(self, *args: object) -> None:
        pass


@pytest.mark.parametrize("silent", [True, False], ids=["silent", "drip"])
def test_a_stalling_server_costs_one_deadline_per_build_not_a_hang(server, tmp_path, silent):
    _, served, _ = server
    handler = type("Handler", (_Stalling,), {"silent": silent, "served": served})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        site = consumer(tmp_path, f"http://user:secret@127.0.0.1:{httpd.server_address[1]}/")
        started = time.monotonic()
        result = site.build()
        assert time.monotonic() - started < 60, result.stderr
    finally:
        httpd.shutdown()
    assert result.returncode == 0, result.stderr
    down = [line for line in result.stderr.splitlines() if "cannot reach" in line]
    assert len(down) == 1, result.stderr
    assert "secret" not in result.stderr and "***@127.0.0.1" in down[0]
    assert summary("3 clips (MB), 0 generated, 0 fetched, 0 cached, 3 missing (generate: never)", result.stderr)


def test_a_record_nested_beyond_reason_is_not_json(server, tmp_path):
    url, served, _ = server
    red = re.findall(r'data-wan-key="(\w+)"', (served / "index.html").read_text())[0]
    (served / "assets" / "videos" / f"{red}.json").write_text("[" * 60_000)
    result = consumer(tmp_path, url).build()
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    assert f"{red}.json" not in result.stderr and "its record is not JSON; not using it" in result.stderr


def test_a_fetched_clip_goes_through_the_sites_own_review_gate(server, tmp_path):
    """A clip rejected here is not published again because another site still has it, and a
    fetched clip is judged by this site's safety model like one made here."""
    import re

    import yaml

    url, served, _ = server
    first, other = re.findall(r'data-wan-key="(\w+)"', (served / "index.html").read_text())[:2]
    site = consumer(tmp_path, [url])
    decision = {"decision": "rejected", "by": "Ada", "at": "2026-12-02T10:00:00Z", "why": "off-brand"}
    (site.root / "mkdocs-wan-reviews.yml").write_text(yaml.safe_dump({"clips": {first: decision}}))
    result = site.build()
    assert result.returncode == 0, result.stderr
    assert "index.md:3: rejected in review by Ada: off-brand" in result.stderr
    assert f"{first}.mp4" not in clips(site.site_dir)
    cache = ClipCache(tmp_path / "consumer-cache")
    assert cache.record(first) is None  # a rejected clip is not even fetched
    record = cache.record(other)
    assert record["fetched_from"] and "quality" in record  # this site's own QC verdict, not the publisher's

    classifier = tmp_path / "classifier"
    made = subprocess.run([sys.executable, "-m", "mkdocs_wan", "tiny", "safety", str(classifier)], capture_output=True)
    assert made.returncode == 0
    (tmp_path / "second").mkdir()
    shutil.copy(tmp_path / "publisher-root.pem", tmp_path / "second" / "publisher-root.pem")
    flagged = consumer(tmp_path / "second", [url])
    flagged.options.update({"safety_model": str(classifier), "safety_threshold": 0.0})
    result = flagged.build()
    assert result.returncode == 0 and summary("3 clips (MB), 0 generated, 3 fetched, 0 cached, 3 held for review",
                                              result.stderr), result.stderr  # fmt: skip
    assert clips(flagged.site_dir) == {}
