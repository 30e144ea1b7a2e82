"""`mkdocs_wan.extension`: the page engine as a Python-Markdown extension, for engines that run
Markdown extensions but not MkDocs plugins (plain `markdown.markdown()`, Pelican, Zensical).

It takes the plugin's options (same names, defaults and checks, from `options.OPTIONS`) plus a
few that come from having no site around it: clips are hard-linked (or copied) into `static_dir`
inside `docs_dir`, which the engine publishes as static files, and `src` is `url_prefix` + file
name (site-absolute by default, `/assets/videos/<key>.mp4`). A clip is written there only when
it is missing, so a rebuild writes nothing and an engine's live server can't loop on its own
output. Under Zensical, which collects static files before it renders pages, `docs_dir` and
`site_dir` come from Zensical's own configuration, so a clip generated during a build is in that
build's output (elsewhere, set `site_dir` where an engine does the same). Relative `image=` paths resolve
next to the page: Zensical tells the extension which page it renders; elsewhere pass `page`.
Generation is blocking, with the model loaded once per process. No MkDocs import.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import sys
import threading
from pathlib import Path
from typing import Any

import markdown
from markdown.postprocessors import Postprocessor
from markdown.preprocessors import Preprocessor

from mkdocs_wan.assembly.engine import PageEngine
from mkdocs_wan.errors import ModelLoadError
from mkdocs_wan.page.spec import SpecError, check_text
from mkdocs_wan.page.unclosed import CloseCommentsExtension
from mkdocs_wan.settings.options import OPTIONS, Settings
from mkdocs_wan.store.cache import CacheError, ClipCache

#: Options of the extension alone; everything else is the plugin's schema.
OWN_OPTIONS: dict[str, list[Any]] = {
    "docs_dir": ["docs", "the folder the engine publishes"],
    "static_dir": ["assets/videos", "where clips are placed, inside docs_dir"],
    "site_dir": ["", "also place new clips in the built site (engines that copy static files first)"],
    "url_prefix": ["/assets/videos/", "URL of static_dir as pages see it"],
    "page": ["", "the page's path inside docs_dir, for relative image= paths (Zensical sets it itself)"],
}

_ENGINES: dict[Settings, PageEngine] = {}  # one per site settings, per process
_CACHES: dict[Path, ClipCache] = {}  # one open index per cache folder, not one per page
_LOCKS: dict[int, threading.Lock] = {}  # per page engine: pages rendered on threads take turns
_SWEPT: set[tuple[Any, ...]] = set()  # (review file, its mtime, folders) already cleared of rejected clips


class WanExtension(markdown.Extension):
    """Options use the plugin's names; paths are relative to the current directory."""

    def __init__(self, **kwargs: Any) -> None:
        # Python-Markdown turns values of options whose default is None into booleans, so
        # "unset" is "" here; `Option.validate` reads "" as unset for optional options.
        self.config = {name: ["" if o.default is None else o.default, o.help] for name, o in OPTIONS.items()}
        self.config.update({name: list(value) for name, value in OWN_OPTIONS.items()})
        super().__init__(**kwargs)

    def extendMarkdown(self, md: markdown.Markdown) -> None:
        _sweep_rejected(self.options())
        source = _KeepSource(md)
        md.preprocessors.register(source, "mkdocs_wan_source", 200)  # before anything rewrites lines
        CloseCommentsExtension().extendMarkdown(md)  # a never-closed directive must not hide the page
        md.postprocessors.register(_Embed(md, self, source), "mkdocs_wan", 5)  # after raw HTML is restored

    def options(self) -> dict[str, Any]:
        """The options, with `docs_dir` and `site_dir` taken from Zensical's own configuration
        when Zensical runs this extension and they were not given: Zensical collects static files
        before it renders pages, so a new clip must also go straight into its site_dir."""
        opt = self.getConfigs()
        found = _zensical_dirs()
        if found is not None:
            if opt["docs_dir"] == OWN_OPTIONS["docs_dir"][0]:
                opt["docs_dir"] = found[0]
            if not opt["site_dir"]:
                opt["site_dir"] = found[1]
        return opt

    def engine(self) -> PageEngine:
        """The page engine for this configuration (options checked once, cache opened once)."""
        opt = self.options()
        try:
            _check_own_options(opt)
            settings = Settings.from_options({n: opt[n] for n in OPTIONS}, Path.cwd(), Path(opt["docs_dir"]))
            settings.check_placement(Path(opt["site_dir"]) if opt["site_dir"] else None)
            settings.check_model()
            if not (settings.docs_dir / opt["static_dir"]).resolve().is_relative_to(settings.docs_dir):
                raise SpecError(f"static_dir {opt['static_dir']!r} must stay inside docs_dir ({settings.docs_dir})")
        except SpecError as err:
            raise ValueError(f"mkdocs_wan.extension: {err}") from None
        if settings not in _ENGINES:
            root = settings.cache_root
            cache = _CACHES.get(root) or _CACHES.setdefault(root, ClipCache(root))
            _ENGINES[settings] = PageEngine(settings, cache)
        return _ENGINES[settings]


