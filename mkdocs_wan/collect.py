"""Render a site's pages through MkDocs' own page pipeline, without writing a site.

The `mkdocs-wan` command needs every directive of a site exactly as a build sees it — after
other plugins' `on_page_markdown`, with the site's Markdown extensions — so it runs the same
events a build runs for each page and lets the `wan` plugin record what it finds.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from mkdocs.config import load_config
from mkdocs.exceptions import PluginError
from mkdocs.structure.files import get_files
from mkdocs.structure.nav import get_navigation
from mkdocs.structure.pages import Page

from mkdocs_wan.plugin import WanPlugin

if TYPE_CHECKING:
    from mkdocs.config.defaults import MkDocsConfig


def load_site(config_file: str | None, **overrides: Any) -> tuple[MkDocsConfig, WanPlugin]:
    """Load mkdocs.yml, set `overrides` on the wan plugin's options and run the start-up events."""
    if config_file is None and not any(Path(name).is_file() for name in CONFIG_NAMES):
        raise PluginError(_no_config_here())
    config = load_config(config_file)
    plugin = next((p for p in config.plugins.values() if isinstance(p, WanPlugin)), None)
    if plugin is None:
        raise PluginError(f"{config.config_file_path} does not enable the `wan` plugin")
    plugin.config.update(overrides)
    config.plugins.on_startup(command="build", dirty=False)
    config = config.plugins.on_config(config)
    return config, plugin


CONFIG_NAMES = ("mkdocs.yml", "mkdocs.yaml")


def _no_config_here() -> str:
    """MkDocs' own message names no way out: point at `-f` and the nearest config, above or below."""
    here = Path.cwd()
    found = next((folder / name for folder in here.parents for name in CONFIG_NAMES if (folder / name).is_file()), None)
    if found is None:
        below = (p for name in CONFIG_NAMES for p in sorted(here.glob(f"*/{name}")) + sorted(here.glob(f"*/*/{name}")))
        found = next(below, None)
    hint = f"; the nearest is {found}" if found is not None else ""
    return f"no mkdocs.yml in {here}: run the command in the site's folder, or give it with -f PATH{hint}"


def render_pages(config: MkDocsConfig) -> None:
    """Run every page through the events of a build up to `on_page_content` (no output)."""
    files = config.plugins.on_files(get_files(config), config=config)
    config.plugins.on_nav(get_navigation(files, config), config=config, files=files)
    for file in files.documentation_pages():
        page = file.page if isinstance(file.page, Page) else Page(None, file, config)
        config.plugins.on_pre_page(page, config=config, files=files)
        page.read_source(config)
        page.markdown = config.plugins.on_page_markdown(page.markdown or "", page=page, config=config, files=files)
        page.render(config, files)
        page.content = config.plugins.on_page_content(page.content or "", page=page, config=config, files=files)
