"""Batches: a fence with `data:` becomes one clip per row of its data file, shown as a gallery.
A mixin of `PageEngine`.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import TYPE_CHECKING, Any

from mkdocs_wan.assembly.places import label_id
from mkdocs_wan.assembly.plan import Plan
from mkdocs_wan.assembly.record import EngineState
from mkdocs_wan.page.directives import Directive
from mkdocs_wan.page.embed import gallery_html
from mkdocs_wan.page.spec import Presentation, SpecError, check_options, presentation_of
from mkdocs_wan.store.cache import CacheError

if TYPE_CHECKING:
    from mkdocs_wan.assembly.engine import Missing, UrlFor


class Galleries(EngineState):
    """One directive, many clips: a row each."""

    def _gallery(
        self,
        directive: Directive,
        options: Mapping[str, Any],
        page: str,
        where: str,
        url: UrlFor,
        missing: Missing,
        labels: set[str],
    ) -> str:
        """A batch (`data:` + `template:`): one clip per row of the data file, as a gallery. A
        problem with the block or the file refuses it whole (SpecError); a bad row is a note in
        its place, naming the file and row, and the other rows go on."""
        from mkdocs_wan.page.batches import BATCH_OPTIONS, BadCell, read_rows
        from mkdocs_wan.page.templates import lookup

        if directive.kind != "fence":
            raise SpecError("data: needs the fenced form (a video-gen block with YAML)", "data")
        if "template" not in options:
            raise SpecError("a batch (data:) needs template: naming the template each row fills", "data")
        if "prompt" in options or "segments" in options:
            raise SpecError("a batch's prompts come from its template and rows: remove prompt/segments", "data")
        template = lookup(options["template"], self.settings["templates"] or {})
        check_options({k: v for k, v in options.items() if k not in BATCH_OPTIONS and k != "template"})
        name, rows = read_rows(options["data"], page, self.settings.docs_dir)
        column = options.get("caption_column")
        if column is not None and (not isinstance(column, str) or column not in rows[0]):
            raise SpecError(
                f"caption_column {str(column)[:40]!r} is not a column of {name} (its columns: {', '.join(rows[0])})",
                "caption_column",
            )
        absent = [field for field in template.fields if field not in rows[0]]
        if absent:
            raise SpecError(
                f"{name} has no column {', '.join(absent)} for template {template.name!r} (its columns: "
                f"{', '.join(rows[0])[:200]})",
                "data",
            )
        shared = {k: v for k, v in options.items() if k not in BATCH_OPTIONS}
        items: list[str] = []
        shown: list[tuple[Plan, Presentation]] = []
        used = [*template.fields, *([column] if column is not None else [])]
        for number, row in enumerate(rows, start=1):
            bad = next((cell for f in used if isinstance(cell := row.get(f), BadCell)), None)
            if bad is not None:
                items.append(self._reject(page, where, f"{name} {row.label or f'row {number}'}: {bad.problem}"))
                continue
            row_options = {**shared, **{f: row[f] for f in template.fields if f in row}}
            if column is not None:
                row_options["caption"] = row.get(column, "")
            try:
                plan = self._plan(row_options, "fence", page)
                show = presentation_of(self._filled(row_options)[0])
            except SpecError as err:
                items.append(self._reject(page, where, f"{name} {row.label or f'row {number}'}: {err}"))
                continue
            shown.append((plan, show))
            try:
                preview = partial(self._plan, row_options, "fence", page, self.preview_settings)
                label = label_id(plan.key, labels)
                items.append(self._embed(plan, show, page, where, url, missing, label, preview))
            except CacheError as err:
                if not callable(missing):
                    raise
                items.append(self._reject(page, where, str(err)))
        self.build.galleries[(directive.kind, directive.text)] = shown
        return gallery_html(items, name, len(shown))