class _KeepSource(Preprocessor):
    """Remember the page's Markdown, to recover directive line numbers later."""

    text = ""

    def run(self, lines: list[str]) -> list[str]:
        self.text = "\n".join(lines)
        return lines


class _Embed(Postprocessor):
    def __init__(self, md: markdown.Markdown, ext: WanExtension, source: _KeepSource) -> None:
        super().__init__(md)
        self.ext = ext
        self.source = source

    def run(self, text: str) -> str:
        if "@video-gen" not in text and "<!--wan-fence:" not in text:
            return text
        engine = self.ext.engine()
        with _LOCKS.setdefault(id(engine), threading.Lock()):  # one page at a time per engine: one record
            return self._run(engine, text)

    def _run(self, engine: PageEngine, text: str) -> str:
        build = engine.new_build()
        opt = self.ext.options()
        page = opt["page"] or _zensical_page(self.md)
        missing = "never" if engine.settings["generate"] == "never" else "generate"
        html = engine.render(text, self.source.text, page, lambda name, _path: f"{opt['url_prefix']}{name}", missing)
        if build.missing:
            try:  # as the plugin settles: `generate: never` fetches and never loads the model
                engine.settle()
            except (ModelLoadError, CacheError) as err:
                raise _stop(str(err)) from None
            html = engine.swap_failures(html, page)
        if "data-wan-autoplay" in html:  # no site-wide script here: the page carries its own (tiny, no requests)
            html += f"<script>{_autoplay_script()}</script>"
        folders = [engine.settings.docs_dir / opt["static_dir"]]
        if opt["site_dir"]:  # Zensical collects static files before rendering pages
            folders.append(Path(opt["site_dir"]) / opt["static_dir"])
        try:
            for key in (build.cached | build.missing.keys()) - build.failed.keys() - build.held.keys():
                _publish(engine.cache, key, folders[0])
                if len(folders) > 1:
                    _publish_copy(engine.cache, key, folders[1])
        except CacheError as err:
            raise _stop(str(err)) from None
        for key in build.held.keys() | engine.gate.rejected():  # not published, not even at a URL placed earlier
            for folder in folders:
                for name in (f"{key}.mp4", f"{key}.jpg"):
                    with contextlib.suppress(OSError):
                        (folder / name).unlink(missing_ok=True)
        return html


def _sweep_rejected(opt: dict[str, Any]) -> None:
    """Take every clip the review file rejects out of the static folders, once per change of the
    file: a clip placed by an earlier build stays in docs_dir (and so in every later site) even
    when no page uses it any more, and only pages that still use it would otherwise remove it."""
    review = Path.cwd() / (opt.get("review_file") or OPTIONS["review_file"].default)
    folders = [Path(opt["docs_dir"]) / opt["static_dir"]]
    if opt["site_dir"]:
        folders.append(Path(opt["site_dir"]) / opt["static_dir"])
    try:
        stamp = (str(review), review.stat().st_mtime_ns, *map(str, folders))
    except OSError:
        return  # no decisions
    if stamp in _SWEPT:
        return
    _SWEPT.add(stamp)
    from mkdocs_wan.store.reviews import load_reviews

    try:
        reviews = load_reviews(review)
    except (OSError, SpecError, ValueError):
        return  # a broken file stops the first page that needs it, in one line
    for key, decision in reviews.items():
        if decision.decision == "rejected":
            for folder in folders:
                for name in (f"{key}.mp4", f"{key}.jpg"):
                    with contextlib.suppress(OSError):
                        (folder / name).unlink(missing_ok=True)


