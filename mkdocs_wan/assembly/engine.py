"""The page engine: one page's directives become embeds, placeholders or notes, plus the clips
still missing; after generation, failed clips become notes.

Every front end — the MkDocs plugin, the Markdown extension and the `mkdocs-wan` command — runs
its pages through `PageEngine` and passes in only what differs between them: how a cached file
gets a URL from a page, what happens to a missing clip, and where warnings go. Nothing here
imports MkDocs or model code; media work (posters) and generation are imported when needed.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from functools import cached_property, partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from mkdocs_wan import __version__
from mkdocs_wan.assembly.gate import ReviewGate
from mkdocs_wan.assembly.plan import Generate, Plan, plan_clip
from mkdocs_wan.logs import log, quoted
from mkdocs_wan.media.pictures import resolve_image
from mkdocs_wan.page.directives import Directive, DirectiveError, find_directives, near_misses, parse_options
from mkdocs_wan.page.embed import (
    error_html,
    gallery_html,
    needs_pause_control,
    placeholder_html,
    review_title,
    video_html,
)
from mkdocs_wan.page.spec import Presentation, SpecError, check_options, presentation_of
from mkdocs_wan.settings.options import Settings
from mkdocs_wan.store.cache import CacheError, ClipCache

if TYPE_CHECKING:
    from mkdocs_wan.media.credentials import Signer, Trust
    from mkdocs_wan.render.backends import Renderer
    from mkdocs_wan.render.remote import RemoteService
    from mkdocs_wan.render.safety import SafetyCheck
    from mkdocs_wan.store.reviews import Decision

#: A page's URL for a cached file: (file name such as `<key>.mp4`, its path in the cache) -> URL.
UrlFor = Callable[[str, Path], str]
#: Serve's policy for a missing clip: queue it (the preview model's when `preview`) and show a
#: placeholder; or return the message of its earlier failure to show a note instead.
Defer = Callable[..., "str | None"]
#: What to do with a clip that is not cached: generate it in this build (`PageEngine.generate`),
#: show a placeholder and warn (`generate: never`), or hand it to serve's worker.
Missing = Literal["generate", "never"] | Defer


@dataclass(frozen=True)
class Use:
    """One directive's embed on one page, kept so a failed clip can be swapped for a note."""

    page: str  # the page's path in docs_dir
    where: str  # page.md:LINE
    html: str


@dataclass(frozen=True)
class Rejection:
    """A directive that could not become a clip, and why."""

    page: str
    where: str
    problem: str


@dataclass
class BuildRecord:
    """What one build found and made; a fresh one per build (`mkdocs serve` rebuilds)."""

    started: float = field(default_factory=time.perf_counter)
    since: float = field(default_factory=time.time)  # clips recorded after this were made by this build
    plans: dict[str, Plan] = field(default_factory=dict)  # every clip the pages reference
    uses: dict[str, list[Use]] = field(default_factory=dict)
    cached: set[str] = field(default_factory=set)
    missing: dict[str, Plan] = field(default_factory=dict)  # to generate in this build
    deferred: set[str] = field(default_factory=set)  # queued for serve's worker
    absent: set[str] = field(default_factory=set)  # not cached, `generate: never`
    rejected: list[Rejection] = field(default_factory=list)
    seen: dict[tuple[str, str], tuple[Plan, Presentation]] = field(default_factory=dict)  # directive -> clip
    galleries: dict[tuple[str, str], list[tuple[Plan, Presentation]]] = field(default_factory=dict)  # batches
    made: set[str] = field(default_factory=set)
    fetched: set[str] = field(default_factory=set)  # came from a `fetch_from` site (also in `cached`)
    skipped: set[str] = field(default_factory=set)  # not tried: a doomed --strict build (also in `failed`)
    failed: dict[str, str] = field(default_factory=dict)
    held: dict[str, str] = field(default_factory=dict)  # made, but kept off the pages by review: why
    reviews: dict[str, Decision] | None = None  # the review file's decisions, once read
    sources: dict[str, tuple[str, Mapping[str, Any], str]] = field(default_factory=dict)  # key -> kind, options, page
    actors: int = 0  # Ray actors that rendered clips

    def keys(self, page: str) -> set[str]:
        """The clips a page references (for serve: drop queued clips no page wants)."""
        return {key for key, uses in self.uses.items() if any(use.page == page for use in uses)}


