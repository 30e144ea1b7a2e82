"""`mkdocs serve`: one background thread that generates clips, and the wiring around it.

MkDocs blocks every page request while a rebuild runs, so serve builds only queue missing clips
and render placeholders; the worker makes the clips one at a time (one GPU, one resident model)
and touches a watched sentinel when each lands, which makes the live server rebuild and reload.
`ServeSession` holds what lives across rebuilds: the worker, the sentinel, which clips each page
references, and the pages whose output must be re-rendered under `--dirty`.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mkdocs.livereload import LiveReloadServer
    from mkdocs.structure.files import Files

    from mkdocs_wan.assembly.engine import Defer
    from mkdocs_wan.media.credentials import Signer, Trust
    from mkdocs_wan.render.remote import RemoteService
    from mkdocs_wan.render.safety import SafetyCheck


from mkdocs_wan.assembly.jobs import run_plan
from mkdocs_wan.assembly.plan import Plan
from mkdocs_wan.errors import GenerationCancelled
from mkdocs_wan.logs import log, quoted
from mkdocs_wan.render.backends import Renderer
from mkdocs_wan.render.progress import ClipProgress
from mkdocs_wan.store.cache import ClipCache
from mkdocs_wan.store.layout import touch


@dataclass(frozen=True)
class Remote:
    """How to send a clip to a running `mkdocs-wan service`: find it (None: none runs), and what
    to send (the directive's kind, options and page; the preset)."""

    find: Callable[[], RemoteService | None]
    source: tuple[str, Mapping[str, Any], str]
    preset: str


@dataclass(order=True)
class _Job:
    priority: tuple[float, int]  # (page mtime, submission order): newest edit first
    key: str = field(compare=False)
    plan: Plan = field(compare=False)
    renderer: Callable[[], Renderer] = field(compare=False)  # called in the worker thread
    meta: dict[str, Any] = field(compare=False)
    where: str = field(compare=False)
    fetch_from: tuple[str, ...] = field(default=(), compare=False)  # sites to try before generating
    sign: Signer | None = field(default=None, compare=False)  # Content Credentials
    check: SafetyCheck | None = field(default=None, compare=False)  # `safety_model`
    trust: Callable[[], Trust | None] | None = field(default=None, compare=False)  # whose fetched clips to take
    remote: Remote | None = field(default=None, compare=False)  # a running `mkdocs-wan service` makes it
    what: str = field(default="clip", compare=False)  # "clip" or "preview": what the log lines say


class ClipWorker:
    """Generate queued clips in the background; remember failures until their page changes."""

    def __init__(self, cache: Callable[[], ClipCache], on_done: Callable[[], None]) -> None:
        self._cache = cache
        self._on_done = on_done
        self._jobs: dict[str, _Job] = {}
        self._failures: dict[str, tuple[str, float]] = {}  # key -> (message, when)
        self._running: str | None = None
        self._unwanted = False  # the clip in flight is no longer on any page: stop it
        self._order = itertools.count()
        self._wake = threading.Condition()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="mkdocs-wan-worker", daemon=True)
        self._thread.start()

    def submit(
        self,
        plan: Plan,
        renderer: Callable[[], Renderer],
        meta: dict[str, Any],
        page_mtime: float,
        where: str,
        fetch_from: Sequence[str] = (),
        sign: Signer | None = None,
        check: SafetyCheck | None = None,
        trust: Callable[[], Trust | None] | None = None,
        remote: Remote | None = None,
        what: str = "clip",
    ) -> None:
        """Queue a clip (or raise its priority if already queued); `renderer` is called when it runs,
        so connecting to a Ray cluster never blocks a page request; so is `trust`."""
        key = plan.key
        with self._wake:
            if key == self._running:
                return
            job = self._jobs.get(key)
            priority = (page_mtime, -next(self._order))
            if job is None or priority > job.priority:
                fetch = tuple(fetch_from)
                job = _Job(priority, key, plan, renderer, meta, where, fetch, sign, check, trust, remote, what)
                self._jobs[key] = job
            self._wake.notify()

    def failure(self, key: str, page_mtime: float) -> str | None:
        """The failure message for `key`, unless its page was edited since (then retry)."""
        with self._wake:
            failed = self._failures.get(key)
            if failed and failed[1] < page_mtime:
                del self._failures[key]
                return None
            return failed[0] if failed else None

    def retain(self, keys: Iterable[str]) -> None:
        """Drop queued jobs that no page references any more, and stop the one in flight if no
        page wants it either (a prompt edited again while its clip renders): no GPU time is spent
        on a clip nobody will see, and each one dropped is said once."""
        wanted = set(keys)
        with self._wake:
            for key in [k for k in self._jobs if k not in wanted]:
                job = self._jobs.pop(key)
                log.info("dropped queued clip for %s (no page uses it any more): %s", job.where, quoted(job.plan.title))
            if self._running is not None and self._running not in wanted and not self._unwanted:
                self._unwanted = True
                log.info("stopping the clip in flight: no page uses it any more")

    @property
    def running(self) -> str | None:
        """The key of the clip being generated now, if any."""
        with self._wake:
            return self._running

    @property
    def busy(self) -> bool:
        with self._wake:
            return bool(self._jobs) or self._running is not None

    def stop(self, timeout: float = 30.0) -> None:
        """Cancel the queue, interrupt the clip in flight (nothing half-written is kept), join."""
        self._stop.set()
        with self._wake:
            self._jobs.clear()
            self._wake.notify()
        self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            with self._wake:
                while not self._jobs and not self._stop.is_set():
                    self._wake.wait()
                if self._stop.is_set():
                    return
                job = max(self._jobs.values())
                del self._jobs[job.key]
                self._running, self._unwanted = job.key, False
            try:
                self._make(job)
            finally:
                with self._wake:
                    self._running = None
            if not self._stop.is_set():
                try:
                    self._on_done()
                except Exception as err:  # noqa: BLE001 — the worker outlives any signalling failure
                    log.warning("a clip landed but the live server could not be told: %s", err)

    def _make(self, job: _Job) -> None:
        cache = self._cache()
        started = time.perf_counter()
        if job.fetch_from and self._fetch(job, cache):
            return
        stop = lambda: self._stop.is_set() or self._unwanted  # noqa: E731
        service = job.remote.find() if job.remote is not None else None
        if service is not None and job.remote is not None:  # one resident model: the service's
            _made, failures = service.make({job.key: job.plan}, {job.key: job.remote.source}, stop, job.remote.preset)
            for message in (str(err) for err in failures.values()):
                log.warning("%s: generation failed: %s", job.where, message)
                with self._wake:
                    self._failures[job.key] = (message, time.time())
            return
        lines = ClipProgress(f"{job.what} for {job.where}", job.plan.title)
        lines.start()
        try:
            run_plan(job.plan, cache, job.renderer(), job.meta, lines.step, stop, job.sign, job.check)
        except GenerationCancelled:
            log.info("cancelled %s for %s (nothing kept): %s", job.what, job.where, quoted(job.plan.title))
            return
        except Exception as err:  # noqa: BLE001 — a failure is shown in the page; the server lives on
            message = str(err) if err.__class__.__module__.startswith("mkdocs_wan") else f"{type(err).__name__}: {err}"
            log.warning("%s: generation failed: %s", job.where, message)
            with self._wake:
                self._failures[job.key] = (message, time.time())
            return
        log.info(
            "generated %s for %s in %.1f s: %s",
            job.what,
            job.where,
            time.perf_counter() - started,
            quoted(job.plan.title),
        )

    def _fetch(self, job: _Job, cache: ClipCache) -> bool:
        """Try the `fetch_from` sites first (one job at a time, so a fresh fetcher per clip)."""
        from mkdocs_wan.assembly.fetch import Fetcher

        fetcher = None
        try:
            fetcher = Fetcher(job.fetch_from, job.trust() if job.trust is not None else None)
            return fetcher.fetch(job.plan, cache, job.meta) is not None
        except Exception as err:  # noqa: BLE001 — fall back to generating; the server lives on
            log.warning("%s: fetching failed: %s", job.where, err)
            return False
        finally:
            if fetcher is not None:
                fetcher.close()


