"""The service's HTTP API (Starlette): clips as jobs keyed by their clip key, progress, reviews.

Routes never wait for the GPU: they read the job table and the cache, and the worker thread
(`jobs.Jobs`) does the rendering. Every request has passed `guard.Guard` before it gets here.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path, PurePosixPath
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from mkdocs_wan import __version__
from mkdocs_wan.assembly.engine import PageEngine
from mkdocs_wan.assembly.plan import Plan
from mkdocs_wan.assembly.single import Refused, plan_directive, state_of
from mkdocs_wan.service import page
from mkdocs_wan.service.jobs import DROP_AFTER_S, FINAL, Job, Jobs
from mkdocs_wan.store.cache import is_key

MAX_TEXT = 20_000  # a directive's text, as sent


class Service:
    """The site, its engine and its jobs: what every route reads."""

    def __init__(self, engine: PageEngine, drop_after: float = DROP_AFTER_S) -> None:
        self.engine = engine
        self._reviews_stamp: tuple[int, int] | None = None
        self.jobs = Jobs(engine, self.replan, drop_after)

    def replan(self, request: dict[str, Any]) -> Plan:
        """Plan a request body as the build would (also for jobs resumed after a restart)."""
        where = request.get("page")
        if not isinstance(where, str) or not _page_ok(where):
            raise Refused("`page` must be a Markdown file's path inside docs_dir, like guide/x.md")
        directive, options = request.get("directive"), request.get("options")
        if options is not None and not isinstance(options, dict):
            raise Refused(f"{where}:1: `options` must be an object of directive options")
        if options is None and (not isinstance(directive, str) or len(directive) > MAX_TEXT):
            raise Refused(f"{where}:1: send `directive` (the comment or fence, at most {MAX_TEXT:,} characters)")
        line = request.get("line", 1)
        if not isinstance(line, int) or isinstance(line, bool) or not 1 <= line <= 10_000_000:
            raise Refused(f"{where}:1: `line` must be the directive's line number (1 or more)")
        preset = request.get("preset", "final")
        if preset not in ("final", "preview"):
            raise Refused(f"{where}:{line}: `preset` must be 'final' or 'preview'")
        self.fresh_reviews()
        return plan_directive(self.engine, where, directive, options, line, preview=preset == "preview")

    def fresh_reviews(self) -> None:
        """Decisions written meanwhile (`mkdocs-wan approve` in a terminal) count at once."""
        try:
            stat = self.engine.settings.review_path.stat()
            stamp = (stat.st_mtime_ns, stat.st_size)
        except OSError:
            stamp = None
        if stamp != self._reviews_stamp:
            self._reviews_stamp = stamp
            self.engine.build.reviews = None

    def view(self, key: str, job: Job | None) -> dict[str, Any] | None:
        """A clip's state as the API shows it; None when neither a job nor the cache knows it."""
        cache = self.engine.cache
        self.fresh_reviews()
        if job is None:
            record = cache.record(key) if is_key(key) else None
            stored = self.jobs.stored(key) if is_key(key) else None
            if record is None and stored is None:
                return None
            if cache.has(key):
                status, error = self._judged(key, record or {})
            else:
                status, error = (stored or {}).get("status", "failed"), (stored or {}).get("error")
                if status not in ("failed", "canceled"):
                    status, error = "failed", error or "the clip is not in the cache"
            return self._shape(key, status, None, 0, 0, None, error)
        status, error = job.status, job.error
        if status in ("succeeded", "held", "rejected"):  # a decision may have changed since
            state, why = state_of(self.engine, job.plan)
            status, error = (state, why) if state != "missing" else ("failed", "the clip left the cache")
        return self._shape(key, status, self.jobs.position(job), job.step, job.steps, job.eta(), error, job)

    def _judged(self, key: str, record: dict[str, Any]) -> tuple[str, str | None]:
        from mkdocs_wan.store.reviews import flags_of

        decision = self.engine.reviews.get(key)
        if decision is not None:
            return ("succeeded", None) if decision.decision == "approved" else ("rejected", decision.why or None)
        flags = flags_of(record) if self.engine.settings["review"] else []
        return ("held", "; ".join(flags)) if flags else ("succeeded", None)

    def _shape(
        self, key: str, status: str, position: int | None, step: int, steps: int, eta: float | None,
        error: str | None, job: Job | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        cache = self.engine.cache
        done = status in ("succeeded", "held", "rejected")
        record = cache.record(key) if done else None
        return {
            "key": key,
            "status": status,
            "queue_position": position,
            "step": step,
            "steps": steps,
            "eta_s": eta,
            "error": error,
            "path": str(cache.path(key)) if done else None,
            "poster_path": str(cache.poster_path(key)) if done and cache.poster_path(key).is_file() else None,
            "record": _public(record),
            "title": job.plan.title if job is not None else (record or {}).get("title"),
            "preset": job.request.get("preset", "final") if job is not None else None,
        }


def build_app(service: Service) -> Starlette:
    """The API and the page, as one Starlette app (wrapped in `Guard` by the command)."""
    jobs = service.jobs

    async def submit(request: Request) -> Response:
        body = await _json_object(request)
        if isinstance(body, Response):
            return body
        try:
            plan = service.replan(body)
        except Refused as err:
            return _error(422, str(err))
        view = service.view(plan.key, None) if service.engine.cache.has(plan.key) else None
        if view is not None:
            return JSONResponse(view, 200)
        job = jobs.submit(plan, {k: body[k] for k in ("page", "directive", "options", "line", "preset") if k in body})
        return JSONResponse(service.view(plan.key, job), 202)

    def find(request: Request) -> tuple[str, dict[str, Any] | None]:
        key = request.path_params["key"]
        return key, service.view(key, jobs.get(key)) if is_key(key) else None

    async def status(request: Request) -> Response:
        key, view = find(request)
        return JSONResponse(view) if view is not None else _error(404, f"no clip or job {key[:64]!r}")

    async def events(request: Request) -> Response:
        from sse_starlette.sse import EventSourceResponse

        key, view = find(request)
        if view is None:
            return _error(404, f"no clip or job {key[:64]!r}")
        job = jobs.get(key)

        async def stream() -> Any:
            if job is not None:
                jobs.watch(job, +1)
            try:
                last = None
                while True:
                    now = service.view(key, jobs.get(key))
                    if now != last:
                        yield {"event": "status", "data": json.dumps(now)}
                        last = now
                    if now is None or now["status"] in FINAL:
                        return
                    await asyncio.sleep(0.2)
            finally:
                if job is not None:
                    jobs.watch(job, -1)

        return EventSourceResponse(stream(), ping=15, send_timeout=30)

    async def cancel(request: Request) -> Response:
        key = request.path_params["key"]
        if not is_key(key) or not jobs.cancel(key):
            return _error(404, f"no job {key[:64]!r}")
        return JSONResponse(service.view(key, jobs.get(key)))

    def clip_file(suffix: str, media: str) -> Any:
        async def serve(request: Request) -> Response:
            key = request.path_params["key"]
            view = service.view(key, jobs.get(key)) if is_key(key) else None
            cache = service.engine.cache
            path = cache.path(key) if suffix == "mp4" else cache.poster_path(key)
            if view is None or view["status"] not in ("succeeded", "held") or not path.is_file():
                return _error(404, f"no clip {key[:64]!r} to show")
            return FileResponse(path, media_type=media, headers={"cache-control": "no-store"})

        return serve

    async def health(request: Request) -> Response:
        total, free = _vram()
        return JSONResponse({
            "state": jobs.state, "error": jobs.problem, "models": jobs.models, "device": jobs.device,
            "vram_total": total, "vram_free": free, "queue_length": len(jobs.queue()), "version": __version__,
        })  # fmt: skip

    async def queue(request: Request) -> Response:
        running = [service.view(job.key, job) for job in jobs.queue()]
        recent = [service.view(job.key, job) for job in jobs.recent()]
        return JSONResponse({"jobs": running, "recent": recent})

    async def held(request: Request) -> Response:
        return JSONResponse({"held": _held(service)})

    async def review(request: Request) -> Response:
        from mkdocs_wan.assembly.review import reviewer
        from mkdocs_wan.store.reviews import record_decision

        key = request.path_params["key"]
        body = await _json_object(request)
        if isinstance(body, Response):
            return body
        asked = body.get("decision")
        decision = {"approve": "approved", "reject": "rejected"}.get(asked) if isinstance(asked, str) else None
        why = body.get("why", "")
        if decision is None or not isinstance(why, str) or len(why) > 2000 or not is_key(key):
            return _error(422, "send {decision: approve|reject, why: text} for a clip's full key")
        if not service.engine.cache.has(key):
            return _error(404, f"no clip {key[:12]} in the cache")
        by = body.get("by") if isinstance(body.get("by"), str) and body["by"].strip() else reviewer()
        settings, cache = service.engine.settings, service.engine.cache
        title = str((cache.record(key) or {}).get("title") or "")
        try:
            record_decision(
                settings.review_path, key, decision, by[:200], why, title, lock=cache.layout.locks / "reviews.lock"
            )
        except OSError as err:
            return _error(500, f"cannot write {settings.review_path.name}: {err.strerror or err}")
        except ValueError as err:  # the text of `why` or `by` (NUL, control or bidi characters)
            return _error(422, str(err))
        from mkdocs_wan.store.layout import touch

        if cache.layout.reload_sentinel.is_file():
            touch(cache.layout.reload_sentinel)  # a running `mkdocs serve` shows the decision
        return JSONResponse(service.view(key, jobs.get(key)))

    routes = [
        Route("/", lambda r: page.index(), methods=["GET"]),
        Route("/app.js", lambda r: page.script(), methods=["GET"]),
        Route("/app.css", lambda r: page.style(), methods=["GET"]),
        Route("/v1/health", health, methods=["GET"]),
        Route("/v1/queue", queue, methods=["GET"]),
        Route("/v1/held", held, methods=["GET"]),
        Route("/v1/clips", submit, methods=["POST"]),
        Route("/v1/clips/{key}", status, methods=["GET"]),
        Route("/v1/clips/{key}/events", events, methods=["GET"]),
        Route("/v1/clips/{key}/cancel", cancel, methods=["POST"]),
        Route("/v1/clips/{key}/video", clip_file("mp4", "video/mp4"), methods=["GET"]),
        Route("/v1/clips/{key}/poster", clip_file("jpg", "image/jpeg"), methods=["GET"]),
        Route("/v1/reviews/{key}", review, methods=["POST"]),
    ]
    return Starlette(routes=routes)


def _held(service: Service) -> list[dict[str, Any]]:
    """Clips in the cache that review keeps off the pages and nobody has decided on yet."""
    from mkdocs_wan.store.reviews import flags_of

    engine = service.engine
    service.fresh_reviews()
    if not engine.settings["review"]:
        return []
    found = []
    for key in engine.cache.clip_keys():
        record = engine.cache.record(key) or {}
        flags = flags_of(record)
        if flags and key not in engine.reviews:
            found.append({"key": key, "title": record.get("title") or (record.get("spec") or {}).get("prompt"),
                          "reasons": flags, "record": _public(record)})  # fmt: skip
    return found


def _public(record: dict[str, Any] | None) -> dict[str, Any] | None:
    """What the API shows of a record: its facts and verdicts, no local paths."""
    if record is None:
        return None
    shown = ("sha256", "bytes", "frames", "width", "height", "fps", "model", "title", "quality", "safety", "created")
    return {name: record[name] for name in shown if name in record}


def _page_ok(where: str) -> bool:
    path = PurePosixPath(where)
    return (
        0 < len(where) <= 500 and not path.is_absolute() and ".." not in path.parts and "\\" not in where
        and not any(ord(c) < 32 for c in where) and path.suffix.lower() in (".md", ".markdown")
    )  # fmt: skip


def _vram() -> tuple[int | None, int | None]:
    """GPU memory, only if the worker already imported torch (the HTTP side never imports it)."""
    import sys

    cuda = getattr(sys.modules.get("torch"), "cuda", None)  # None while the worker is still importing it
    try:
        if cuda is None or not cuda.is_available():
            return None, None
        free, total = cuda.mem_get_info()
    except Exception:  # noqa: BLE001 — health answers even when the driver does not
        return None, None
    return int(total), int(free)


async def _json_object(request: Request) -> dict[str, Any] | Response:
    """The request's JSON object, or the 400 that says why there is none."""
    try:
        body = json.loads(await request.body() or b"{}")
    except (ValueError, RecursionError):
        return _error(400, "the body is not JSON (or nests too deeply)")
    return body if isinstance(body, dict) else _error(400, "the body must be a JSON object")


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status)


def write_info(path: Path, info: dict[str, Any]) -> None:
    """`service.json`: url, token, pid and site, created private (0600) before anything is written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump({**info, "started": time.time()}, out, indent=1)
