"""The `wan` MkDocs plugin: MkDocs events wired to the page engine, the cache and serve's worker."""

from __future__ import annotations

import contextlib
import json
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from mkdocs import __version__ as mkdocs_version
from mkdocs.exceptions import PluginError
from mkdocs.plugins import BasePlugin
from mkdocs.structure.files import File, Files
from mkdocs.utils import CountHandler
from mkdocs.utils.meta import get_data

from mkdocs_wan import backends
from mkdocs_wan.cache import CacheError, ClipCache
from mkdocs_wan.config import WanConfig
from mkdocs_wan.directives import FENCE_NAME, custom_fence, has_directives
from mkdocs_wan.errors import ModelLoadError
from mkdocs_wan.fence import VideoGenFenceExtension
from mkdocs_wan.layout import VIDEOS_DIR
from mkdocs_wan.logs import log
from mkdocs_wan.options import Settings
from mkdocs_wan.pages import Missing, PageEngine, UrlFor
from mkdocs_wan.sources import editor_view, included_files
from mkdocs_wan.spec import SpecError

if TYPE_CHECKING:
    from jinja2 import Environment
    from mkdocs.config.defaults import MkDocsConfig
    from mkdocs.livereload import LiveReloadServer
    from mkdocs.structure.pages import Page

    from mkdocs_wan.worker import ServeSession


def require_mkdocs_1(version: str) -> None:
    """MkDocs 2 removed the plugin system; say so instead of failing somewhere obscure."""
    if int(version.split(".")[0]) >= 2:
        raise PluginError(
            f"mkdocs-wan's `wan` plugin needs MkDocs 1.6+ and < 2, found MkDocs {version}, which has no "
            "plugin system; install 'mkdocs>=1.6,<2' or ProperDocs (a maintained MkDocs 1.x)"
        )


require_mkdocs_1(mkdocs_version)

CSS_URI = "assets/stylesheets/mkdocs-wan.css"
JS_URI = "assets/javascripts/mkdocs-wan.js"  # starts clips unless the reader prefers reduced motion
ASSETS = {
    CSS_URI: Path(__file__).parent / "assets" / "mkdocs-wan.css",
    JS_URI: Path(__file__).parent / "assets" / "mkdocs-wan.js",
}