class ServeSession:
    """Serve's state across rebuilds: queue missing clips, reload the browser when one lands."""

    def __init__(self, cache: Callable[[], ClipCache]) -> None:
        self.worker = ClipWorker(cache, self._reload)
        self.server: LiveReloadServer | None = None
        self.sentinel: Path | None = None
        self.page_keys: dict[str, set[str]] = {}  # page -> clip keys it references
        self.pending_pages: set[str] = set()  # pages showing a placeholder
        self._warned = False

    def configure(self, sentinel: Path) -> None:
        """Called on every config load; the watched path must exist before the server starts
        (touching it on every load would rebuild forever)."""
        self.sentinel = sentinel
        if not sentinel.exists():
            self._touch()

    def watch(self, server: LiveReloadServer) -> None:
        self.server = server
        if self.sentinel is not None and self.sentinel.parent.is_dir():
            server.watch(str(self.sentinel.parent))

    def forget_pending(self, files: Files) -> None:
        """Under `serve --dirty` only pages whose source changed are re-rendered; deleting the
        output of pages that showed a placeholder makes MkDocs render them again."""
        for src_uri in self.pending_pages:
            page_file = files.get_file_from_path(src_uri)
            if page_file is not None:
                Path(page_file.abs_dest_path).unlink(missing_ok=True)
        self.pending_pages = set()
        self.page_keys = {uri: keys for uri, keys in self.page_keys.items() if files.get_file_from_path(uri)}

    def defer(
        self,
        page: str,
        source: str | None,
        renderer: Callable[[], Renderer],
        meta: dict[str, Any],
        fetch_from: Sequence[str] = (),
        sign: Signer | None = None,
        preview: tuple[Callable[[], Renderer], dict[str, Any]] | None = None,
        check: SafetyCheck | None = None,
        trust: Callable[[], Trust | None] | None = None,
        service: Callable[[], RemoteService | None] | None = None,
        sources: Mapping[str, tuple[str, Mapping[str, Any], str]] | None = None,
    ) -> Defer:
        """The page engine's policy for this page's missing clips: queue, newest edit first; an
        earlier failure is shown until the page's source changes. `preview` is the renderer and
        record metadata of the site's preview model (previews are queued before their finals)."""
        mtime = _mtime(source)

        def defer(plan: Plan, where: str, preview_clip: bool = False) -> str | None:
            failure = self.worker.failure(plan.key, mtime)
            if failure is None:
                make, facts = preview if preview_clip and preview is not None else (renderer, meta)
                source = sources.get(plan.key) if sources is not None else None
                preset = "preview" if preview_clip else "final"
                remote = Remote(service, source, preset) if service is not None and source is not None else None
                what = "preview" if preview_clip else "clip"
                self.worker.submit(plan, make, facts, mtime, where, fetch_from, sign, check, trust, remote, what)
                self.pending_pages.add(page)
            return failure

        return defer

    def retain(self) -> None:
        """After a build: drop queued clips whose directive is gone from every page."""
        self.worker.retain(set().union(*self.page_keys.values()))

    def stop(self) -> None:
        self.worker.stop()

    def _reload(self) -> None:
        """Called by the worker when a clip lands: touch the sentinel once the watcher runs.

        A clip from the first build can finish before `server.serve()` starts its observer; a
        touch before the observer's first snapshot would be missed, so wait for it briefly.
        """
        deadline = time.monotonic() + 10
        while (self.server is None or not self.server.observer.is_alive()) and time.monotonic() < deadline:
            time.sleep(0.1)
        self._touch()

    def _touch(self) -> None:
        """Touch the sentinel; if the cache folder can't take it, say so once and carry on."""
        if self.sentinel is None:
            return
        try:
            touch(self.sentinel)
        except OSError as err:
            if not self._warned:
                log.warning(
                    "cannot write %s (%s): pages will not reload by themselves when a clip lands; "
                    "reload them by hand, or make the cache folder writable",
                    self.sentinel,
                    err.strerror or err,
                )
            self._warned = True


def _mtime(path: str | None) -> float:
    try:
        return Path(path).stat().st_mtime if path else 0.0
    except OSError:
        return 0.0
