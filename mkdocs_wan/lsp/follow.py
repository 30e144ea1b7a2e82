"""The clips this editor sent to the local service, followed until they settle.

Editors ask for CodeLens only when a buffer changes, so a lens that says `step 3/8 · Cancel` would
never move on its own. One task on the server's event loop polls the service (twice a second, and
only while a followed clip is queued or running), keeps its latest view of each clip, and when one
changes tells the client: `workspace/codeLens/refresh` (the lenses are asked for again) and a
`mkdocs-wan/progress` notification with every followed clip (the VS Code status bar shows it).
Lens requests read the kept view and never wait on HTTP.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pygls.lsp.server import LanguageServer

    from mkdocs_wan.render.remote import RemoteService

log = logging.getLogger("mkdocs_wan.lsp")
ACTIVE = ("queued", "running")
POLL_S = 0.5
FIELDS = ("key", "status", "step", "steps", "queue_position", "eta_s", "error", "title")


class Follower:
    """The service's latest view of each clip this editor asked for, kept fresh while it works."""

    def __init__(self, server: LanguageServer, settled: Callable[[set[str]], None]) -> None:
        self.server = server
        self.settled = settled  # told the uris whose clip left queued/running (their analysis is stale)
        self.views: dict[str, dict[str, Any]] = {}
        self._where: dict[str, tuple[RemoteService, set[str]]] = {}  # key -> its service, the uris showing it
        self._task: asyncio.Task[None] | None = None

    def view(self, key: str) -> dict[str, Any] | None:
        return self.views.get(key)

    def track(self, key: str, uri: str, service: RemoteService, answer: dict[str, Any], title: str = "") -> None:
        """Follow clip `key` (just sent from `uri`) until it settles."""
        self.views[key] = {name: answer.get(name) for name in FIELDS} | {"key": key, "title": title}
        _service, uris = self._where.get(key, (service, set()))
        self._where[key] = (service, uris | {uri})
        self._changed()
        if answer.get("status") in ACTIVE and (self._task is None or self._task.done()):
            self._task = asyncio.get_running_loop().create_task(self._poll())

    def following(self) -> list[dict[str, Any]]:
        """Every followed clip, the active ones first (what the status bar shows)."""
        return sorted(self.views.values(), key=lambda view: view.get("status") not in ACTIVE)

    async def _poll(self) -> None:
        loop = asyncio.get_running_loop()
        while any(view.get("status") in ACTIVE for view in self.views.values()):
            await asyncio.sleep(POLL_S)
            changed, settled = False, set()
            for key, view in list(self.views.items()):
                if view.get("status") not in ACTIVE:
                    continue
                service, uris = self._where[key]
                try:
                    _code, answer = await loop.run_in_executor(None, service.call, "GET", f"/v1/clips/{key}", None, 2.0)
                except OSError as err:  # the service went away: say so once, stop following
                    answer = {"status": "failed", "error": f"the local service stopped answering ({err})"}
                if not isinstance(answer, dict) or not answer.get("status"):
                    continue
                fresh = view | {name: answer.get(name) for name in FIELDS if name not in ("key", "title")}
                if fresh != view:
                    self.views[key], changed = fresh, True
                    if fresh["status"] not in ACTIVE:
                        settled |= uris
            if settled:
                self.settled(settled)
            if changed:
                self._changed()

    def _changed(self) -> None:
        """Tell the client: lenses are stale, and here is every followed clip."""
        try:
            self.server.protocol.notify("mkdocs-wan/progress", {"clips": self.following()})
        except Exception:  # a client gone mid-notification must not kill the poller
            log.exception("mkdocs-wan: telling the editor about progress failed")
        self.refresh_lenses()

    def refresh_lenses(self) -> None:
        """Have the client ask for the lenses again (where it can be asked to)."""
        try:
            capabilities = self.server.client_capabilities.workspace
            lens = capabilities.code_lens if capabilities is not None else None
            if lens is not None and lens.refresh_support:
                self.server.workspace_code_lens_refresh(None)
        except Exception:  # a client gone meanwhile must not kill the caller
            log.exception("mkdocs-wan: asking the editor to refresh its lenses failed")
