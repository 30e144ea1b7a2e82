"""The MkDocs side of the plugin: what it reads from and adds to MkDocs' config, pages and logs.

Kept apart from `plugin.py` so that the plugin is the event wiring alone.
"""

from __future__ import annotations

import logging
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File, Files
from mkdocs.utils import CountHandler, get_relative_url
from mkdocs.utils.meta import get_data

from mkdocs_wan.logs import log
from mkdocs_wan.page.directives import FENCE_NAME, custom_fence
from mkdocs_wan.page.fence import VideoGenFenceExtension
from mkdocs_wan.page.sources import editor_view, included_files
from mkdocs_wan.page.unclosed import CloseCommentsExtension

if TYPE_CHECKING:
    from mkdocs.config.defaults import MkDocsConfig
    from mkdocs.structure.pages import Page


def require_mkdocs_1(version: str) -> None:
    """MkDocs 2 removed the plugin system; say so instead of failing somewhere obscure."""
    if int(version.split(".")[0]) >= 2:
        raise PluginError(
            f"mkdocs-wan's `wan` plugin needs MkDocs 1.6+ and < 2, found MkDocs {version}, which has no "
            "plugin system; install 'mkdocs>=1.6,<2' or ProperDocs (a maintained MkDocs 1.x)"
        )


CSS_URI = "assets/stylesheets/mkdocs-wan.css"
JS_URI = "assets/javascripts/mkdocs-wan.js"  # starts clips unless the reader prefers reduced motion
ASSETS = {
    CSS_URI: Path(__file__).parent / "assets" / "mkdocs-wan.css",
    JS_URI: Path(__file__).parent / "assets" / "mkdocs-wan.js",
}


def assets_on_every_page(config: MkDocsConfig) -> bool:
    """Material's instant navigation swaps a page's content without loading the new page's
    `<head>`: a reader who arrives at a clip from a page without one would get it unstyled, so
    there every page links the assets. Elsewhere only the pages with a clip or note do
    (`with_assets`), and every other page is byte for byte what it was without the plugin."""
    features = config.theme.get("features") or []
    return config.theme.name == "material" and "navigation.instant" in features


def add_assets(config: MkDocsConfig) -> None:
    """Link the stylesheet and script from every page, where `assets_on_every_page` says so."""
    if not assets_on_every_page(config):
        return
    if CSS_URI not in config.extra_css:
        config.extra_css.append(CSS_URI)
    if JS_URI not in map(str, config.extra_javascript):
        config.extra_javascript.append(JS_URI)


_UNLINKED: list[str] = []


def with_assets(output: str, page_url: str) -> str:
    """A page with the plugin's markup, linking its stylesheet (end of `<head>`) and script (end
    of `<body>`, where MkDocs puts `extra_javascript`). A page without either tag is left alone."""
    opens_body = output.find("<body")  # the head's own end, not a "</head>" in one of its scripts
    head = output.rfind("</head>", 0, opens_body if opens_body >= 0 else len(output))
    body = output.rfind("</body>")
    if head < 0 or body < head:
        if not _UNLINKED:  # once: every page of such a theme is alike
            _UNLINKED.append(page_url)
            log.info("%s has no </head> or </body>: the clips' stylesheet and script are not linked", page_url)
        return output
    css = f'<link href="{escape(get_relative_url(CSS_URI, page_url))}" rel="stylesheet">'  # as MkDocs writes extra_css
    js = f'<script src="{escape(get_relative_url(JS_URI, page_url))}"></script>'
    return f"{output[:head]}\n{css}{output[head:body]}\n{js}{output[body:]}"


def add_asset_files(files: Files, config: MkDocsConfig) -> None:
    for uri, path in ASSETS.items():
        if files.get_file_from_path(uri) is None:
            # From the installed file, not `content=`: some plugins (mkdocs-static-i18n) expect
            # every File to have a source path.
            files.append(File.generated(config, uri, abs_src_path=str(path)))


def page_source(page: Page) -> str:
    """The page's file as the editor shows it (front matter as blank lines): directive lines are
    looked up here, not in `page.markdown`, which plugins such as mkdocs-macros rewrite first."""
    try:
        source = page.file.content_string
    except (OSError, UnicodeDecodeError, ValueError):
        return page.markdown or ""
    body, _ = get_data(source)
    return editor_view(body, source.count("\n") - body.count("\n"))


def included(page: Page, config: MkDocsConfig) -> dict[str, str]:
    """Files the page pulls in with pymdownx.snippets, where a directive may come from."""
    if "pymdownx.snippets" not in config.markdown_extensions or "8<-" not in (page.markdown or ""):
        return {}
    bases = config.mdx_configs.get("pymdownx.snippets", {}).get("base_path", ["."])
    bases = [bases] if isinstance(bases, str) else bases
    return included_files(page.markdown or "", [Path(base) for base in bases], Path(config.docs_dir).resolve())


def warnings_so_far() -> int:
    """Warnings MkDocs has counted in this build (its strict-mode counter on the `mkdocs` logger)."""
    counters = [h for h in logging.getLogger("mkdocs").handlers if isinstance(h, CountHandler)]
    return sum(count for h in counters for level, count in h.counts.items() if level >= logging.WARNING)


def register_fence(config: MkDocsConfig) -> None:
    """Make the fenced form work: a SuperFences custom fence where the site uses SuperFences;
    elsewhere a preprocessor that handles only `video-gen` fences, so no other code block of the
    site renders any differently (enabling SuperFences would change them all). And close a
    directive comment the writer never closed, so it does not hide the rest of the page."""
    if "pymdownx.superfences" in config.markdown_extensions:
        options: dict[str, Any] = config.mdx_configs.setdefault("pymdownx.superfences", {})
        fences: list[dict[str, Any]] = options.setdefault("custom_fences", [])
        if not any(fence.get("name") == FENCE_NAME for fence in fences):
            fences.append(custom_fence())
    elif not any(isinstance(ext, VideoGenFenceExtension) for ext in config.markdown_extensions):
        config.markdown_extensions.append(VideoGenFenceExtension())  # type: ignore[arg-type]
    if not any(isinstance(ext, CloseCommentsExtension) for ext in config.markdown_extensions):
        config.markdown_extensions.append(CloseCommentsExtension())  # type: ignore[arg-type]