class PageEngine:
    """Directives → clips for one site (its settings and cache), one page at a time."""

    def __init__(self, settings: Settings, cache: ClipCache, warn: Callable[[str], None] | None = None) -> None:
        self.settings = settings
        self.cache = cache
        self.warn = warn or log.warning
        self.build = BuildRecord()
        self._trust: Trust | None = None

    @cached_property
    def signer(self) -> Signer | None:
        """Signs each clip made for this site (None with `credentials: false`); the identity loads on first use."""
        from mkdocs_wan.media.credentials import signer_for

        s = self.settings
        folder = self.cache.layout.credentials
        return signer_for(s["credentials"], s["signing_cert"], s["signing_key"], s.base_dir, folder)

    def trust(self) -> Trust | None:
        """Whose clips made elsewhere this site takes (None: `credentials: false`); worked out once
        per engine (it reads the identity and the anchors), when a clip is first fetched."""
        if self.signer is None:
            return None
        if self._trust is None:
            from mkdocs_wan.media.credentials import site_trust

            self._trust = site_trust(self.signer.identity, self.settings["trust_anchors"], self.settings.base_dir)
        return self._trust

    @cached_property
    def preview_settings(self) -> Settings | None:
        """Under serve, the settings that make previews first (`preview_model`, `serve_model`)."""
        s = self.settings
        if s["preview_model"] is None or s.preview or s["serve_model"] == "final":
            return None
        return Settings({**s.options, "preset": "preview"}, s.base_dir, s.docs_dir)

    def new_build(self) -> BuildRecord:
        self.build = BuildRecord()
        return self.build

    def render(
        self,
        html: str,
        markdown: str,
        page: str,
        url: UrlFor,
        missing: Missing = "generate",
        included: Mapping[str, str] | None = None,
    ) -> str:
        """`html` with each directive replaced; `markdown` is the page's source as an editor shows
        it (for line numbers), `included` the files it pulls in ({name: text}, e.g. snippets)."""
        directives = find_directives(html, markdown, included)
        labels: set[str] = set()  # ids of this page's AI labels, which describe the videos
        out: list[str] = []
        end = 0
        for directive in directives:
            out.append(html[end : directive.start])
            end = directive.end
            where = _where(directive.origin or page, directive.line)
            try:
                options = parse_options(directive)
                if "data" in options:
                    out.append(self._gallery(directive, options, page, where, url, missing, labels))
                    continue
                plan = self._plan(options, directive.kind, page)
                show = presentation_of(self._filled(options)[0])
            except DirectiveError as err:
                line = directive.line + err.line_offset
                out.append(self._reject(page, _where(directive.origin or page, line), str(err)))
                continue
            except SpecError as err:
                line = directive.line + _key_offset(directive.text, err.option) if directive.kind == "fence" else 0
                out.append(self._reject(page, _where(directive.origin or page, line) if line else where, str(err)))
                continue
            self.build.seen[(directive.kind, directive.text)] = (plan, show)
            try:
                label = _label_id(plan.key, labels)
                preview = partial(self._plan, options, directive.kind, page, self.preview_settings)
                out.append(self._embed(plan, show, page, where, url, missing, label, preview))
            except CacheError as err:
                if not callable(missing):
                    raise  # a build stops with one line; serve shows the note and keeps serving
                out.append(self._reject(page, where, str(err)))
        out.append(html[end:])
        lines = _Lines(markdown)
        for text, problem in near_misses(html):
            self.warn(f"{_where(page, lines.line_of(text))}: {problem}")
        return "".join(out)

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
        label = _label_id(plan.key, labels, "wan-ai-copy-")
        url_of: UrlFor = lambda name, _path, p=published: p[name]  # noqa: E731
        return self._video(plan, show, page, url_of, bool(poster), label)

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
                items.append(self._reject(page, where, f"{name} row {number}: {bad.problem}"))
                continue
            row_options = {**shared, **{f: row[f] for f in template.fields if f in row}}
            if column is not None:
                row_options["caption"] = row.get(column, "")
            try:
                plan = self._plan(row_options, "fence", page)
                show = presentation_of(self._filled(row_options)[0])
            except SpecError as err:
                items.append(self._reject(page, where, f"{name} row {number}: {err}"))
                continue
            shown.append((plan, show))
            try:
                preview = partial(self._plan, row_options, "fence", page, self.preview_settings)
                label = _label_id(plan.key, labels)
                items.append(self._embed(plan, show, page, where, url, missing, label, preview))
            except CacheError as err:
                if not callable(missing):
                    raise
                items.append(self._reject(page, where, str(err)))
        self.build.galleries[(directive.kind, directive.text)] = shown
        return gallery_html(items, name, len(shown))

    def settle(self, strict_warnings: int | None = None) -> dict[str, str]:
        """Deal with every clip this build is missing, before the site copies its files; return
        {key: problem} for those not to publish (not made, or held by review). `strict_warnings`
        (under `--strict`: warnings so far) above 0 means the build will fail anyway, so no model
        time goes into it.

        A model that cannot load or a cache that cannot be written stops everything (raised).
        """
        return {**self._settle(strict_warnings), **self.build.held}

    def _settle(self, strict_warnings: int | None) -> dict[str, str]:
        build = self.build
        if not build.missing:
            return {}
        if strict_warnings:
            log.warning(
                "--strict and %s already: generating none of the %s, so no GPU time goes into a build "
                "that will fail; fix the warnings above first",
                plural(strict_warnings, "warning"),
                plural(len(build.missing), "missing clip"),
            )
            return self.skip_missing("not generated: this --strict build already had warnings")
        if self.settings["generate"] == "never":  # fetching (`fetch_from`) is all it may do
            fetched = self.fetch()
            self._judge([key for key in build.plans if key in fetched])
            return dict.fromkeys(self.keep_missing(), "not generated")  # placeholders, not failures
        from mkdocs_wan.render import backends

        return self.generate(backends.renderer(self.settings))

    def generate(self, renderer: Renderer) -> dict[str, str]:
        """Make every clip this build is missing; return {key: problem} for those that failed.

        A model that cannot load or a cache that cannot be written stops everything (raised).
        """
        from mkdocs_wan.assembly.jobs import generate_missing

        build = self.build
        pending = list(build.missing)  # made here, fetched, or found made by another process: all judged
        self.cache.sweep()  # temp files of builds that were killed
        self.fetch()
        if build.missing and self.signer is not None:
            self.signer.identity  # noqa: B018 — a bad identity stops the build before any model work
        if build.missing:
            self.reviews  # noqa: B018 — a broken review file stops the build before any model work
        service = self.service() if build.missing else None
        if build.missing and self.safety is not None and service is None:
            self.safety.load()  # a safety model that cannot load stops the build before any video is made
        if service is not None:  # one resident model for every client: the service makes them
            preset = "preview" if self.settings.preview else "final"
            made, failures = service.make(build.missing, build.sources, preset=preset)
        else:
            made, failures = generate_missing(
                build.missing, self.cache, renderer, self.settings.meta, self.signer, self.safety
            )
        build.made |= made
        build.actors = len(getattr(renderer, "used", ())) if made else 0
        stages: dict[str, float] = {}
        for key in made:
            for step in build.plans[key].steps:
                record = self.cache.record(step.key) or {}
                for stage, seconds in (
                    (record.get("timings") or {}).items() if record.get("created", 0) >= build.since else ()
                ):
                    stages[stage] = stages.get(stage, 0.0) + seconds
        if stages:
            log.debug("stage times: %s", ", ".join(f"{stage} {seconds:.3f} s" for stage, seconds in stages.items()))
        self._judge([key for key in pending if key not in failures])
        for key, err in failures.items():
            build.failed[key] = str(err)
            for use in build.uses[key]:
                self.warn(f"{use.where}: generation failed: {err}")
        return build.failed

    def service(self) -> RemoteService | None:
        """A running `mkdocs-wan service` for this site (`use_service`), found through the cache."""
        if not self.settings["use_service"]:
            return None
        from mkdocs_wan.render.remote import find_service

        return find_service(self.settings.cache_root, self.settings.base_dir)

    def fetch(self) -> set[str]:
        """Fetch missing clips from the `fetch_from` sites before any model work; the keys fetched."""
        build, roots = self.build, self.settings["fetch_from"]
        if not roots or not build.missing:
            return set()
        from mkdocs_wan.assembly.fetch import Fetcher

        fetcher = Fetcher(roots, self.trust())
        try:
            fetched = fetcher.fetch_all(build.missing, self.cache, self.settings.meta)
        finally:
            fetcher.close()
        for key in fetched:
            del build.missing[key]
            build.cached.add(key)
            build.fetched.add(key)
        return set(fetched)

    def keep_missing(self) -> set[str]:
        """`generate: never` once fetching had its chance: each clip still missing is a warning and
        a "not generated" box, as if it had been missing from the start; the keys given up."""
        build = self.build
        for key, plan in build.missing.items():
            for use in build.uses[key]:
                self.warn(f"{use.where}: clip not in the cache and `generate: never`: {plan.title}")
            build.absent.add(key)
        given_up = set(build.missing)
        build.missing.clear()
        return given_up

    def skip_missing(self, reason: str) -> dict[str, str]:
        """Give up on every missing clip without generating (a doomed --strict build): each
        counts as failed with `reason`, so its embed becomes a note and nothing is published."""
        for key in self.build.missing:
            self.build.failed[key] = reason
            self.build.skipped.add(key)
        return self.build.failed

    def swap_failures(self, html: str, page: str) -> str:
        """A rendered page with each failed clip's embed replaced by a note saying why (and each
        clip missing under `generate: never` by its box), in one pass over the page: a page with
        thousands of failed clips costs as much as one with a single failure."""
        swaps: dict[str, str] = {}
        for key, problem in self.build.held.items():
            for use in self.build.uses.get(key, ()):
                if use.page == page and use.html:
                    swaps[use.html] = error_html(use.where, problem, review_title(problem))
        for key, problem in self.build.failed.items():
            note = problem if problem.startswith("not generated") else f"generation failed: {problem}"
            for use in self.build.uses.get(key, ()):
                if use.page == page and use.html:
                    swaps[use.html] = error_html(use.where, note)
        for key in self.build.absent:
            plan = self.build.plans[key]
            for use in self.build.uses.get(key, ()):
                if use.page == page and use.html:
                    swaps[use.html] = placeholder_html(plan.display, plan.title, key, "not generated")
        if not swaps:
            return html
        out: list[str] = []
        cursor = 0
        for match in _EMBED_START.finditer(html):  # an embed is one <figure> with no figure inside
            end = html.find("</figure>", match.start())
            embed = html[match.start() : end + len("</figure>")] if end != -1 else ""
            if embed in swaps:
                out += [html[cursor : match.start()], swaps[embed]]
                cursor = match.start() + len(embed)
        return "".join([*out, html[cursor:]])

    def summary(self) -> str:
        """The line that closes every build: clips, size, generated, cached, the rest, time."""
        build = self.build
        made, failed = len(build.made), len(build.failed)
        fetched = len(build.fetched)
        cached = len(build.cached) - fetched + len(build.missing) - made - failed  # incl. made by another build
        total = len(build.cached) + len(build.missing) + len(build.deferred) + len(build.absent)
        counts = (
            (failed - len(build.skipped), "failed"),
            (len(build.skipped), "skipped (--strict)"),
            (sum(not why.startswith("rejected") for why in build.held.values()), "held for review"),
            (sum(why.startswith("rejected") for why in build.held.values()), "rejected in review"),
            (len(build.absent), "missing (generate: never)"),
            (len(build.deferred), "queued"),
            (build.actors, "Ray actors"),
        )
        extra = "".join(f", {count} {label}" for count, label in counts if count)
        if self.settings.preview:  # a preview build says so, and with which model
            extra += f", previews from {quoted(self.settings.model.name)}"
        size = sum(p.stat().st_size for key in build.plans if (p := self.cache.path(key)).is_file())
        elapsed = time.perf_counter() - build.started
        got = f"{made} generated, {fetched} fetched" if self.settings["fetch_from"] else f"{made} generated"
        return f"{plural(total, 'clip')} ({size / 1e6:.1f} MB), {got}, {cached} cached{extra} in {elapsed:.1f} s"

    def _filled(self, options: Mapping[str, Any]) -> tuple[dict[str, Any], str]:
        """A directive's options with its template filled in, and the style its prompt takes."""
        if "template" not in options:
            return dict(options), self.settings["style"]
        from mkdocs_wan.page.templates import apply_template

        filled, style = apply_template(options, self.settings["templates"] or {})
        return filled, self.settings["style"] if style is None else style

    def _plan(self, raw: Mapping[str, Any], kind: str, page: str, settings: Settings | None = None) -> Plan:
        """The directive's plan; refused (SpecError) before any model work if the site's policy forbids a prompt."""
        options, style = self._filled(raw)
        if "template" in raw and "segments" in options:
            raise SpecError("a template writes one prompt; it cannot be combined with segments", "segments")
        if "segments" in options and kind != "fence":
            raise SpecError("segments need the fenced form (a video-gen block with YAML)")
        settings = settings or self.settings
        image = None
        if "image" in options:
            path, sha256, data = resolve_image(options["image"], page, settings.docs_dir)
            image = (self.cache.keep_picture(sha256, data, path.name) or path, sha256)
        plan = plan_clip(
            options,
            settings.clip_defaults,
            style,
            settings.fingerprint,
            settings["crf"],
            image,
            draft=settings["preset"] == "draft",
            family=settings.family,
            image_fingerprint=settings.image_fingerprint,
            lora=settings.lora_digest,
            flow_shift=settings["flow_shift"],
            solver=settings["sampler"],
            image_family=settings.image_family,
            image_lora=settings.image_lora_digest,
        )
        policy = self.settings["policy"]
        if policy is not None:
            for step in plan.steps:
                if isinstance(step, Generate):
                    policy.check(step.spec.prompt)
            policy.check(plan.title)  # a segmented clip's own prompt: its caption, name and title tag
            for shown in ("caption", "alt"):  # the page shows these beside the clip
                if isinstance(options.get(shown), str):
                    policy.check(options[shown], shown)
        self.build.sources[plan.key] = (kind, raw, page)  # what a local service is sent to make it
        return plan

    def _preview(
        self,
        plan: Plan,
        show: Presentation,
        page: str,
        where: str,
        url: UrlFor,
        defer: Defer,
        label: str,
        preview: Plan,
    ) -> str:
        """Serve with a preview model: the preview's clip (or its placeholder) until the final
        lands; both are queued, the preview first (`serve_model: both`), or the preview only."""
        build = self.build
        build.plans[preview.key] = preview
        ready = self._ready(preview.key, where)
        failure = None if ready else defer(preview, where, preview_clip=True)
        if self.settings["serve_model"] == "both":
            failure = defer(plan, where) or failure
            build.deferred.add(plan.key)
            build.uses.setdefault(plan.key, []).append(Use(page, where, ""))
        if failure is not None and not ready:
            return self._reject(page, where, f"generation failed: {failure}")
        held = self.gate.verdict(preview) if ready else None
        if held is not None:  # a preview is published too: the same gate
            self.warn(f"{where}: {held}: {preview.title}")
            html = error_html(where, held, review_title(held))
        elif not ready:
            build.deferred.add(preview.key)
            html = placeholder_html(preview.display, preview.title, preview.key, "generating preview…")
        else:
            poster = self._poster(preview.key, where)
            build.cached.add(preview.key)
            html = self._video(preview, show, page, url, poster, label, self.preview_settings)
        build.uses.setdefault(preview.key, []).append(Use(page, where, html))
        return html

    def _preview_plan(self, preview_of: Callable[[], Plan], where: str) -> Plan | None:
        """The preview of a missing clip, if the site has a preview model that can make it."""
        if self.preview_settings is None:
            return None
        try:
            return preview_of()
        except SpecError as err:
            log.info("%s: no preview (%s); the final clip is generated directly", where, err)
            return None

    def _poster(self, key: str, where: str) -> bool:
        """Make a cached clip's poster if it is missing (e.g. deleted by hand); False if it cannot be."""
        from mkdocs_wan.media.posters import ensure_poster

        try:
            ensure_poster(self.cache, key)
        except (OSError, RuntimeError) as err:  # read-only cache, undecodable clip: no poster, say why
            self.warn(f"{where}: cannot make the clip's poster: {err}")
            return False
        return True

    def _embed(
        self,
        plan: Plan,
        show: Presentation,
        page: str,
        where: str,
        url: UrlFor,
        missing: Missing,
        label: str,
        preview_of: Callable[[], Plan],
    ) -> str:
        key, build = plan.key, self.build
        seconds = plan.frames / plan.display.fps
        if not show.controls and needs_pause_control(show, seconds):
            moving = "that loops" if show.loop else f"of {seconds:.1f} s"
            log.info(
                "%s: controls=false overridden: an autoplaying clip %s keeps its controls so readers can "
                "pause it (WCAG 2.2.2); add autoplay=false (or loop=false for a clip of 5 s or less) to hide them",
                where,
                moving,
            )
        build.plans[key] = plan
        ready = self._ready(key, where)
        poster = True
        if ready and (held := build.held.get(key) or self.gate.verdict(plan)) is not None:
            build.cached.add(key)
            if key not in build.held:
                build.held[key] = held
            self.warn(f"{where}: {held}: {plan.title}")
            html = error_html(where, held, review_title(held))
            build.uses.setdefault(key, []).append(Use(page, where, html))
            return html
        if ready:
            poster = self._poster(key, where)
            build.cached.add(key)
        if not ready and missing == "never" and not self.settings["fetch_from"]:
            self.warn(f"{where}: clip not in the cache and `generate: never`: {plan.title}")
            build.absent.add(key)
            html = placeholder_html(plan.display, plan.title, key, state="not generated")
        elif not ready and callable(missing) and (preview := self._preview_plan(preview_of, where)) is not None:
            html = self._preview(plan, show, page, where, url, missing, label, preview)
        elif not ready and callable(missing):
            failure = missing(plan, where)
            if failure is not None:
                return self._reject(page, where, f"generation failed: {failure}")
            build.deferred.add(key)
            html = placeholder_html(plan.display, plan.title, key)
        else:
            if not ready:
                build.missing[key] = plan
            html = self._video(plan, show, page, url, poster, label)
        build.uses.setdefault(key, []).append(Use(page, where, html))
        return html

    def _video(
        self,
        plan: Plan,
        show: Presentation,
        page: str,
        url: UrlFor,
        poster: bool,
        label: str,
        settings: Settings | None = None,
    ) -> str:
        key, settings = plan.key, settings or self.settings
        provenance = {
            "prompt": plan.title,
            "model": settings.model.name,
            "seed": str(plan.display.seed),
            "generator": f"mkdocs-wan {__version__}",
        }
        if settings.preview:
            provenance["preview"] = "true"
        return video_html(
            url(f"{key}.mp4", self.cache.path(key)),
            url(f"{key}.jpg", self.cache.poster_path(key)) if poster else None,
            plan.display,
            plan.frames,
            plan.title,
            key,
            show,
            provenance,
            self.settings["ai_label"],
            label,
            preview=settings.preview,
        )

    @cached_property
    def safety(self) -> SafetyCheck | None:
        """The check run on every new clip (`safety_model`), or None; it loads when a clip is made."""
        name = self.settings["safety_model"]
        if name is None:
            return None
        from mkdocs_wan.models.families import FamilyError
        from mkdocs_wan.models.reference import ModelRef
        from mkdocs_wan.render.safety import SafetyCheck

        try:  # a local folder (relative to mkdocs.yml) or a Hub id, read as `model` is
            ref = ModelRef.resolve(name, self.settings.base_dir)
            location = name if ref.source == "tiny" else ref.location
        except FamilyError:  # a loop of links: loading says so, in one line, when a clip is made
            location = str(self.settings.base_dir / name)
        return SafetyCheck(location, name, self.settings["safety_labels"], self.settings["safety_threshold"])

    @property
    def reviews(self) -> dict[str, Decision]:
        """The site's review decisions (`review_file`), read once per build (serve: per rebuild)."""
        if self.build.reviews is None:
            path = self.settings.review_path
            if not os.path.lexists(path):  # most sites: no decisions, nothing to import
                self.build.reviews = {}
            else:
                from mkdocs_wan.store.reviews import load_reviews

                self.build.reviews = load_reviews(path)
        return self.build.reviews

    @cached_property
    def gate(self) -> ReviewGate:
        """The one review gate every road to a page goes through (`build.gate`)."""
        return ReviewGate(self.cache, lambda: self.reviews, self.settings["review"])

    def _judge(self, keys: list[str]) -> None:
        """Hold the clips among `keys` (newly in the cache: made, fetched, or made by another
        process) that the gate keeps off the pages, in page order; warn about the rest's flags.
        A fetched clip first gets this site's own QC and safety verdicts."""
        build = self.build
        wanted = set(keys)
        for key in [key for key in build.plans if key in wanted and self.cache.has(key)]:
            record = self.cache.record(key) or {}
            verdict = record.get("safety") if isinstance(record.get("safety"), dict) else {}
            unjudged = self.safety is not None and (verdict.get("model"), verdict.get("threshold")) != (
                self.safety.name,
                self.safety.threshold,
            )  # made by another site's process sharing the cache
            if (key in build.fetched and "quality" not in record) or unjudged:
                self.gate.vet(key, build.plans[key].frames, self.safety)
            held = self.gate.verdict(build.plans[key])
            if held is not None:
                build.held[key] = held
                for use in build.uses[key]:
                    self.warn(f"{use.where}: {held}: {build.plans[key].title}")
                continue
            from mkdocs_wan.store.reviews import flags_of

            reasons = flags_of(self.cache.record(key) or {})  # `review: false` (or approved): warn, publish
            for use in build.uses[key] if reasons else ():
                self.warn(f"{use.where}: {'; '.join(reasons)}: {build.plans[key].title}")

    def _ready(self, key: str, where: str) -> bool:
        """Is the clip cached and intact? Checked once per key per build."""
        build = self.build
        if key in build.cached or key in build.missing or key in build.deferred or key in build.absent:
            return key in build.cached
        status = self.cache.check(key)
        if status == "corrupt":
            self.warn(f"{where}: cached clip {key[:12]} failed its checksum (truncated or altered); regenerating")
        elif status == "unrecorded":
            sidecar = self.cache.sidecar_path(key).name
            self.warn(
                f"{where}: cached clip {key[:12]} has no record to check it by (no index entry; {sidecar} "
                "is missing or unreadable); regenerating"
            )
        return status == "ok"

    def _reject(self, page: str, where: str, problem: str) -> str:
        problem = _printable(problem)
        self.warn(f"{where}: {problem}")
        self.build.rejected.append(Rejection(page, where, problem))
        return error_html(where, problem)


