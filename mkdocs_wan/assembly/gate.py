"""The review gate: one verdict for every clip any front end would publish.

A clip reaches readers by many roads: rendered from the cache, made by this build, made by another
process sharing the cache (found there after waiting on its lock), fetched from another site,
shown as a serve preview, assembled from segments. Every road asks `verdict(plan)`, which looks at
every step of the plan, so a segment can never be published by a plain directive that happens to
have its key, and a fetched clip is judged like one made here (`vet` gives it this site's own QC
and safety verdicts first: the publishing site's are not ours to trust).

The rules: a rejection of any step is final; an approval of the clip (its last key) publishes it;
otherwise any QC or safety flag on any step holds it for review.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from mkdocs_wan.assembly.plan import Plan
from mkdocs_wan.store.cache import ClipCache

if TYPE_CHECKING:
    from mkdocs_wan.render.safety import SafetyCheck
    from mkdocs_wan.store.reviews import Decision


class ReviewGate:
    """Whether a plan's clip may be published, from the review file and every step's record."""

    def __init__(self, cache: ClipCache, reviews: Callable[[], dict[str, Decision]], review: bool) -> None:
        self.cache = cache
        self.reviews = reviews  # read lazily: most sites have no review file
        self.review = review  # `review: false` publishes flagged clips (rejections still hold)

    def verdict(self, plan: Plan) -> str | None:
        """Why the plan's clip is kept off the pages, or None to publish it."""
        rejected = self.rejection(plan)
        if rejected is not None:
            return rejected
        reviews = self.reviews()
        keys = [step.key for step in plan.steps]
        if plan.key in reviews or not self.review:
            return None  # approved as a whole
        reasons: list[str] = []
        for key in keys:
            if key in reviews:  # this segment was approved on its own
                continue
            for reason in self._flags(key):
                if reason not in reasons:
                    reasons.append(reason)
        if not reasons:
            return None
        return (
            f"held for review ({'; '.join(reasons)}); approve it with `mkdocs-wan approve {plan.key[:12]}` or reject it"
        )

    def rejection(self, plan: Plan) -> str | None:
        """The review file's rejection of the plan's clip or of one of its segments, or None: known
        without the clip, so a rejected clip missing from the cache is neither made again nor
        reported as merely missing."""
        reviews = self.reviews()
        for key in (step.key for step in plan.steps):
            decision = reviews.get(key)
            if decision is not None and decision.decision == "rejected":
                why = f": {decision.why}" if decision.why else ""
                part = "" if key == plan.key else f" (segment {key[:12]} of this clip)"
                return f"rejected in review by {decision.by or 'a reviewer'}{part}{why}"
        return None

    def rejected(self) -> set[str]:
        """Every key the review file rejects: kept out of any folder a site publishes, whether a
        page still uses it or not (a dirty build, or the extension's static folder, keeps old files)."""
        return {key for key, decision in self.reviews().items() if decision.decision == "rejected"}

    def _flags(self, key: str) -> list[str]:
        record = self.cache.checked_record(key) or self.cache.record(key) or {}
        safety = record.get("safety")
        if not record.get("quality") and not (isinstance(safety, dict) and safety.get("flagged")):
            return []  # the common case: nothing flagged, nothing more to import
        from mkdocs_wan.store.reviews import flags_of

        return flags_of(record)

    def vet(self, key: str, frames: int, safety: SafetyCheck | None) -> None:
        """Give a clip this site did not make (fetched) this site's own verdicts: QC over every
        frame and, with a `safety_model`, the model's; they join its record as if made here."""
        from mkdocs_wan.media.encode import read_frames
        from mkdocs_wan.media.quality import QualityMeter

        path = self.cache.path(key)
        meter = QualityMeter()
        for frame in read_frames(path):
            meter.add(frame)
        verdicts: dict[str, Any] = {"quality": meter.problem()}
        if safety is not None:
            verdicts["safety"] = safety(path, frames)
        self.cache.annotate(key, verdicts)
