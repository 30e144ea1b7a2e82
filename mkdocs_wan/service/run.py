"""`mkdocs-wan service`: load the site, write `service.json`, serve the API until Ctrl-C.

The token is new at each start and lives only in `<cache_dir>/service.json` (0600) and the URL
printed once; the file is removed when the service stops. Uvicorn serves on a socket bound here,
so `--port 0` picks a free port and the file names the real one.
"""

from __future__ import annotations

import ipaddress
import json
import os
import secrets
import signal
import socket
import sys
from pathlib import Path

from mkdocs_wan import __version__
from mkdocs_wan.assembly.engine import PageEngine
from mkdocs_wan.logs import log
from mkdocs_wan.render.remote import INFO_FILE, find_service

LOOPBACK = "127.0.0.1"


class ServiceError(RuntimeError):
    """The service cannot start; the message says why and what to do."""


def serve(
    engine: PageEngine, config_file: Path, site_name: str, host: str = LOOPBACK, port: int = 8765,
    drop_after: float = 120.0,
) -> None:  # fmt: skip
    """Run the service for the site whose page engine is `engine` (blocks until stopped)."""
    import uvicorn

    from mkdocs_wan.service.app import Service, build_app, write_info
    from mkdocs_wan.service.guard import Guard
    from mkdocs_wan.service.slow import HeadDeadline, more_descriptors

    base_dir = engine.settings.base_dir
    info_path = engine.cache.root / INFO_FILE
    running = find_service(engine.cache.root, base_dir)
    if running is not None:
        raise ServiceError(f"a service already runs for this site: {running.url} (pid {running.pid}); stop it first")
    sock = _bind(host, port)
    bound = sock.getsockname()[1]
    token = secrets.token_urlsafe(32)
    shown_host = f"[{host}]" if ":" in host else host
    url = f"http://{shown_host}:{bound}"
    if not _loopback(host):
        log.warning(
            "service: listening on %s, beyond this machine: the token is the only protection; put TLS in front", host
        )
    service = Service(engine, drop_after)
    app = Guard(build_app(service), token, host, bound)
    info = {"url": url, "token": token, "pid": os.getpid(), "base_dir": str(base_dir.resolve()),
            "config_file": str(config_file.resolve()), "version": __version__}  # fmt: skip
    write_info(info_path, info)
    log.info("service: %s at %s/?token=%s (the token is also in %s)", site_name, url, token, info_path)
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            log_level="warning",
            lifespan="off",
            timeout_graceful_shutdown=2,
            access_log=False,
            limit_concurrency=256,
            timeout_keep_alive=5,
            http=HeadDeadline,  # a connection that never sends a whole request is closed
        )
    )
    more_descriptors()
    service.jobs.start()
    # Uvicorn handles SIGTERM while it serves, then raises it again: let that end in `finally`,
    # so service.json (and its token) never outlives the service.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    try:
        server.run(sockets=[sock])
    finally:
        service.jobs.stop()
        _remove_info(info_path, token)
        engine.cache.close()
        log.info("service: stopped")


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as err:
        sock.close()
        raise ServiceError(f"cannot listen on {host}:{port}: {err.strerror or err}; give another --port") from None
    sock.listen(128)
    return sock


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _remove_info(path: Path, token: str) -> None:
    """Remove service.json if it is still ours (a newer service may have replaced it)."""
    try:
        if json.loads(path.read_text()).get("token") == token:
            path.unlink()
    except (OSError, ValueError):
        pass