class WanPlugin(BasePlugin[WanConfig]):  # type: ignore[valid-type]
    """Generate missing clips for video-gen directives and embed them as `<video>`."""

    def __init__(self) -> None:
        self.cache: ClipCache | None = None
        self.engine: PageEngine | None = None  # the build's pages and clips: `engine.build`
        self.serve: ServeSession | None = None  # kept across `mkdocs serve` rebuilds
        self.published: list[File] = []  # clips and posters added to this build's files
        self.files: Files | None = None  # the build's files once clips are settled (on_env)

    # Defining on_startup makes MkDocs keep this instance for a whole `mkdocs serve`, so the model
    # stays resident across rebuilds. `serve --clean` reports "build": it generates blocking.
    def on_startup(self, *, command: Literal["build", "gh-deploy", "serve"], dirty: bool) -> None:
        if command == "serve":
            from mkdocs_wan.worker import ServeSession  # a build never needs the worker

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
        except SpecError as err:
            raise PluginError(str(err)) from None
        if self.cache is None or self.cache.root != settings.cache_root:
            if self.cache is not None:
                self.cache.close()
            self.cache = ClipCache(settings.cache_root)
        self.engine = PageEngine(settings, self.cache)
        self.published = []
        if self.serve is not None:
            self.serve.configure(self.cache.layout.reload_sentinel)
        _register_fence(config)
        if CSS_URI not in config.extra_css:
            config.extra_css.append(CSS_URI)
        if JS_URI not in map(str, config.extra_javascript):
            config.extra_javascript.append(JS_URI)
        return config

    def on_files(self, files: Files, /, *, config: MkDocsConfig) -> Files:
        for uri, path in ASSETS.items():
            if files.get_file_from_path(uri) is None:
                # From the installed file, not `content=`: some plugins (mkdocs-static-i18n) expect
                # every File to have a source path.
                files.append(File.generated(config, uri, abs_src_path=str(path)))
        if self.serve is not None:
            self.serve.forget_pending(files)
        return files

    def on_serve(self, server: LiveReloadServer, /, *, config: MkDocsConfig, builder: Any) -> LiveReloadServer:
        if self.serve is not None:
            self.serve.watch(server)
        return server

    def on_page_content(self, html: str, /, *, page: Page, config: MkDocsConfig, files: Files) -> str:
        assert self.engine is not None
        src_uri = page.file.src_uri
        try:
            url, missing = self._url(page, config, files), self._missing(page)
            return self.engine.render(html, _editor_view(page), src_uri, url, missing, _included(page, config))
        except CacheError as err:
            raise PluginError(str(err)) from None
        finally:
            if self.serve is not None:
                self.serve.page_keys[src_uri] = self.engine.build.keys(src_uri)

    # Generate before MkDocs copies static files (right after on_env), so new clips get copied.
    def on_env(self, env: Environment, /, *, config: MkDocsConfig, files: Files) -> Environment:
        assert self.engine is not None
        failed: dict[str, str] = {}
        if self.engine.build.missing and config.strict and (warned := _warnings_so_far()):
            log.warning(
                "--strict and %s already: generating none of the %s, so no GPU time goes into a build "
                "that will fail; fix the warnings above first",
                _count(warned, "warning"),
                _count(len(self.engine.build.missing), "missing clip"),
            )
            failed = self.engine.skip_missing("not generated: this --strict build already had warnings")
        elif self.engine.build.missing:
            try:
                if self.engine.settings["generate"] == "never":  # fetching (`fetch_from`) is all it may do
                    self.engine.fetch()
                    failed = dict.fromkeys(self.engine.keep_missing(), "not generated")
                else:
                    failed = self.engine.generate(backends.renderer(self.engine.settings))
            except (ModelLoadError, CacheError) as err:
                raise PluginError(str(err)) from None
        self._drop(failed, files)
        self._publish_records(config, files)
        self.files = files
        self._link_published()
        return env

    def _publish_records(self, config: MkDocsConfig, files: Files) -> None:
        """Next to each clip, the record that lets another build check it before reusing it (`fetch_from`)."""
        assert self.engine is not None
        from mkdocs_wan.fetch import published_record

        build = self.engine.build
        for key, plan in build.plans.items():
            src_uri = f"{VIDEOS_DIR}/{key}.json"
            if key in build.cached | build.made and files.get_file_from_path(src_uri) is None:
                record = published_record(self.engine.cache, plan, self.engine.settings.model.name)
                if record is not None:
                    files.append(File.generated(config, src_uri, content=json.dumps(record, indent=1)))

    def _drop(self, failed: dict[str, str], files: Files) -> None:
        """Unpublish clips that were not made and put a note where each page embedded one."""
        assert self.engine is not None
        for name in (f"{key}.{suffix}" for key in failed for suffix in ("mp4", "jpg")):
            unpublished = files.get_file_from_path(f"{VIDEOS_DIR}/{name}")
            if unpublished is not None:
                files.remove(unpublished)
                self.published.remove(unpublished)
        for src_uri in {use.page for key in failed for use in self.engine.build.uses[key]}:
            page = files.get_file_from_path(src_uri).page  # type: ignore[union-attr]
            page.content = self.engine.swap_failures(page.content or "", src_uri)  # type: ignore[union-attr]

    # A theme or plugin may render page Markdown again outside on_page_content (Material's blog
    # renders post excerpts for its index, archive and category pages): directives that survive
    # into the final HTML become the clips their own pages made.
    def on_post_page(self, output: str, /, *, page: Page, config: MkDocsConfig) -> str:
        if self.engine is None or not has_directives(output):
            return output

        def url(name: str) -> str | None:
            published = self.files.get_file_from_path(f"{VIDEOS_DIR}/{name}") if self.files else None
            return None if published is None else published.url_relative_to(page.file)

        return self.engine.render_again(output, page.file.src_uri, url)

    def on_post_build(self, *, config: MkDocsConfig) -> None:
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
        source = page.file.abs_src_path
        return self.serve.defer(page.file.src_uri, source, renderer, settings.meta, fetch_from, settings.signer)

    def _url(self, page: Page, config: MkDocsConfig, files: Files) -> UrlFor:
        """Publish a cached file once, at its stable content-addressed URL; link it from `page`."""

        def url(name: str, path: Path) -> str:
            src_uri = f"{VIDEOS_DIR}/{name}"
            published = files.get_file_from_path(src_uri)
            if published is None:
                published = File.generated(config, src_uri, abs_src_path=str(path))
                files.append(published)
                self.published.append(published)
            return published.url_relative_to(page.file)

        return url

    def _link_published(self) -> None:
        """Hard-link cached clips and posters into site_dir instead of letting MkDocs copy them.

        MkDocs treats a destination that is the same file as its source as already copied, so a
        site with hundreds of clips costs no copying and no extra disk; across file systems the
        link fails and MkDocs copies as usual.
        """
        for published in self.published:
            source, target = Path(published.abs_src_path or ""), Path(published.abs_dest_path)
            if source.is_file() and not target.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                with contextlib.suppress(OSError):
                    os.link(source, target)


def _editor_view(page: Page) -> str:
    """The page's Markdown with the front matter MkDocs stripped put back as blank lines."""
    markdown = page.markdown or ""
    try:
        source = page.file.content_string
    except (OSError, UnicodeDecodeError, ValueError):
        return markdown
    body, _ = get_data(source)
    return editor_view(markdown, source.count("\n") - body.count("\n"))


def _included(page: Page, config: MkDocsConfig) -> dict[str, str]:
    """Files the page pulls in with pymdownx.snippets, where a directive may come from."""
    if "pymdownx.snippets" not in config.markdown_extensions or "8<-" not in (page.markdown or ""):
        return {}
    bases = config.mdx_configs.get("pymdownx.snippets", {}).get("base_path", ["."])
    bases = [bases] if isinstance(bases, str) else bases
    return included_files(page.markdown or "", [Path(base) for base in bases], Path(config.docs_dir).resolve())


def _count(number: int, thing: str) -> str:
    return f"{number} {thing}" if number == 1 else f"{number} {thing}s"


def _warnings_so_far() -> int:
    """Warnings MkDocs has counted in this build (its strict-mode counter on the `mkdocs` logger)."""
    counters = [h for h in logging.getLogger("mkdocs").handlers if isinstance(h, CountHandler)]
    return sum(count for h in counters for level, count in h.counts.items() if level >= logging.WARNING)


def _register_fence(config: MkDocsConfig) -> None:
    """Make the fenced form work: a SuperFences custom fence where the site uses SuperFences;
    elsewhere a preprocessor that handles only `video-gen` fences, so no other code block of the
    site renders any differently (enabling SuperFences would change them all)."""
    if "pymdownx.superfences" in config.markdown_extensions:
        options: dict[str, Any] = config.mdx_configs.setdefault("pymdownx.superfences", {})
        fences: list[dict[str, Any]] = options.setdefault("custom_fences", [])
        if not any(fence.get("name") == FENCE_NAME for fence in fences):
            fences.append(custom_fence())
    elif not any(isinstance(ext, VideoGenFenceExtension) for ext in config.markdown_extensions):
        config.markdown_extensions.append(VideoGenFenceExtension())  # type: ignore[arg-type]
