"""Every request to the local service passes here first: it is attacked from the user's own browser.

Local model servers have been driven by any web page the user opened (no auth: CSRF), then past
an Origin check with `Origin: null`, then through DNS rebinding. The checks, in order:

1. `Host` must name the address the service is bound to (a rebound domain's Host never does).
2. A request the browser marks as coming from another site is refused: an `Origin` that is not
   this service's own (`null` included) or `Sec-Fetch-Site: cross-site` / `same-site`.
3. A token, new at each start: `Authorization: Bearer TOKEN`; or the page's HttpOnly,
   `SameSite=Strict` cookie, set once from `/?token=TOKEN`. A state-changing request on the
   cookie must also carry `X-Mkdocs-Wan: 1`, which only the page's own script adds.
4. Bodies are JSON of at most `MAX_BODY` bytes.

No CORS headers are ever sent, so no other origin can read an answer.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Awaitable, Callable, MutableMapping
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qs

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

COOKIE = "mkdocs_wan_token"
PAGE_HEADER = b"x-mkdocs-wan"
MAX_BODY = 64 * 1024
LOOPBACK = ("127.0.0.1", "localhost", "[::1]")


class Guard:
    """ASGI middleware: Host, cross-site, token and body checks before any route runs."""

    def __init__(self, app: App, token: str, host: str, port: int) -> None:
        self.app = app
        self.token = token.encode()
        names = LOOPBACK if host in ("127.0.0.1", "::1", "localhost") else (f"[{host}]" if ":" in host else host,)
        self.hosts = {f"{name}:{port}".encode() for name in names}
        self.origins = {b"http://" + name for name in self.hosts}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers: dict[bytes, bytes] = {}
        for name, value in scope["headers"]:
            if name in headers and name in (b"host", b"origin", b"authorization"):
                await _refuse(send, 400, f"more than one {name.decode()} header")
                return
            headers[name] = value
        if headers.get(b"host", b"").lower() not in self.hosts:
            await _refuse(send, 403, "this Host is not the service's address (DNS rebinding?)")
            return
        origin = headers.get(b"origin")
        if origin is not None and origin.lower() not in self.origins:
            await _refuse(send, 403, "cross-site requests are refused")
            return
        if headers.get(b"sec-fetch-site", b"same-origin") in (b"cross-site", b"same-site"):
            await _refuse(send, 403, "cross-site requests are refused")
            return
        method, path = scope["method"], scope["path"]
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        if method == "GET" and path == "/" and "token" in query:  # the printed URL: token → cookie, once
            if not hmac.compare_digest(query["token"][0].encode(), self.token):
                await _refuse(send, 401, "wrong token: use the URL `mkdocs-wan service` printed")
                return
            await _redirect_with_cookie(send, self.token.decode())
            return
        bearer = headers.get(b"authorization", b"")
        by_header = bearer[:7].lower() == b"bearer " and hmac.compare_digest(bearer[7:].strip(), self.token)
        by_cookie = hmac.compare_digest(_cookie(headers.get(b"cookie", b"")), self.token)
        if not (by_header or by_cookie):
            await _refuse(send, 401, "a token is needed: `Authorization: Bearer TOKEN` (see service.json)")
            return
        if method not in ("GET", "HEAD") and not by_header and headers.get(PAGE_HEADER) != b"1":
            await _refuse(send, 403, "a state-changing request from the page needs its X-Mkdocs-Wan header")
            return
        if method in ("POST", "PUT", "PATCH"):
            body = await _read_body(receive)
            if body is None:
                await _refuse(send, 413, f"the body is over {MAX_BODY:,} bytes")
                return
            if body and not headers.get(b"content-type", b"").startswith(b"application/json"):
                await _refuse(send, 415, "send JSON (Content-Type: application/json)")
                return
            receive = _replay(body)
        await self.app(scope, receive, send)


def _cookie(header: bytes) -> bytes:
    try:
        morsel = SimpleCookie(header.decode("latin-1")).get(COOKIE)
    except Exception:  # noqa: BLE001 — a malformed cookie header is just no cookie
        return b""
    return morsel.value.encode() if morsel is not None else b""


async def _read_body(receive: Receive) -> bytes | None:
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return b"".join(chunks)
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replay(body: bytes) -> Receive:
    sent = False

    async def receive() -> MutableMapping[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return {"type": "http.disconnect"}

    return receive


async def _refuse(send: Send, status: int, message: str) -> None:
    body = json.dumps({"error": message}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": [*headers, *_NO_SNIFF]})
    await send({"type": "http.response.body", "body": body})


async def _redirect_with_cookie(send: Send, token: str) -> None:
    cookie = f"{COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/".encode()
    headers = [(b"location", b"/"), (b"set-cookie", cookie), (b"content-length", b"0"), *_NO_SNIFF]
    await send({"type": "http.response.start", "status": 303, "headers": headers})
    await send({"type": "http.response.body", "body": b""})


_NO_SNIFF = [(b"x-content-type-options", b"nosniff"), (b"cache-control", b"no-store")]
