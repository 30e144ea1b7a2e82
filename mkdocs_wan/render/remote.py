"""Clips made by a running `mkdocs-wan service` for the same site, instead of a model loaded here.

One GPU, one resident model: `mkdocs build`, `mkdocs serve` and `mkdocs-wan generate` find the
service through `<cache_dir>/service.json` (written by the service, 0600: it holds the token),
send each missing clip's directive options with its page, and wait for it with the same progress
lines a local build prints. The service plans each directive itself from the same mkdocs.yml, so
a key it answers with that differs from ours means another configuration: that clip fails here
rather than publishing something else. Standard library only (no HTTP client import).
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mkdocs_wan.errors import GenerationError
from mkdocs_wan.logs import log
from mkdocs_wan.render.progress import ClipProgress
from mkdocs_wan.store.cache import process_alive

INFO_FILE = "service.json"
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback only: no http_proxy
_LOOPBACK = ("127.0.0.1", "localhost", "::1")


@dataclass(frozen=True)
class RemoteService:
    """A running service for this site: where it listens and the token it wants."""

    url: str
    token: str
    pid: int

    def call(self, method: str, path: str, body: Any = None, timeout: float = 10.0) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"{self.url}{path}", data=data, method=method)
        request.add_header("Authorization", f"Bearer {self.token}")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with _DIRECT.open(request, timeout=timeout) as response:  # never through a proxy: it would see the token
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as err:
            try:
                return err.code, json.loads(err.read() or b"null")
            except ValueError:
                return err.code, None

    def make(
        self,
        missing: Mapping[str, Any],
        sources: Mapping[str, tuple[str, Mapping[str, Any], str]],
        should_stop: Callable[[], bool] | None = None,
        preset: str = "final",
    ) -> tuple[set[str], dict[str, GenerationError]]:
        """Send every missing clip (key -> plan), then wait for each: (keys made, failures)."""
        made: set[str] = set()
        failures: dict[str, GenerationError] = {}
        sent: list[tuple[str, Any]] = []
        for key, plan in missing.items():
            source = sources.get(key)
            if source is None:
                failures[key] = GenerationError("the service was not sent this clip (no directive recorded)")
                continue
            _kind, options, page = source
            status, answer = self.call("POST", "/v1/clips", {"page": page, "options": dict(options), "preset": preset})
            if status not in (200, 202) or not isinstance(answer, dict):
                error = (answer or {}).get("error") if isinstance(answer, dict) else None
                failures[key] = GenerationError(f"the service refused the clip ({status}): {error or 'no reason'}")
            elif answer.get("key") != key:
                failures[key] = GenerationError(
                    "the service planned another clip for this directive: it runs another mkdocs.yml or version"
                )
            else:
                sent.append((key, plan))
        for number, (key, plan) in enumerate(sent, 1):
            lines = ClipProgress(f"clip {number}/{len(sent)} (by the service)", plan.title)
            lines.start()
            outcome = self._wait(key, lines, should_stop)
            if outcome is None:
                made.add(key)
                lines.done()
            else:
                failures[key] = GenerationError(outcome)
        return made, failures

    def _wait(self, key: str, lines: ClipProgress, should_stop: Callable[[], bool] | None) -> str | None:
        """Poll the job until it ends; None when the clip is in the cache (held ones too: judged here)."""
        while True:
            try:
                status, answer = self.call("GET", f"/v1/clips/{key}")
            except OSError as err:
                return f"the service stopped answering: {err}"
            if status != 200 or not isinstance(answer, dict):
                return f"the service lost the job ({status})"
            state = answer.get("status")
            if state in ("succeeded", "held", "rejected"):
                return None
            if state in ("failed", "canceled"):
                return f"{state} in the service: {answer.get('error') or 'no reason given'}"
            if answer.get("steps"):
                lines.step(int(answer.get("step") or 0), int(answer["steps"]))
            if should_stop is not None and should_stop():
                self.call("POST", f"/v1/clips/{key}/cancel")
                return "canceled"
            time.sleep(0.25)


def find_service(cache_root: Path, base_dir: Path) -> RemoteService | None:
    """The service running for this site (its cache and its mkdocs.yml's folder), if one answers."""
    path = cache_root / INFO_FILE
    try:
        info = json.loads(path.read_text())
        url, token, pid = str(info["url"]), str(info["token"]), int(info["pid"])
        site = str(info["base_dir"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if Path(site) != base_dir.resolve():
        return None  # another site sharing the cache: its service plans with another mkdocs.yml
    if pid == os.getpid() or not process_alive(pid) or not url.startswith("http://"):
        return None
    if urllib.parse.urlsplit(url).hostname not in _LOOPBACK:  # prompts never leave the machine
        log.warning("%s names a service at %s, not on this machine's loopback: not using it", path, url[:100])
        return None
    service = RemoteService(url.rstrip("/"), token, pid)
    try:
        status, health = service.call("GET", "/v1/health", timeout=3.0)
    except OSError:
        return None
    if status != 200 or not isinstance(health, dict) or health.get("state") == "failed":
        return None
    log.info("sending missing clips to the mkdocs-wan service at %s (pid %d)", service.url, pid)
    return service
