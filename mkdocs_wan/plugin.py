"""The `wan` MkDocs plugin: wires MkDocs events to the directive → clip → embed stages."""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from mkdocs import __version__ as mkdocs_version
from mkdocs.exceptions import PluginError
from mkdocs.plugins import BasePlugin, get_plugin_logger
from mkdocs.structure.files import File, Files

from mkdocs_wan import __version__
from mkdocs_wan.cache import CacheError, ClipCache
from mkdocs_wan.config import WanConfig
from mkdocs_wan.directives import FENCE_NAME, DirectiveError, custom_fence, find_directives, parse_options
from mkdocs_wan.embed import error_html, placeholder_html, video_html
from mkdocs_wan.generate import ModelLoadError, WanGenerator
from mkdocs_wan.images import resolve_image
from mkdocs_wan.make import Renderer, generate_missing
from mkdocs_wan.models import ModelRef
from mkdocs_wan.plan import Plan, plan_clip
from mkdocs_wan.raypool import RayPool
from mkdocs_wan.spec import Presentation, SpecError, presentation_of
from mkdocs_wan.speed import Tuning
from mkdocs_wan.worker import ClipWorker, touch

if TYPE_CHECKING:
    from jinja2 import Environment
    from mkdocs.config.defaults import MkDocsConfig
    from mkdocs.livereload import LiveReloadServer
    from mkdocs.structure.pages import Page

log = get_plugin_logger(__name__)


def require_mkdocs_1(version: str) -> None:
    """MkDocs 2 removed the plugin system; say so instead of failing somewhere obscure."""
    if int(version.split(".")[0]) >= 2:
        raise PluginError(
            f"mkdocs-wan's `wan` plugin needs MkDocs 1.6+ and < 2, found MkDocs {version}, which has no "
            "plugin system; install 'mkdocs>=1.6,<2' or ProperDocs (a maintained MkDocs 1.x)"
        )


require_mkdocs_1(mkdocs_version)

VIDEOS_DIR = "assets/videos"
CSS_URI = "assets/stylesheets/mkdocs-wan.css"


@dataclass
class _Use:
    """One directive's embed on one page, kept so a failed clip can be swapped for a note."""

    page: Page
    where: str
    html: str


@dataclass
class _Build:
    """What one build found; a fresh one per build, since `mkdocs serve` reuses the plugin."""

    started: float = field(default_factory=time.perf_counter)
    cached: set[str] = field(default_factory=set)
    missing: dict[str, Plan] = field(default_factory=dict)
    plans: dict[str, Plan] = field(default_factory=dict)  # every clip the pages reference
    uses: dict[str, list[_Use]] = field(default_factory=dict)
    queued: set[str] = field(default_factory=set)
    published: list[File] = field(default_factory=list)  # clips and posters added to the site
    made: int = 0
    failed: int = 0


