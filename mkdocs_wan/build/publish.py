"""What a finished build publishes beside its pages: each clip's record, and the clips themselves
hard-linked into site_dir; and what it takes back: the files of clips that were not made.

Front ends own the list of site files (MkDocs' `Files`, the extension's static folder); this module
says which names to add or drop and does the file work that needs no MkDocs.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from mkdocs_wan.build.engine import PageEngine
from mkdocs_wan.build.fetch import published_record
from mkdocs_wan.store.layout import VIDEOS_DIR


def records(engine: PageEngine) -> Iterator[tuple[str, str]]:
    """(site path, JSON) of the record beside each clip the build has, so that another site's
    `fetch_from` can check a clip before trusting it."""
    build = engine.build
    for key, plan in build.plans.items():
        if key in build.cached or key in build.made:
            record = published_record(engine.cache, plan, engine.settings.model.name)
            if record is not None:
                yield f"{VIDEOS_DIR}/{key}.json", json.dumps(record, indent=1)


def unpublished(failed: Iterable[str]) -> Iterator[str]:
    """The site paths of the clips and posters of clips that were not made."""
    for key in failed:
        for suffix in ("mp4", "jpg"):
            yield f"{VIDEOS_DIR}/{key}.{suffix}"


def pages_to_fix(engine: PageEngine, failed: Iterable[str]) -> set[str]:
    """The pages that embed a clip that was not made (their embeds become notes)."""
    return {use.page for key in failed for use in engine.build.uses.get(key, ())}


def hard_link(pairs: Iterable[tuple[Path, Path]]) -> None:
    """Hard-link cached clips and posters into site_dir instead of letting the site copy them.

    MkDocs treats a destination that is the same file as its source as already copied, so a site
    with hundreds of clips costs no copying and no extra disk; across file systems the link fails
    and the site copies as usual.
    """
    for source, target in pairs:
        if source.is_file() and not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(OSError):
                os.link(source, target)
