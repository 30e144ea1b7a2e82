"""Settling a build: the clips its pages are missing are fetched, generated (here or by a running
service) or given up on, then judged by the review gate; failed ones become notes in their pages,
and one line sums the build up. A mixin of `PageEngine`, which holds the state it works on.
"""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING

from mkdocs_wan.assembly.record import EngineState, plural
from mkdocs_wan.logs import log, quoted
from mkdocs_wan.page.embed import error_html, placeholder_html, review_title, withheld_html

if TYPE_CHECKING:
    from mkdocs_wan.render.backends import Renderer
    from mkdocs_wan.render.remote import RemoteService


class Settling(EngineState):
    """What happens to the missing clips once every page is read."""

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
                    swaps[use.html] = (
                        error_html(use.where, problem, review_title(problem)) if self.writer_view else withheld_html()
                    )
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
        shown, queued = build.cached - build.previews, build.deferred - build.previews  # a preview is no clip
        cached = len(shown) - fetched + len(build.missing) - made - failed  # incl. made by another build
        total = len(shown) + len(build.missing) + len(queued) + len(build.absent)
        total += len(build.held.keys() - build.cached)  # rejected in review and not in the cache either
        counts = (
            (failed - len(build.skipped), "failed"),
            (len(build.skipped), "skipped (--strict)"),
            (sum(not why.startswith("rejected") for why in build.held.values()), "held for review"),
            (sum(why.startswith("rejected") for why in build.held.values()), "rejected in review"),
            (len(build.absent), "missing (generate: never)"),
            (len(queued), "queued"),
            (build.actors, "Ray actors"),
        )
        extra = "".join(f", {count} {label}" for count, label in counts if count)
        for previews, state in ((build.previews & build.deferred, "queued"), (build.previews & build.cached, "shown")):
            extra += f", {plural(len(previews), 'preview')} {state}" if previews else ""
        if self.settings.preview:  # a preview build says so, and with which model
            extra += f", previews from {quoted(self.settings.model.name)}"
        size = sum(p.stat().st_size for key in build.plans if (p := self.cache.path(key)).is_file())
        elapsed = time.perf_counter() - build.started
        got = f"{made} generated, {fetched} fetched" if self.settings["fetch_from"] else f"{made} generated"
        return f"{plural(total, 'clip')} ({size / 1e6:.1f} MB), {got}, {cached} cached{extra} in {elapsed:.1f} s"

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


_EMBED_START = re.compile(r'<figure class="wan-video')