class WanPlugin(BasePlugin[WanConfig]):
    """Generate missing clips for video-gen directives and embed them as `<video>`."""

    def __init__(self) -> None:
        self.generator: WanGenerator | None = None
        self.cache: ClipCache | None = None
        self.build = _Build()
        # Serve-only state, kept across rebuilds.
        self.worker: ClipWorker | None = None
        self.ray: RayPool | None = None  # kept across serve rebuilds, like the model
        self.server: LiveReloadServer | None = None
        self.page_keys: dict[str, set[str]] = {}  # page src_uri -> clip keys it references
        self.pending_pages: set[str] = set()  # pages showing a placeholder

    # Defining on_startup makes MkDocs keep this instance for a whole `mkdocs serve`, so the model
    # stays resident across rebuilds. `serve --clean` reports "build": it generates blocking.
    def on_startup(self, *, command: Literal["build", "gh-deploy", "serve"], dirty: bool) -> None:
        if command == "serve":
            self.worker = ClipWorker(lambda: self.cache, self._reload)  # type: ignore[arg-type,return-value]

    def on_shutdown(self) -> None:
        if self.worker is not None:
            self.worker.stop()
        if self.cache is not None:
            self.cache.close()

    # Every rebuild brings a fresh config: derive config state here, keep the model if unchanged.
    def on_config(self, config: MkDocsConfig) -> MkDocsConfig:
        base_dir = Path(config.config_file_path or ".").resolve().parent
        cache_root = (base_dir / self.config.cache_dir).resolve()
        if self.cache is None or self.cache.root != cache_root:
            if self.cache is not None:
                self.cache.close()
            self.cache = ClipCache(cache_root)
        model = ModelRef.resolve(self.config.model, base_dir, self.config.revision)
        tuning = Tuning(self.config.attention, self.config.compile, self.config.memory)
        settings = (model, cache_root, self.config.device, self.config.dtype, tuning)
        if self.generator is None or settings != (
            self.generator.model,
            self.generator.cache_dir,
            self.generator.device,
            self.generator.dtype,
            self.generator.tuning,
        ):
            self.generator = WanGenerator(*settings)
        self.fingerprint = f"{model.fingerprint()}|dtype={self.config.dtype}"
        self.defaults = self.config.clip_defaults()
        self.build = _Build()
        self.sentinel = cache_root / "serve" / "reload.txt"
        if self.worker is not None and not self.sentinel.exists():
            touch(self.sentinel)  # the watched path must exist before the server starts
        _register_fence(config)
        if CSS_URI not in config.extra_css:
            config.extra_css.append(CSS_URI)
        return config

    # Under `serve --dirty` only pages whose source changed are re-rendered; deleting the output of
    # pages that showed a placeholder makes MkDocs render them again once their clip lands.
    def on_files(self, files: Files, /, *, config: MkDocsConfig) -> Files:
        if files.get_file_from_path(CSS_URI) is None:
            css = resources.files("mkdocs_wan").joinpath("assets/mkdocs-wan.css").read_text()
            files.append(File.generated(config, CSS_URI, content=css))
        if self.worker is not None:
            for src_uri in self.pending_pages:
                page_file = files.get_file_from_path(src_uri)
                if page_file is not None:
                    Path(page_file.abs_dest_path).unlink(missing_ok=True)
            self.pending_pages = set()
            self.page_keys = {uri: keys for uri, keys in self.page_keys.items() if files.get_file_from_path(uri)}
        return files

    def on_serve(self, server: LiveReloadServer, /, *, config: MkDocsConfig, builder: Any) -> LiveReloadServer:
        self.server = server
        server.watch(str(self.sentinel.parent))
        return server

    def on_page_content(self, html: str, /, *, page: Page, config: MkDocsConfig, files: Files) -> str:
        directives = find_directives(html, page.markdown or "")
        self.page_keys[page.file.src_uri] = set()
        if not directives:
            return html
        out: list[str] = []
        end = 0
        for directive in directives:
            out.append(html[end : directive.start])
            end = directive.end
            where = f"{page.file.src_uri}:{directive.line}"
            try:
                options = parse_options(directive)
                plan = self._plan(options, directive.kind, page, config)
                show = presentation_of(options)
            except DirectiveError as err:
                where = f"{page.file.src_uri}:{directive.line + err.line_offset}"
                out.append(self._reject(where, str(err)))
                continue
            except SpecError as err:
                out.append(self._reject(where, str(err)))
                continue
            out.append(self._embed(plan, show, page, where, config, files))
        out.append(html[end:])
        return "".join(out)

    # Generate before MkDocs copies static files (right after on_env), so new clips get copied.
    # Generate before MkDocs copies static files (right after on_env), so new clips get copied.
    def on_env(self, env: Environment, /, *, config: MkDocsConfig, files: Files) -> Environment:
        self._generate(files)
        self._link_published()
        return env

    def renderer(self) -> Renderer:
        """This process's generator, or the Ray pool (`backend: ray`), created on first use."""
        assert self.generator is not None
        if self.config.backend == "local":
            return self.generator
        if self.ray is None or self.ray.model != self.generator.model:
            self.ray = RayPool(self.generator, self.config.ray_address, self.config.ray_actors)
        return self.ray

    def _link_published(self) -> None:
        """Hard-link cached clips and posters into site_dir instead of letting MkDocs copy them.

        MkDocs treats a destination that is the same file as its source as already copied, so a
        site with hundreds of clips costs no copying and no extra disk; across file systems the
        link fails and MkDocs copies as usual.
        """
        for published in self.build.published:
            source, target = Path(published.abs_src_path or ""), Path(published.abs_dest_path)
            if source.is_file() and not target.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                with contextlib.suppress(OSError):
                    os.link(source, target)

    def _generate(self, files: Files) -> None:
        if not self.build.missing:
            return
        assert self.generator is not None and self.cache is not None
        meta = {"model": self.generator.model.name, "fingerprint": self.fingerprint}
        try:
            made, failures = generate_missing(self.build.missing, self.cache, self.renderer(), meta)
        except (ModelLoadError, CacheError) as err:
            raise PluginError(str(err)) from None
        self.build.made = len(made)
        for key in made:
            problem = self.cache.index[key].get("quality")
            for use in self.build.uses[key] if problem else ():
                log.warning("%s: the generated clip looks %s: %s", use.where, problem, self.build.plans[key].title)
        for key, err in failures.items():
            for suffix in ("mp4", "jpg"):
                failed = files.get_file_from_path(f"{VIDEOS_DIR}/{key}.{suffix}")
                files.remove(failed)  # type: ignore[arg-type]
                self.build.published.remove(failed)  # type: ignore[arg-type]
            for use in self.build.uses[key]:
                log.warning("%s: generation failed: %s", use.where, err)
                use.page.content = (use.page.content or "").replace(use.html, error_html(use.where, str(err)))
        self.build.failed = len(failures)

    def on_post_build(self, *, config: MkDocsConfig) -> None:
        build = self.build
        if self.worker is not None:
            self.worker.retain(set().union(*self.page_keys.values()))
        cached = len(build.cached) + len(build.missing) - build.made - build.failed  # incl. made by another build
        total = len(build.cached) + len(build.missing) + len(build.queued)
        actors = len(self.ray.used) if self.ray is not None and build.made else 0
        counts = ((build.failed, "failed"), (len(build.queued), "queued"), (actors, "Ray actors"))
        extra = "".join(f", {count} {label}" for count, label in counts if count)
        elapsed = time.perf_counter() - build.started
        size = sum(p.stat().st_size for k in build.plans if (p := self.cache.path(k)).is_file()) if self.cache else 0
        log.info(
            "%d clips (%.1f MB), %d generated, %d cached%s in %.1f s",
            total,
            size / 1e6,
            build.made,
            cached,
            extra,
            elapsed,
        )

    def _reload(self) -> None:
        """Called by the worker when a clip lands: touch the sentinel once the watcher runs.

        A clip from the first build can finish before `server.serve()` starts its observer; a
        touch before the observer's first snapshot would be missed, so wait for it briefly.
        """
        deadline = time.monotonic() + 10
        while (self.server is None or not self.server.observer.is_alive()) and time.monotonic() < deadline:
            time.sleep(0.1)
        touch(self.sentinel)

    def _reject(self, where: str, problem: str) -> str:
        log.warning("%s: %s", where, problem)
        return error_html(where, problem)

    def _plan(self, options: dict[str, Any], kind: str, page: Page, config: MkDocsConfig) -> Plan:
        if "segments" in options and kind != "fence":
            raise SpecError("segments need the fenced form (a video-gen block with YAML)")
        image = None
        if "image" in options:
            image = resolve_image(options["image"], page.file.src_uri, Path(config.docs_dir))
        draft = self.config.preset == "draft"
        return plan_clip(options, self.defaults, self.config.style, self.fingerprint, image, self.config.crf, draft)

    def _embed(
        self,
        plan: Plan,
        show: Presentation,
        page: Page,
        where: str,
        config: MkDocsConfig,
        files: Files,
    ) -> str:
        assert self.cache is not None and self.generator is not None
        key = plan.key
        self.page_keys[page.file.src_uri].add(key)
        self.build.plans[key] = plan
        ready = self._ready(key, where)
        if not ready and self.config.generate == "never":
            log.warning("%s: clip not in the cache and `generate: never`: %s", where, plan.title)
            return placeholder_html(plan.display, plan.title, key, state="not generated")
        if not ready and self.worker is not None:
            return self._queue(plan, page, where)
        if ready:
            self.cache.ensure_poster(key)  # e.g. the poster was deleted by hand
        clip = self._publish(f"{key}.mp4", self.cache.path(key), config, files)
        poster = self._publish(f"{key}.jpg", self.cache.poster_path(key), config, files)
        provenance = {
            "prompt": plan.title,
            "model": self.generator.model.name,
            "seed": str(plan.display.seed),
            "generator": f"mkdocs-wan {__version__}",
        }
        html = video_html(
            clip.url_relative_to(page.file),
            poster.url_relative_to(page.file),
            plan.display,
            plan.frames,
            plan.title,
            key,
            show,
            provenance,
            self.config.ai_label,
        )
        if ready:
            self.build.cached.add(key)
        else:
            self.build.missing[key] = plan
        self.build.uses.setdefault(key, []).append(_Use(page, where, html))
        return html

    def _publish(self, name: str, path: Path, config: MkDocsConfig, files: Files) -> File:
        """Add a cached file to the build once, at its stable content-addressed URL."""
        src_uri = f"{VIDEOS_DIR}/{name}"
        published = files.get_file_from_path(src_uri)
        if published is None:
            published = File.generated(config, src_uri, abs_src_path=str(path))
            files.append(published)
            self.build.published.append(published)
        return published

    def _ready(self, key: str, where: str) -> bool:
        """Is the clip cached and intact? Checked once per key per build."""
        assert self.cache is not None
        if key in self.build.cached or key in self.build.missing:
            return key in self.build.cached
        try:
            status = self.cache.check(key)
        except CacheError as err:
            raise PluginError(str(err)) from None
        if status == "corrupt":
            log.warning("%s: cached clip %s failed its checksum (truncated or altered); regenerating", where, key[:12])
        return status == "ok"

    def _queue(self, plan: Plan, page: Page, where: str) -> str:
        """Serve: hand a missing clip to the worker and show a placeholder (or its failure)."""
        assert self.worker is not None and self.generator is not None
        mtime = _mtime(page.file.abs_src_path)
        failure = self.worker.failure(plan.key, mtime)
        if failure is not None:
            return self._reject(where, f"generation failed: {failure}")
        meta = {"model": self.generator.model.name, "fingerprint": self.fingerprint}
        self.worker.submit(plan, self.generator, meta, mtime, where)
        self.build.queued.add(plan.key)
        self.pending_pages.add(page.file.src_uri)
        return placeholder_html(plan.display, plan.title, plan.key)


def _mtime(path: str | None) -> float:
    try:
        return Path(path).stat().st_mtime if path else 0.0
    except OSError:
        return 0.0


def _register_fence(config: MkDocsConfig) -> None:
    """Add the `video-gen` custom fence to SuperFences (enabling SuperFences if needed)."""
    if "pymdownx.superfences" not in config.markdown_extensions:
        config.markdown_extensions.append("pymdownx.superfences")
    options: dict[str, Any] = config.mdx_configs.setdefault("pymdownx.superfences", {})
    fences: list[dict[str, Any]] = options.setdefault("custom_fences", [])
    if not any(fence.get("name") == FENCE_NAME for fence in fences):
        fences.append(custom_fence())
