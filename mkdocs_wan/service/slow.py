"""Connections that never finish a request are closed, so they cannot hold the service's sockets.

Uvicorn closes a connection that sits idle after a response (`timeout_keep_alive`), but one that
opens and then sends nothing, or half a request head, stays open for ever: a few thousand of them
from any local process (another user's, too: the port is open to every user of the machine)
exhaust the service's file descriptors ("slowloris"). This HTTP protocol gives each connection
`HEAD_S` from its opening, and from each finished response, to send a whole request head.
"""

from __future__ import annotations

import asyncio
import contextlib
import resource

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

HEAD_S = 10.0


class HeadDeadline(H11Protocol):
    """Uvicorn's h11 protocol, closing a connection whose request head is late."""

    _deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
        super().connection_lost(exc)

    def _arm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
        self._deadline = self.loop.call_later(HEAD_S, self._late)

    def _late(self) -> None:
        self._deadline = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():  # no whole head yet
            self.transport.close()


def more_descriptors() -> None:
    """Raise the soft limit on open files to the hard one (often 1,024 of 1,048,576)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and (hard == resource.RLIM_INFINITY or soft < hard):
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
