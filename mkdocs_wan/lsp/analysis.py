"""One Markdown buffer as the build sees it: its directives, their problems and their clips' state.

The buffer is rendered with the site's own Markdown extensions (as MkDocs would) and run through
the page engine with a "missing" policy that generates nothing and warns nothing about missing
clips, so every message is the build's own, at the build's line, and nothing waits for a model.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mkdocs_wan.assembly.single import state_of

if TYPE_CHECKING:
    from mkdocs.config.defaults import MkDocsConfig

    from mkdocs_wan.assembly.engine import PageEngine
    from mkdocs_wan.assembly.plan import Plan

_WHERE = re.compile(r"^(?P<page>.+?):(?P<line>\d+): (?P<message>.*)$", re.DOTALL)  # a message
_PLACE = re.compile(r"^(?P<page>.+):(?P<line>\d+)$")  # a directive's page.md:LINE


@dataclass(frozen=True)
class Problem:
    line: int  # 1-based, in the buffer
    message: str


@dataclass(frozen=True)
class Clip:
    """A directive of the buffer whose clip could be planned."""

    line: int  # 1-based line of the directive
    plan: Plan
    state: str  # succeeded | held | rejected | missing
    why: str | None
    source: tuple[str, Any, str]  # (kind, options, page) as a service is sent it


@dataclass
class Analysis:
    problems: list[Problem] = field(default_factory=list)
    clips: list[Clip] = field(default_factory=list)


class Site:
    """A site found from a Markdown file: its config, page engine and Markdown set-up, loaded once."""

    def __init__(self, config_file: Path) -> None:
        from mkdocs_wan.collect import load_site

        self.config_file = config_file
        config, plugin = load_site(str(config_file), generate="auto")
        assert plugin.engine is not None
        self.config: MkDocsConfig = config
        self.engine: PageEngine = plugin.engine
        self.docs_dir = Path(config.docs_dir).resolve()
        self._lock = threading.Lock()

    def page_of(self, path: Path) -> str | None:
        """The page's path in docs_dir (None: the file is not one of the site's pages)."""
        try:
            return path.resolve().relative_to(self.docs_dir).as_posix()
        except ValueError:
            return None

    def analyse(self, text: str, page: str) -> Analysis:
        """Render the buffer as the build would; collect its messages and its clips."""
        import markdown

        engine = self.engine
        found = Analysis()
        warnings: list[str] = []
        with self._lock:  # one engine record at a time
            build = engine.new_build()
            engine.warn = warnings.append
            md = markdown.Markdown(
                extensions=self.config.markdown_extensions, extension_configs=self.config.mdx_configs
            )
            html = md.convert(text)
            engine.render(html, text, page, lambda name, path: name, _nothing_missing)
            for key, uses in build.uses.items():
                plan = build.plans.get(key)
                source = build.sources.get(key)
                if plan is None or source is None:
                    continue
                state, why = state_of(engine, plan)
                for use in uses:
                    match = _PLACE.match(use.where)
                    if match is not None and match["page"] == page:
                        found.clips.append(Clip(int(match["line"]), plan, state, why, source))
        for warning in warnings:
            match = _WHERE.match(warning)
            if match is not None and match["page"] == page:
                found.problems.append(Problem(int(match["line"]), match["message"]))
        found.clips.sort(key=lambda clip: clip.line)
        return found


def _nothing_missing(plan: Plan, where: str, preview_clip: bool = False) -> str | None:
    """The editor's policy for a missing clip: a placeholder; the service makes it when asked."""
    return None


def find_config(path: Path) -> Path | None:
    """The nearest mkdocs.yml (or mkdocs.yaml) in the file's folder or above it."""
    for folder in [path.parent, *path.parent.parents]:
        for name in ("mkdocs.yml", "mkdocs.yaml"):
            if (folder / name).is_file():
                return folder / name
    return None
