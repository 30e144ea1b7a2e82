"""What a finished build publishes beside its pages: the clips and posters, hard-linked from the
cache into site_dir, and each clip's record; and what it takes back: the files of clips that were
not made.

The plugin places these itself once MkDocs has written the site (MkDocs lets plugins write into
site_dir) instead of adding 3 files per clip to MkDocs' `Files`: for a site with hundreds of clips,
MkDocs' per-file copy work was a third of a fully cached build's cost.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from mkdocs_wan.assembly.engine import PageEngine
from mkdocs_wan.assembly.plan import Plan
from mkdocs_wan.store.cache import ClipCache
from mkdocs_wan.store.layout import VIDEOS_DIR


def published_record(cache: ClipCache, plan: Plan, model: str) -> dict[str, Any] | None:
    """What a site publishes next to a clip so that others can check it before using it."""
    record = cache.record(plan.key)
    if record is None or "sha256" not in record:
        return None
    display = plan.display
    return {
        "key": plan.key,
        "sha256": record["sha256"],
        "bytes": record["bytes"],
        "frames": plan.frames,
        "width": display.width,
        "height": display.height,
        "fps": display.fps,
        "model": model,
    }


def records(engine: PageEngine) -> Iterator[tuple[str, Path | str]]:
    """(site path, file or JSON text) of the record beside each clip the build has, so that
    another site's `fetch_from` can check a clip before trusting it. Each is kept in the cache
    once and linked like its clip; where the cache is read-only, the text is written instead."""
    build, cache = engine.build, engine.cache
    for key, plan in build.plans.items():
        if (key not in build.cached and key not in build.made) or key in build.held:
            continue

        def text(plan: Plan = plan) -> str | None:
            record = published_record(cache, plan, engine.settings.model.name)
            return None if record is None else json.dumps(record, indent=1)

        kept = cache.published_record(key, text)
        content = kept or text()
        if content is not None:
            yield f"{VIDEOS_DIR}/{key}.json", content


def unpublished(failed: Iterable[str]) -> Iterator[str]:
    """The site paths of the clips and posters of clips that were not made."""
    for key in failed:
        for suffix in ("mp4", "jpg"):
            yield f"{VIDEOS_DIR}/{key}.{suffix}"


def pages_to_fix(engine: PageEngine, failed: Iterable[str]) -> set[str]:
    """The pages that embed a clip that was not made (their embeds become notes)."""
    return {use.page for key in failed for use in engine.build.uses.get(key, ())}


def place(site_dir: Path, files: Mapping[str, Path], records: Mapping[str, Path | str]) -> None:
    """Put clips, posters and records (site path -> cached file, or a record's text) into site_dir.

    A hard link costs no copying and no disk; across file systems it is a copy, placed by rename.
    An existing target is kept (`--dirty`: a content-addressed name always holds the same bytes), and
    nothing is ever written through a link that is already there. Records are written by rename too.
    """
    folders: set[Path] = set()
    texts = {src_uri: text for src_uri, text in records.items() if isinstance(text, str)}
    linked = {**files, **{src_uri: path for src_uri, path in records.items() if isinstance(path, Path)}}
    for src_uri, source in linked.items():
        target = site_dir / src_uri
        if target.parent not in folders:
            target.parent.mkdir(parents=True, exist_ok=True)
            folders.add(target.parent)
        try:
            os.link(source, target)
        except FileExistsError:
            continue
        except FileNotFoundError:
            continue  # the clip was never made (its page shows a note) or was removed meanwhile
        except OSError:  # another file system, or links not allowed
            _replace(target, lambda scratch, source=source: shutil.copyfile(source, scratch))
    for src_uri, text in texts.items():
        target = site_dir / src_uri
        if target.parent not in folders:
            target.parent.mkdir(parents=True, exist_ok=True)
            folders.add(target.parent)
        _replace(target, lambda scratch, text=text: scratch.write_text(text, encoding="utf-8"))


def _replace(target: Path, write: Callable[[Path], object]) -> None:
    scratch = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        write(scratch)
        scratch.replace(target)
    finally:
        scratch.unlink(missing_ok=True)
