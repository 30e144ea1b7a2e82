"""The `wan` MkDocs plugin: MkDocs events wired to the page engine, the cache and serve's worker."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from mkdocs import __version__ as mkdocs_version
from mkdocs.exceptions import PluginError
from mkdocs.plugins import BasePlugin
from mkdocs.structure.files import Files
from mkdocs.utils import get_relative_url

from mkdocs_wan import site
from mkdocs_wan.assembly import dirty, publish
from mkdocs_wan.assembly.engine import Missing, PageEngine, UrlFor
from mkdocs_wan.config import WanConfig
from mkdocs_wan.errors import ModelLoadError
from mkdocs_wan.logs import log
from mkdocs_wan.page.directives import find_directives, has_directives, worth_reading
from mkdocs_wan.page.spec import SpecError
from mkdocs_wan.render import backends
from mkdocs_wan.settings.options import Settings
from mkdocs_wan.store.cache import CacheError, ClipCache
from mkdocs_wan.store.layout import VIDEOS_DIR

site.require_mkdocs_1(mkdocs_version)

if TYPE_CHECKING:
    from jinja2 import Environment
    from mkdocs.config.defaults import MkDocsConfig
    from mkdocs.livereload import LiveReloadServer
    from mkdocs.structure.pages import Page

    from mkdocs_wan.serve import ServeSession


def fatal(err: Exception | str) -> PluginError:
    """A build-stopping error as MkDocs prints it (`ERROR - …`), with the prefix every other
    message of this plugin has, so a reader knows which plugin stopped the build."""
    return PluginError(f"mkdocs_wan: {err}")


class WanPlugin(BasePlugin[WanConfig]):  # type: ignore[valid-type]
    """Generate missing clips for video-gen directives and embed them as `<video>`."""

    def __init__(self) -> None:
        self.cache: ClipCache | None = None
        self.engine: PageEngine | None = None  # the build's pages and clips: `engine.build`
        self.serve: ServeSession | None = None  # kept across `mkdocs serve` rebuilds
        # What the build places in site_dir once it is written (on_post_build): clips and posters
        # by site path (hard links to the cache), and their records for `fetch_from`.
        self.published: dict[str, Path] = {}
        self.records: dict[str, Path | str] = {}
        self.dirty = False
        self.marked: set[str] = set()  # pages showing the plugin's markup (src_uri)
        self.in_titles: set[str] = set()  # directive texts in page titles (front matter): not clips

    # Defining on_startup makes MkDocs keep this instance for a whole `mkdocs serve`, so the model
    # stays resident across rebuilds. `serve --clean` reports "build": it generates blocking.
    def on_startup(self, *, command: Literal["build", "gh-deploy", "serve"], dirty: bool) -> None:
        self.dirty = dirty
        if command == "serve":
            from mkdocs_wan.serve import ServeSession  # a build never needs the worker

            self.serve = ServeSession(lambda: self.cache)  # type: ignore[arg-type,return-value]

    def on_shutdown(self) -> None:
        if self.serve is not None:
            self.serve.stop()
        if self.cache is not None:
            self.cache.close()

    # Every rebuild brings a fresh config: new settings and a new build record; cache and model stay.
    def on_config(self, config: MkDocsConfig) -> MkDocsConfig:
        base_dir = Path(config.config_file_path or ".").resolve().parent
        settings = Settings(dict(self.config), base_dir, Path(config.docs_dir).resolve())
        try:
            settings.check_placement(Path(config.site_dir))
            settings.check_model()
        except SpecError as err:
            raise fatal(err) from None
        if self.cache is None or self.cache.root != settings.cache_root:
            if self.cache is not None:
                self.cache.close()
            self.cache = ClipCache(settings.cache_root)
        self.engine = PageEngine(settings, self.cache)
        self.engine.writer_view = self.serve is not None  # the writer's preview says why a clip is held
        try:
            self.engine.reviews  # noqa: B018 — a broken review file stops the build here, in one line
        except CacheError as err:
            raise fatal(err) from None
        self.published, self.records = {}, {}
        if self.serve is not None:
            self.serve.configure(self.cache.layout.reload_sentinel)
        site.register_fence(config)
        site.add_assets(config)
        return config

    def on_files(self, files: Files, /, *, config: MkDocsConfig) -> Files:
        site.add_asset_files(files, config)
        if self.dirty and self.engine is not None:  # a review decision re-renders its pages
            settings = self.engine.settings
            dirty.redo_pages(files, Path(config.site_dir), settings.cache_root, self.engine.build.review_digest)
        if self.serve is not None:
            self.serve.forget_pending(files)
        return files

    def on_serve(self, server: LiveReloadServer, /, *, config: MkDocsConfig, builder: Any) -> LiveReloadServer:
        if self.serve is not None:
            self.serve.watch(server)
        if self.engine is not None:  # `mkdocs-wan approve` while serving: rebuild, publish the clip
            review_file = self.engine.settings.review_path
            if review_file.is_file():
                server.watch(str(review_file))
        return server

    def on_page_content(self, html: str, /, *, page: Page, config: MkDocsConfig, files: Files) -> str:
        assert self.engine is not None
        src_uri = page.file.src_uri
        try:
            # Most pages: nothing to do, and their source is not read again. The Markdown is asked
            # too: a misnamed fence under SuperFences leaves its name in the source only.
            if not worth_reading(html) and not worth_reading(page.markdown or ""):
                self.marked.discard(src_uri)
                return html
            url, missing = self._url(page), self._missing(page)
            out = self.engine.render(html, site.page_source(page), src_uri, url, missing, site.included(page, config))
            (self.marked.add if out != html else self.marked.discard)(src_uri)  # pages that link the assets
            return out
        except CacheError as err:
            raise fatal(err) from None
        finally:
            if self.serve is not None:
                self.serve.page_keys[src_uri] = self.engine.build.keys(src_uri)

    # Generate once every page is read and before any is written, so each page shows what was made.
    def on_env(self, env: Environment, /, *, config: MkDocsConfig, files: Files) -> Environment:
        assert self.engine is not None
        try:
            failed = self.engine.settle(site.warnings_so_far() if config.strict else None)
        except (ModelLoadError, CacheError) as err:
            raise fatal(err) from None
        for src_uri in publish.unpublished(failed):
            self.published.pop(src_uri, None)
        for src_uri in publish.pages_to_fix(self.engine, failed):
            page = files.get_file_from_path(src_uri).page  # type: ignore[union-attr]
            page.content = self.engine.swap_failures(page.content or "", src_uri)  # type: ignore[union-attr]
        self.records = dict(publish.records(self.engine))
        self.in_titles = {
            directive.text
            for file in files.documentation_pages()
            if file.page is not None and "video-gen" in (title := str(file.page.title or ""))
            for directive in find_directives(title)
        }
        return env

    # A theme or plugin may render page Markdown again outside on_page_content (Material's blog
    # renders post excerpts for its index, archive and category pages): directives that survive
    # into the final HTML become the clips their own pages made.
    def on_post_page(self, output: str, /, *, page: Page, config: MkDocsConfig) -> str:
        if page.file.src_uri in self.marked and not site.assets_on_every_page(config):
            output = site.with_assets(output, page.file.url)
        if self.engine is None or not has_directives(output):
            return output

        def url(name: str) -> str | None:
            src_uri = f"{VIDEOS_DIR}/{name}"
            return get_relative_url(src_uri, page.file.url) if src_uri in self.published else None

        return self.engine.render_again(output, page.file.src_uri, url, self.in_titles)

    def on_post_build(self, *, config: MkDocsConfig) -> None:
        try:
            publish.place(Path(config.site_dir), self.published, self.records)
        except OSError as err:
            raise fatal(f"cannot place the clips in {config.site_dir}: {err.strerror or err}") from None
        if self.engine is not None:
            settings, site_dir = self.engine.settings, Path(config.site_dir)
            withdrawn = self.engine.build.held.keys() | self.engine.gate.rejected()
            dirty.withdraw(site_dir, withdrawn)  # `--dirty` keeps the last build's files
            # The decisions this build applied (read in on_config), not the file as it is now.
            dirty.remember(settings.cache_root, site_dir, self.engine.build.review_digest)
        if self.serve is not None:
            self.serve.retain()
        if self.engine is not None:
            log.info(self.engine.summary())

    def _missing(self, page: Page) -> Missing:
        assert self.engine is not None
        settings = self.engine.settings
        if settings["generate"] == "never":
            return "never"
        if self.serve is None:
            return "generate"
        renderer = lambda: backends.renderer(settings)  # noqa: E731 — runs in serve's worker thread
        fetch_from = settings["fetch_from"] or ()
        source, fast = page.file.abs_src_path, self.engine.preview_settings
        preview = None if fast is None else ((lambda: backends.renderer(fast)), fast.meta)
        engine = self.engine
        extras = {
            "check": engine.safety,
            "trust": engine.trust,
            "service": engine.service,
            "sources": engine.build.sources,
        }
        return self.serve.defer(
            page.file.src_uri, source, renderer, settings.meta, fetch_from, engine.signer, preview, **extras
        )

    def _url(self, page: Page) -> UrlFor:
        """Publish a cached file once, at its stable content-addressed URL; link it from `page`."""

        def url(name: str, path: Path) -> str:
            src_uri = f"{VIDEOS_DIR}/{name}"
            self.published[src_uri] = path
            return get_relative_url(src_uri, page.file.url)

        return url
