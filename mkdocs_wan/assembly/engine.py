"""The page engine: one page's directives become embeds, placeholders or notes, plus the clips
still missing; after generation, failed clips become notes.

Every front end — the MkDocs plugin, the Markdown extension and the `mkdocs-wan` command — runs
its pages through `PageEngine` and passes in only what differs between them: how a cached file
gets a URL from a page, what happens to a missing clip, and where warnings go. Nothing here
imports MkDocs or model code; media work (posters) and generation are imported when needed.
The engine's other jobs have their own modules, mixed in: settling the missing clips
(`settle`), directives shown again outside their page (`reshow`), batches (`gallery`); the
build's record is `record`, messages' places `places`, one directive alone `single`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from functools import cached_property, partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from mkdocs_wan import __version__
from mkdocs_wan.assembly.gallery import Galleries
from mkdocs_wan.assembly.gate import ReviewGate
from mkdocs_wan.assembly.places import Lines, key_offset, label_id, printable, where_of
from mkdocs_wan.assembly.plan import Generate, Plan, plan_clip
from mkdocs_wan.assembly.record import BuildRecord, Rejection, Use
from mkdocs_wan.assembly.reshow import ShownAgain
from mkdocs_wan.assembly.settle import Settling
from mkdocs_wan.logs import log
from mkdocs_wan.media.pictures import resolve_image
from mkdocs_wan.page.directives import (
    Directive,
    DirectiveError,
    find_directives,
    misnamed_fence,
    near_misses,
    parse_options,
    worth_reading,
)
from mkdocs_wan.page.embed import (
    error_html,
    needs_pause_control,
    placeholder_html,
    review_title,
    video_html,
    withheld_html,
)
from mkdocs_wan.page.paragraphs import Splitter
from mkdocs_wan.page.sourcelines import misspelt_fences
from mkdocs_wan.page.spec import Presentation, SpecError, presentation_of
from mkdocs_wan.page.unclosed import PROBLEM as UNCLOSED
from mkdocs_wan.settings.options import Settings
from mkdocs_wan.store.cache import CacheError, ClipCache

if TYPE_CHECKING:
    from mkdocs_wan.media.credentials import Signer, Trust
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


class PageEngine(Settling, ShownAgain, Galleries):
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
        if not worth_reading(html) and not worth_reading(markdown):
            return html
        directives = find_directives(html, markdown, included)
        labels: set[str] = set()  # ids of this page's AI labels, which describe the videos
        page_out = Splitter(html)  # block content never inside a <p>
        out: list[str] = []
        end = 0
        for directive in directives:
            piece = self._replace(directive, page, url, missing, labels)
            placed, end = page_out.place(end, directive.start, directive.end, piece)
            out.append(placed)
        out.append(page_out.rest(end))
        lines = Lines(markdown)
        misses = near_misses(html)
        for text, problem in misses:
            self.warn(f"{where_of(page, lines.line_of(text))}: {problem}")
        shown = {text for text, _ in misses}  # a fence whose rendered block kept its name is warned above
        for line, name in misspelt_fences(markdown):
            if name not in shown:
                self.warn(f"{where_of(page, line)}: {misnamed_fence(name)}")
        return "".join(out)

    def _replace(self, directive: Directive, page: str, url: UrlFor, missing: Missing, labels: set[str]) -> str:
        """The markup that stands for one directive: its clip, its gallery, or a note saying why not."""
        where = where_of(directive.origin or page, directive.line)
        if directive.never_closed:  # a note, not a clip: it may be half typed (see page/unclosed.py)
            return self._reject(page, where, UNCLOSED)
        try:
            options = parse_options(directive)
            if "data" in options:
                return self._gallery(directive, options, page, where, url, missing, labels)
            plan = self._plan(options, directive.kind, page)
            show = presentation_of(self._filled(options)[0])
        except DirectiveError as err:
            line = directive.line + err.line_offset
            return self._reject(page, where_of(directive.origin or page, line), str(err))
        except SpecError as err:
            line = directive.line + key_offset(directive.text, err.option) if directive.kind == "fence" else 0
            return self._reject(page, where_of(directive.origin or page, line) if line else where, str(err))
        self.build.seen[(directive.kind, directive.text)] = (plan, show)
        try:
            label = label_id(plan.key, labels)
            preview = partial(self._plan, options, directive.kind, page, self.preview_settings)
            return self._embed(plan, show, page, where, url, missing, label, preview)
        except CacheError as err:
            if not callable(missing):
                raise  # a build stops with one line; serve shows the note and keeps serving
            return self._reject(page, where, str(err))

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
        build.previews.add(preview.key)
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
            html = error_html(where, held, review_title(held)) if self.writer_view else withheld_html()
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
        held = build.held.get(key) or (self.gate.verdict(plan) if ready else self.gate.rejection(plan))
        if held is not None:
            if ready:
                build.cached.add(key)
            if key not in build.held:
                build.held[key] = held
            self.warn(f"{where}: {held}: {plan.title}")
            html = error_html(where, held, review_title(held)) if self.writer_view else withheld_html()
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
                self.build.reviews, self.build.review_digest = {}, "absent"
            else:
                from mkdocs_wan.store.reviews import read_reviews

                self.build.reviews, self.build.review_digest = read_reviews(path)
        return self.build.reviews

    @cached_property
    def gate(self) -> ReviewGate:
        """The one review gate every road to a page goes through (`build.gate`)."""
        return ReviewGate(self.cache, lambda: self.reviews, self.settings["review"])

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
        problem = printable(problem)
        self.warn(f"{where}: {problem}")
        self.build.rejected.append(Rejection(page, where, problem))
        return error_html(where, problem)
