"""The local generation service, started for real on loopback: jobs, progress, cancel, restart,
the browser-facing defences, builds that use it, and its review page in Chromium."""

from __future__ import annotations

import json
import signal
import stat
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from conftest import Site
from test_serve import Server

from mkdocs_wan.store.cache import ClipCache

SLOW = "{steps=150 size=512x512 frames=33}"  # long enough on the tiny model to watch, measure and cancel


class Service:
    """`mkdocs-wan service --port 0` for a site, its service.json, and an authorised client."""

    def __init__(self, site: Site, *args: str) -> None:
        self.site = site
        site.write_config()
        self.log = site.root / f"service-{time.monotonic_ns()}.log"
        info = site.cache_dir / "service.json"
        info.unlink(missing_ok=True)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "mkdocs_wan", "service", "--port", "0", *args],
            cwd=site.root, env=site.env(), stdout=self.log.open("w"), stderr=subprocess.STDOUT,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )  # fmt: skip
        deadline = time.monotonic() + 120
        while not info.is_file() or self.state() in (None, "starting"):
            assert self.proc.poll() is None and time.monotonic() < deadline, self.output()
            time.sleep(0.2)
        self.info_path = info
        self.url, self.token = self.info["url"], self.info["token"]
        self.client = httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {self.token}"}, timeout=30)

    @property
    def info(self) -> dict:
        return json.loads((self.site.cache_dir / "service.json").read_text())

    def state(self) -> str | None:
        try:
            info = self.info
            answer = httpx.get(f"{info['url']}/v1/health", headers={"Authorization": f"Bearer {info['token']}"})
            return answer.json()["state"]
        except (OSError, ValueError, KeyError, httpx.HTTPError):
            return None

    def output(self) -> str:
        return self.log.read_text()

    def submit(self, directive: str, page: str = "index.md", **extra: object) -> httpx.Response:
        return self.client.post("/v1/clips", json={"page": page, "directive": directive, **extra})

    def wait(self, key: str, *states: str, timeout: float = 120) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            view = self.client.get(f"/v1/clips/{key}").json()
            if view["status"] in states:
                return view
            assert time.monotonic() < deadline, (view, self.output())
            time.sleep(0.1)

    def stop(self, sig: int = signal.SIGINT) -> None:
        self.client.close()
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(30)


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    root = tmp_path_factory.mktemp("service")
    site = Site(root, root / "cache")
    site.page("index.md", "# Kites\n\n<!-- @video-gen A kite over a hill -->\n")
    running = Service(site)
    yield running
    running.stop()


def test_a_clip_through_the_api_with_progress_events_cached_at_once_and_cancelled(service):
    answer = service.submit("<!-- @video-gen A kite over a hill {steps=12} -->")
    assert answer.status_code == 202, answer.text
    key = answer.json()["key"]
    assert answer.json()["status"] in ("queued", "running") and len(key) == 64
    again = service.submit("<!-- @video-gen A kite over a hill {steps=12} -->")  # the job id is the key
    assert again.json()["key"] == key and again.status_code in (200, 202)
    seen = []
    with service.client.stream("GET", f"/v1/clips/{key}/events") as events:
        assert events.headers["content-type"].startswith("text/event-stream")
        for line in events.iter_lines():
            if line.startswith("data: "):
                seen.append(json.loads(line[6:]))
    assert seen[-1]["status"] == "succeeded" and seen[-1]["steps"] == 12, seen
    assert any(0 < s["step"] < 12 for s in seen if s["status"] == "running") or len(seen) >= 2, seen
    path = Path(seen[-1]["path"])
    assert path.is_file() and ClipCache(service.site.cache_dir).has(key)
    cached = service.submit("<!-- @video-gen A kite over a hill {steps=12} -->")
    assert cached.status_code == 200 and cached.json()["status"] == "succeeded"
    video = service.client.get(f"/v1/clips/{key}/video", headers={"Range": "bytes=0-99"})
    assert video.status_code == 206 and video.content == path.read_bytes()[:100]

    # A long clip: health and progress answer at once while it renders; cancel stops it, keeps nothing.
    slow = service.submit(f"<!-- @video-gen A slow kite {SLOW} -->").json()["key"]
    service.wait(slow, "running")
    times = []
    for _ in range(15):
        started = time.perf_counter()
        assert service.client.get("/v1/health").json()["state"] == "busy"
        times.append(time.perf_counter() - started)
        time.sleep(0.05)
    running = service.wait(slow, "running")
    assert running["queue_position"] == 0
    assert statistics.median(times) < 0.1, times
    assert service.client.post(f"/v1/clips/{slow}/cancel").status_code == 200
    view = service.wait(slow, "canceled", timeout=60)
    assert "nothing was kept" in view["error"] and not ClipCache(service.site.cache_dir).has(slow)
    assert not list((service.site.cache_dir / "clips").glob(f"{slow}*"))