@functools.cache
def _autoplay_script() -> str:
    """The plugin's script that starts clips unless the reader prefers reduced motion."""
    return (Path(__file__).parent / "assets" / "mkdocs-wan.js").read_text()


def _check_own_options(opt: dict[str, Any]) -> None:
    """The extension's own options are text a path can hold."""
    for name in OWN_OPTIONS:
        if not isinstance(opt[name], str):
            raise SpecError(f"{name} must be text, got {opt[name]!r}")
        check_text(name, opt[name], limit=4_096)


def _zensical_dirs() -> tuple[str, str] | None:
    """(docs_dir, site_dir) as the running Zensical resolved them from its config, or None."""
    module = sys.modules.get("zensical.config")
    if module is None:
        return None
    try:
        config = module.get_config()
        root = Path(config.get("root_dir") or ".")
        return str(root / config["docs_dir"]), str(root / config["site_dir"])
    except Exception:  # noqa: BLE001 — not loaded yet, or another Zensical: fall back to the options
        return None


def _zensical_page(md: markdown.Markdown) -> str:
    """The path of the page Zensical is rendering (its context preprocessor holds it), or ""."""
    try:
        context = md.preprocessors["rendering_context"]  # a Registry: no .get()
    except KeyError:
        return ""
    path = getattr(getattr(context, "page", None), "path", "")
    return path if isinstance(path, str) else ""


def _stop(message: str) -> Exception:
    """The error that stops a build in one line: under MkDocs (or ProperDocs) a `BuildError`,
    which it prints as one line where any other exception is a traceback; elsewhere (Zensical,
    plain Python-Markdown) a RuntimeError, which it still is."""
    exceptions = sys.modules.get("mkdocs.exceptions") or sys.modules.get("properdocs.exceptions")
    if exceptions is None:
        return RuntimeError(message)
    stop = type("WanBuildError", (exceptions.BuildError, RuntimeError), {})
    return stop(message)


def _publish(cache: ClipCache, key: str, static: Path) -> None:
    """Place the clip and its poster in the engine's static folder: a hard link, or across file
    systems a copy put in place by rename, so a full disk or a kill mid-copy never leaves a
    truncated clip there; one of the wrong size (an earlier version's broken copy) is replaced."""
    try:
        static.mkdir(parents=True, exist_ok=True)
    except OSError as err:  # a file where the folder should be, a read-only docs_dir
        raise CacheError(f"cannot place clips in {static}: {err.strerror or err}") from None
    for source in (cache.path(key), cache.poster_path(key)):
        target = static / source.name
        if target.is_symlink() or not source.is_file():  # never write through a link
            continue
        if target.exists() and target.stat().st_size == source.stat().st_size:
            continue
        with contextlib.suppress(OSError):
            if not target.exists():
                os.link(source, target)
                continue
        scratch = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        try:
            shutil.copyfile(source, scratch)
            scratch.replace(target)
        except OSError as err:
            raise CacheError(f"cannot place {target.name} in {static}: {err.strerror or err}") from None
        finally:
            scratch.unlink(missing_ok=True)


def _publish_copy(cache: ClipCache, key: str, static: Path) -> None:
    """Place a real copy in the built site, never a link: an engine that later copies docs_dir's
    file over it opens the target for writing, and through a hard link that would truncate the
    cached clip itself. The copy replaces whatever is there by rename, so no file is written through."""
    static.mkdir(parents=True, exist_ok=True)
    for source in (cache.path(key), cache.poster_path(key)):
        target = static / source.name
        if not source.is_file() or (
            target.is_file()
            and not target.is_symlink()
            and target.stat().st_size == source.stat().st_size
            and not target.samefile(source)
        ):
            continue
        scratch = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        shutil.copyfile(source, scratch)
        scratch.replace(target)


def makeExtension(**kwargs: Any) -> WanExtension:
    return WanExtension(**kwargs)
