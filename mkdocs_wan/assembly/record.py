"""What one build found and made: the record a fresh build starts (`mkdocs serve` rebuilds)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mkdocs_wan.assembly.plan import Plan

if TYPE_CHECKING:
    from mkdocs_wan.page.spec import Presentation
    from mkdocs_wan.settings.options import Settings
    from mkdocs_wan.store.cache import ClipCache
    from mkdocs_wan.store.reviews import Decision


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
    previews: set[str] = field(default_factory=set)  # serve's previews (`preview_model`): not clips of their own
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
    review_digest: str = "absent"  # the digest of the bytes `reviews` came from (`--dirty` notes it)
    sources: dict[str, tuple[str, Mapping[str, Any], str]] = field(default_factory=dict)  # key -> kind, options, page
    actors: int = 0  # Ray actors that rendered clips

    def keys(self, page: str) -> set[str]:
        """The clips a page references (for serve: drop queued clips no page wants)."""
        return {key for key, uses in self.uses.items() if any(use.page == page for use in uses)}


def plural(number: int, thing: str) -> str:
    """`1 clip`, `2 clips`."""
    return f"{number} {thing}" if number == 1 else f"{number} {thing}s"


class EngineState:
    """What the page engine's parts share: the site's settings and cache, this build's record, and
    where warnings go (`PageEngine` sets them; its mixins read them)."""

    settings: Settings
    cache: ClipCache
    build: BuildRecord
    warn: Callable[[str], None]
    writer_view: bool = False  # `mkdocs serve`: a withheld clip's box says why (readers get a neutral one)
