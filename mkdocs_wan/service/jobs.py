"""The service's jobs: one queue, one worker thread beside the resident model, kept in the cache.

A job's id is its clip's key, so the same directive sent twice (or by two clients) is one job.
The queue lives in a diskcache index under `<cache_dir>/service/`: after a restart a job that was
running is failed ("interrupted") and queued ones are planned again from what was sent and resume.
A queued job that no client has asked about for `drop_after` seconds (every client gone, the directive
edited away) is dropped before it reaches the GPU. Nothing here imports torch: the renderer is
made in the worker thread, so the HTTP side answers while a clip renders.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from mkdocs_wan.assembly.engine import PageEngine
from mkdocs_wan.assembly.plan import Plan
from mkdocs_wan.assembly.single import state_of
from mkdocs_wan.errors import GenerationCancelled
from mkdocs_wan.logs import log, quoted

DROP_AFTER_S = 120.0  # default: a queued job nobody has asked about for this long is dropped
KEPT = 500  # finished jobs remembered in the index (newest first)
FINAL = ("succeeded", "failed", "canceled", "held", "rejected")


@dataclass
class Job:
    """One clip being made: what was asked for, where it stands."""

    key: str
    plan: Plan
    request: dict[str, Any]  # page, directive or options, line, preset: enough to plan it again
    order: int
    status: str = "queued"
    step: int = 0
    steps: int = 0
    started: float | None = None
    first_step: tuple[float, int] | None = None  # pace is measured from the first step, not the load
    error: str | None = None
    seen: float = field(default_factory=time.monotonic)  # a client last asked about it
    watchers: int = 0  # open event streams
    cancel: bool = False
    version: int = 0

    @property
    def preview(self) -> bool:
        return self.request.get("preset") == "preview"

    def eta(self) -> float | None:
        if self.first_step is None or self.steps == 0:
            return None
        since, done_then = self.first_step
        done = self.step
        if done <= done_then:
            return None
        return round((time.monotonic() - since) / (done - done_then) * (self.steps - done), 1)


class Jobs:
    """The queue and its worker. `replan(request)` plans a stored request again (after a restart)."""

    def __init__(
        self, engine: PageEngine, replan: Callable[[dict[str, Any]], Plan], drop_after: float = DROP_AFTER_S
    ) -> None:
        import diskcache

        self.engine = engine
        self.drop_after = drop_after
        self.cache = engine.cache
        self._store = diskcache.Index(str(engine.cache.root / "service" / "jobs"))
        self._jobs: dict[str, Job] = {}
        self._order = itertools.count(max((v.get("order", 0) for v in self._store.values()), default=0) + 1)
        self._wake = threading.Condition()
        self._stop = threading.Event()
        self.state = "starting"  # starting | ready | busy | failed
        self.problem: str | None = None
        self.device: str | None = None
        self.models: list[str] = []
        self._resume(replan)
        self._thread = threading.Thread(target=self._run, name="mkdocs-wan-service", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _resume(self, replan: Callable[[dict[str, Any]], Plan]) -> None:
        for key, stored in sorted(self._store.items(), key=lambda item: item[1].get("order", 0)):
            status = stored.get("status")
            if status == "running":
                self._store[key] = {**stored, "status": "failed", "error": "interrupted: the service stopped"}
                log.info("service: %s was running when the service stopped: failed (interrupted)", key[:12])
            elif status == "queued":
                try:
                    plan = replan(stored["request"])
                except Exception as err:  # noqa: BLE001 — e.g. the page's picture is gone: that job fails
                    self._store[key] = {**stored, "status": "failed", "error": f"cannot resume: {err}"}
                    continue
                self._jobs[key] = Job(key, plan, stored["request"], next(self._order))
                log.info("service: resumed queued clip %s: %s", key[:12], quoted(plan.title))

    def submit(self, plan: Plan, request: dict[str, Any]) -> Job:
        """Queue the plan's clip, or return the job already making it (its clients: one more)."""
        with self._wake:
            job = self._jobs.get(plan.key)
            if job is not None and job.status not in FINAL:
                job.seen = time.monotonic()
                return job
            job = Job(plan.key, plan, dict(request), next(self._order))
            self._jobs[plan.key] = job
            self._keep(job)
            self._wake.notify()
            return job

    def get(self, key: str) -> Job | None:
        with self._wake:
            job = self._jobs.get(key)
            if job is not None:
                job.seen = time.monotonic()
            return job

    def stored(self, key: str) -> dict[str, Any] | None:
        """What the index remembers of a job from before this start (e.g. failed: interrupted)."""
        value = self._store.get(key)
        return value if isinstance(value, dict) else None

    def cancel(self, key: str) -> bool:
        """Drop a queued job; stop a running one after its current step. False if unknown."""
        with self._wake:
            job = self._jobs.get(key)
            if job is None:
                return False
            if job.status == "queued":
                self._finish(job, "canceled", "canceled before it started")
            elif job.status == "running":
                job.cancel = True
            return True

    def queue(self) -> list[Job]:
        with self._wake:
            return sorted((j for j in self._jobs.values() if j.status in ("queued", "running")), key=lambda j: j.order)

    def recent(self, count: int = 12) -> list[Job]:
        with self._wake:
            done = [j for j in self._jobs.values() if j.status in FINAL]
        return sorted(done, key=lambda j: -j.order)[:count]

    def position(self, job: Job) -> int | None:
        """0 for the running job, 1.. for queued ones, None when finished."""
        if job.status not in ("queued", "running"):
            return None
        return [j.key for j in self.queue()].index(job.key)

    def watch(self, job: Job, delta: int) -> None:
        with self._wake:
            job.watchers += delta
            job.seen = time.monotonic()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop taking jobs and interrupt the one in flight (it stays queued for the next start)."""
        self._stop.set()
        with self._wake:
            self._wake.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout)
        self._store.cache.close()

    # The worker thread --------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            self._load()
        except Exception as err:  # noqa: BLE001 — health says why; the HTTP side keeps answering
            self.state, self.problem = "failed", str(err)
            log.error("service: the model cannot load: %s", err)
            return
        self.state = "ready"
        while not self._stop.is_set():
            job = self._next()
            if job is None:
                continue
            self.state = "busy"
            try:
                self._make(job)
            finally:
                self.state = "ready"

    def _load(self) -> None:
        """Load the site's resident model(s) now, as `mkdocs serve` keeps them."""
        from mkdocs_wan.render import backends

        settings, preview = self.engine.settings, self.engine.preview_settings
        for each in (settings, preview):
            if each is None:
                continue
            if each["backend"] == "local":
                generator = backends.local_generator(each)
                generator.load()
                self.device = self.device or generator._device_name
            else:
                backends.renderer(each)  # the Ray pool: actors load their own copies
                self.device = self.device or "ray"
            self.models.append(each.model.name)
        if self.engine.safety is not None:
            self.engine.safety.load()

    def _next(self) -> Job | None:
        with self._wake:
            while not self._stop.is_set():
                now = time.monotonic()
                for job in sorted(self._jobs.values(), key=lambda j: j.order):
                    if job.status != "queued":
                        continue
                    if job.watchers == 0 and now - job.seen > self.drop_after:
                        self._finish(job, "canceled", "no client is waiting for it any more")
                        log.info("service: dropped %s (no client is waiting): %s", job.key[:12], quoted(job.plan.title))
                        continue
                    job.status, job.started, job.version = "running", time.monotonic(), job.version + 1
                    self._keep(job)
                    return job
                self._wake.wait(timeout=5.0)
            return None

    def _make(self, job: Job) -> None:
        from mkdocs_wan.assembly.jobs import run_plan
        from mkdocs_wan.render import backends

        engine = self.engine
        settings = engine.preview_settings if job.preview and engine.preview_settings else engine.settings

        def on_step(step: int, steps: int, segment: int, segments: int) -> None:
            with self._wake:
                job.step, job.steps = (segment - 1) * steps + step, segments * steps
                if job.first_step is None:
                    job.first_step = (time.monotonic(), job.step)
                job.version += 1

        try:
            renderer = backends.renderer(settings)
            stop = lambda: self._stop.is_set() or job.cancel  # noqa: E731
            run_plan(job.plan, self.cache, renderer, settings.meta, on_step, stop, engine.signer, engine.safety)
        except GenerationCancelled:
            if self._stop.is_set() and not job.cancel:
                return  # the service is stopping: kept as running, so the next start says "interrupted"
            self._finish(job, "canceled", "canceled while it rendered (nothing was kept)")
            log.info("service: canceled %s: %s", job.key[:12], quoted(job.plan.title))
            return
        except Exception as err:  # noqa: BLE001 — a failure is the job's; the service lives on
            message = str(err) if err.__class__.__module__.startswith("mkdocs_wan") else f"{type(err).__name__}: {err}"
            self._finish(job, "failed", message)
            log.warning("service: %s failed: %s", job.key[:12], message)
            return
        state, why = state_of(engine, job.plan)
        self._finish(job, state if state != "missing" else "failed", why)
        log.info("service: made %s (%s): %s", job.key[:12], state, quoted(job.plan.title))

    def _finish(self, job: Job, status: str, error: str | None) -> None:
        with self._wake:
            job.status, job.error, job.version = status, error, job.version + 1
            self._keep(job)

    def _keep(self, job: Job) -> None:
        """Write the job to the index (the worker and the HTTP side both call this, under the lock)."""
        self._store[job.key] = {"request": job.request, "status": job.status, "error": job.error, "order": job.order}
        if len(self._store) > KEPT + 50:
            for key in list(_oldest_finished(self._store))[: len(self._store) - KEPT]:
                self._store.pop(key, None)


def _oldest_finished(store: Any) -> Iterator[str]:
    items = sorted(store.items(), key=lambda item: item[1].get("order", 0))
    return (key for key, value in items if value.get("status") in FINAL)