def test_the_docs_batch_script_makes_its_clips_through_the_service(service):
    """The Python script the Local service page gives, run as written against a real service."""
    page = (Path(__file__).parent.parent / "example_site" / "docs" / "service.md").read_text()
    script = page.split("From Python", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    assert ".cache/mkdocs-wan/service.json" in script  # the default cache, where this site's is elsewhere
    script = script.replace(".cache/mkdocs-wan/service.json", str(service.info_path))
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert [line.split(" ", 1)[0] for line in lines] == ["succeeded", "succeeded"], done.stdout
    assert all(Path(line.split(" ", 1)[1]).is_file() for line in lines), done.stdout


def test_a_bad_directive_gets_the_builds_message_and_a_bad_request_one_line(service):
    refused = service.submit("<!-- @video-gen A kite {frames=7} -->", page="guide/x.md", line=12)
    assert refused.status_code == 422
    assert refused.json()["error"].startswith("guide/x.md:12: frames must be 4k+1"), refused.text
    for body in ({"page": "../x.md", "directive": "<!-- @video-gen A -->"}, {"page": "x.md", "directive": 3},
                 {"page": "x.md", "directive": "<!-- @video-gen A --> and more"}, [1, 2]):  # fmt: skip
        answer = service.client.post("/v1/clips", json=body)
        assert answer.status_code in (400, 422) and "error" in answer.json(), body
    assert service.client.get(f"/v1/clips/{'0' * 64}").status_code == 404


def test_the_browser_cannot_drive_it_from_another_site(service):
    mode = stat.S_IMODE(service.info_path.stat().st_mode)
    assert mode == 0o600, oct(mode)
    url, token = service.url, service.token
    bearer = {"Authorization": f"Bearer {token}"}
    port = url.rsplit(":", 1)[1]
    cases = {
        "no token": ({}, 401),
        "wrong token": ({"Authorization": "Bearer " + "x" * len(token)}, 401),
        "foreign Host (DNS rebinding)": ({**bearer, "Host": f"attacker.example:{port}"}, 403),
        "Host without the port": ({**bearer, "Host": "127.0.0.1"}, 403),
        "Origin: null": ({**bearer, "Origin": "null"}, 403),
        "another site's Origin": ({**bearer, "Origin": "http://attacker.example"}, 403),
        "same host, other port": ({**bearer, "Origin": "http://127.0.0.1:1"}, 403),
        "Sec-Fetch-Site: cross-site": ({**bearer, "Sec-Fetch-Site": "cross-site"}, 403),
    }
    for name, (headers, status) in cases.items():
        for method, path in (("GET", "/v1/health"), ("POST", "/v1/clips")):
            answer = httpx.request(method, url + path, headers=headers, json={"page": "index.md", "directive": "x"})
            assert answer.status_code == status, (name, method, answer.status_code, answer.text)
            assert not any(h.lower().startswith("access-control-") for h in answer.headers), name
    assert httpx.get(url + "/v1/health", headers={**bearer, "Origin": url}).status_code == 200

    # The page: ?token= once, then an HttpOnly SameSite=Strict cookie; a POST on the cookie alone
    # (a form another page submits) is refused without the header only the page's script adds.
    with httpx.Client(base_url=url) as browser:
        assert browser.get("/?token=wrong").status_code == 401
        first = browser.get(f"/?token={token}")
        assert first.status_code == 303 and first.headers["location"] == "/"
        cookie = first.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
        page = browser.get("/")
        assert page.status_code == 200 and "default-src 'none'" in page.headers["content-security-policy"]
        assert token not in page.text
        assert browser.post("/v1/clips", json={"page": "index.md", "directive": "x"}).status_code == 403
        answer = browser.post("/v1/clips", json={}, headers={"X-Mkdocs-Wan": "1"})
        assert answer.status_code == 422
    huge = httpx.post(url + "/v1/clips", headers=bearer, content=b"{" + b" " * 100_000 + b"}")
    assert huge.status_code == 413
    assert httpx.post(url + "/v1/clips", headers=bearer, content=b"page=x").status_code == 415


def test_a_restart_fails_the_interrupted_job_and_resumes_the_queued_one(tmp_path):
    site = Site(tmp_path, tmp_path / "cache")
    site.page("index.md", "# Restart\n")
    first = Service(site)
    running = first.submit(f"<!-- @video-gen An interrupted kite {SLOW} -->").json()["key"]
    queued = first.submit("<!-- @video-gen A kite that waits {steps=3} -->").json()["key"]
    first.wait(running, "running")
    assert first.client.get(f"/v1/clips/{queued}").json()["queue_position"] == 1
    first.stop(signal.SIGKILL)  # a crash: nothing is tidied
    second = Service(site)
    try:
        assert second.wait(queued, "succeeded")["steps"] == 3
        interrupted = second.client.get(f"/v1/clips/{running}").json()
        assert interrupted["status"] == "failed" and "interrupted" in interrupted["error"], interrupted
    finally:
        second.stop(signal.SIGTERM)  # as a service manager stops it
    assert not (site.cache_dir / "service.json").exists()  # removed when it stopped: the token with it


def test_a_build_generate_and_serve_make_their_clips_through_the_running_service(tmp_path):
    site = Site(tmp_path, tmp_path / "cache")
    site.page("index.md", "# Build\n\n<!-- @video-gen A boat on a lake -->\n")
    running = Service(site)
    try:
        built = site.build()
        assert built.returncode == 0, built.stderr
        assert "sending missing clips to the mkdocs-wan service" in built.stderr
        assert "1 generated" in built.stderr and "<video" in (site.site_dir / "index.html").read_text()
        site.page("more.md", "# More\n\n<!-- @video-gen A boat at dusk -->\n")
        generated = site.cli("generate")
        assert generated.returncode == 0 and "1 generated" in generated.stdout, generated.stderr
        site.page("served.md", "# Served\n\n<!-- @video-gen A boat in the rain -->\n")
        server = Server(site.root)
        try:
            assert "<video" in server.wait_for("/served/", "<video")
        finally:
            server.proc.send_signal(signal.SIGINT)
            server.proc.wait(30)
        logs = running.output() + built.stderr + generated.stderr + server.output()
        assert logs.count("loaded model") == 1, logs  # one model for build, generate and serve: the service's
        assert running.output().count("service: made ") == 3
        site.options["use_service"] = False  # turned off: this build would load its own
        site.page("last.md", "# Last\n\n<!-- @video-gen A boat at night -->\n")
        alone = site.build()
        assert "sending missing clips" not in alone.stderr and "loaded model" in alone.stderr
    finally:
        running.stop()


def test_odd_bodies_are_one_line_and_a_foreign_or_proxied_service_is_never_used(service, tmp_path, monkeypatch):
    deep = b"[" * 20_000 + b"]" * 20_000
    for path in ("/v1/clips", f"/v1/reviews/{'a' * 64}"):
        answer = service.client.post(path, content=deep, headers={"Content-Type": "application/json"})
        assert answer.status_code == 400 and "nests too deeply" in answer.json()["error"], answer.text
    key = service.submit("<!-- @video-gen A kite for odd bodies {steps=3} -->").json()["key"]  # its own clip
    service.wait(key, "succeeded")
    for body in ({"decision": ["approve"]}, {"decision": {"a": 1}}, {"decision": "approve", "why": "a\u0000b"}):
        answer = service.client.post(f"/v1/reviews/{key}", json=body)
        assert answer.status_code == 422, (body, answer.status_code, answer.text)

    # A service.json naming another machine: prompts never leave this one.
    from mkdocs_wan.render.remote import find_service

    info = service.info
    (tmp_path / "service.json").write_text(json.dumps({**info, "url": "http://192.0.2.2:18081"}))
    assert find_service(tmp_path, Path(info["base_dir"])) is None
    (tmp_path / "service.json").write_text(json.dumps(info))
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")  # a proxy would see the token: never used
    monkeypatch.setenv("no_proxy", "")
    found = find_service(tmp_path, Path(info["base_dir"]))
    assert found is not None and found.call("GET", "/v1/health")[0] == 200


def test_a_queued_job_no_client_asks_about_is_dropped_before_the_gpu(tmp_path):
    site = Site(tmp_path, tmp_path / "cache")
    site.page("index.md", "# Drop\n")
    running = Service(site, "--drop-after", "1")
    try:
        busy = running.submit(f"<!-- @video-gen A kite that keeps the GPU busy {SLOW} -->").json()["key"]
        forgotten = running.submit("<!-- @video-gen A kite nobody waits for {steps=3} -->").json()["key"]
        running.wait(busy, "running")  # asks about the busy one only
        time.sleep(2)
        assert running.client.post(f"/v1/clips/{busy}/cancel").status_code == 200
        running.wait(busy, "canceled")
        time.sleep(1)
        view = running.client.get(f"/v1/clips/{forgotten}").json()
        assert view["status"] == "canceled" and "no client is waiting" in view["error"], view
        assert not ClipCache(site.cache_dir).has(forgotten)  # it never reached the model
        assert f"service: dropped {forgotten[:12]}" in running.output()
    finally:
        running.stop()


def test_connections_that_never_finish_a_request_are_closed(service):
    """Half-open connections (nothing sent, or half a request head) cannot pile up: each is closed
    once its head is late, while whole requests are answered meanwhile."""
    import socket

    from mkdocs_wan.service.slow import HEAD_S

    host, port = service.url.removeprefix("http://").split(":")
    idle = [socket.create_connection((host, int(port))) for _ in range(40)]
    for sock in idle[::2]:
        sock.sendall(f"GET /v1/health HTTP/1.1\r\nHost: {host}:{port}\r\n".encode())  # never the blank line
    assert service.client.get("/v1/health").json()["state"] in ("ready", "busy")
    started = time.monotonic()
    for sock in idle:
        sock.settimeout(HEAD_S + 10)
        assert sock.recv(1024) == b""  # closed by the service, not answered
        sock.close()
    assert HEAD_S - 1 < time.monotonic() - started < HEAD_S + 10
    assert service.client.get("/v1/health").status_code == 200