_EMBED_START = re.compile(r'<figure class="wan-video')


def plural(number: int, thing: str) -> str:
    """`1 clip`, `2 clips`."""
    return f"{number} {thing}" if number == 1 else f"{number} {thing}s"


def _label_id(key: str, taken: set[str], prefix: str = "wan-ai-") -> str:
    """A page-unique id for a clip's AI label (the same clip may appear twice on a page)."""
    base = f"{prefix}{key[:12]}"
    label = base
    while label in taken:
        label = f"{base}-{len(taken)}"
    taken.add(label)
    return label


def _key_offset(yaml_text: str, option: str | None) -> int:
    """How many lines below its fence line a fenced block's `option:` key stands (0: not found)."""
    if not option:
        return 0
    key = re.compile(rf"^[\s-]*{re.escape(option)}\s*:")
    for number, line in enumerate(yaml_text.splitlines(), start=1):
        if key.match(line):
            return number
    return 0


class _Lines:
    """Source lines of texts found in page order: each search starts where the last one was
    found and its newlines are counted once, so thousands of near misses on a page cost one pass
    (and a text that appears twice gets each of its lines, not the first one twice)."""

    def __init__(self, markdown: str) -> None:
        self.markdown, self.at, self.line, self.next = markdown, 0, 1, 0

    def line_of(self, text: str) -> int:
        """The line of the next place `text` appears (1 if it cannot be found)."""
        found = self.markdown.find(text, self.next)
        if found < 0:  # out of order: count from the start, and keep the cursor
            found = self.markdown.find(text)
            return self.markdown.count("\n", 0, found) + 1 if found >= 0 else 1
        self.line += self.markdown.count("\n", self.at, found)
        self.at, self.next = found, found + 1
        return self.line


def _where(page: str, line: int) -> str:
    """`page.md:LINE`, or `line LINE` where the front end cannot say which page it renders."""
    # A page's file name is the writer's text too: one line, control and bidi characters escaped.
    return f"{quoted(page, 300)}:{line}" if page else f"line {line}"


def _printable(text: str) -> str:
    """A message that any log, terminal and UTF-8 page can hold (no NUL, no lone surrogate)."""
    return "".join("\ufffd" if char == "\0" or "\ud800" <= char <= "\udfff" else char for char in text)
