"""Directives met again in a page's final HTML (a blog index renders post excerpts): each becomes
the clip its own page made, or a quiet box. A mixin of `PageEngine`.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import TYPE_CHECKING

from mkdocs_wan.assembly.places import label_id
from mkdocs_wan.assembly.plan import Plan
from mkdocs_wan.assembly.record import EngineState
from mkdocs_wan.page.directives import DirectiveError, find_directives, parse_options
from mkdocs_wan.page.embed import error_html, gallery_html, placeholder_html
from mkdocs_wan.page.spec import Presentation, SpecError, presentation_of

if TYPE_CHECKING:
    from mkdocs_wan.assembly.engine import UrlFor


class ShownAgain(EngineState):
    """Directives shown again outside their own page."""

    def render_again(
        self, html: str, page: str, url: Callable[[str], str | None], in_titles: Collection[str] = ()
    ) -> str:
        """Directives that survived into a page's final HTML because a theme or plugin rendered
        another page's Markdown again (a blog index's excerpts): each becomes the clip its own page
        already made, or a quiet box. Nothing is warned, queued or generated here: the directive's
        own page did that, with its real line. `url` gives a published file's URL, or None.
        A directive met in no page's Markdown but in a page's title (`in_titles`: front matter, shown
        in the nav's links) stays the invisible comment it was without the plugin."""
        out: list[str] = []
        labels: set[str] = set()
        end = 0
        for directive in find_directives(html):
            key = (directive.kind, directive.text)
            if key not in self.build.seen and key not in self.build.galleries and directive.text in in_titles:
                continue
            out.append(html[end : directive.start])
            end = directive.end
            batch = self.build.galleries.get((directive.kind, directive.text))
            if batch is not None:
                again = [self._shown_again(plan, show, page, url, labels) for plan, show in batch]
                out.append(gallery_html(again, "", len(again)))
                continue
            seen = self.build.seen.get((directive.kind, directive.text))
            try:
                if seen is None and "data" in (options := parse_options(directive)):
                    raise SpecError("a batch is shown on its own page only")
                if seen is None:  # not met on its own page (e.g. a draft post): plan it here
                    options = parse_options(directive)
                    seen = self._plan(options, directive.kind, page), presentation_of(self._filled(options)[0])
            except (DirectiveError, SpecError) as err:
                out.append(error_html(f"{page} (a directive shown again from another page)", str(err)))
                continue
            out.append(self._shown_again(*seen, page, url, labels))
        out.append(html[end:])
        return "".join(out)

    def _shown_again(
        self, plan: Plan, show: Presentation, page: str, url: Callable[[str], str | None], labels: set[str]
    ) -> str:
        src, poster = url(f"{plan.key}.mp4"), url(f"{plan.key}.jpg")
        if src is None or plan.key in self.build.failed:
            state = "generating…" if plan.key in self.build.deferred else "not generated"
            return placeholder_html(plan.display, plan.title, plan.key, state)
        published = {f"{plan.key}.mp4": src, f"{plan.key}.jpg": poster or ""}
        label = label_id(plan.key, labels, "wan-ai-copy-")
        url_of: UrlFor = lambda name, _path, p=published: p[name]  # noqa: E731
        return self._video(plan, show, page, url_of, bool(poster), label)
