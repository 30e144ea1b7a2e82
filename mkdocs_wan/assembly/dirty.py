"""What a `--dirty` build (and `mkdocs serve --dirty`) must redo when a review decision changes.

MkDocs' dirty builds re-render only pages whose source is newer than their output, and they never
clean site_dir; a review decision changes no page source, so an approved clip would stay a "held"
box and a rejected one would keep playing from the last build's files. The build therefore notes
the review file's digest beside the cache for each site_dir; when it differs, every page with a
directive loses its output (MkDocs renders it again) and the held clips' files leave site_dir.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from mkdocs_wan.store.layout import VIDEOS_DIR

if TYPE_CHECKING:
    from mkdocs.structure.files import Files


def _stamp(cache_root: Path, site_dir: Path) -> Path:
    site = hashlib.sha256(str(site_dir.resolve()).encode()).hexdigest()[:24]
    return cache_root / "sites" / f"{site}.reviews"


def redo_pages(files: Files, site_dir: Path, cache_root: Path, digest: str) -> int:
    """Remove the output of every page with a directive (or a clip, a note of ours) when the
    decisions changed since the last build of `site_dir`; return how many were removed."""
    try:
        if _stamp(cache_root, site_dir).read_text() == digest:
            return 0
    except OSError:
        pass  # never stamped: redo, the safe side
    removed = 0
    for file in files.documentation_pages():
        dest = Path(file.abs_dest_path)
        if not dest.is_file() or not dest.resolve().is_relative_to(site_dir.resolve()):
            continue
        try:  # a directive in the page, or markup of ours in its output (from a snippet, a macro)
            if b"video-gen" not in Path(file.abs_src_path or "").read_bytes() and b"wan-video" not in dest.read_bytes():
                continue
        except OSError:
            continue
        dest.unlink(missing_ok=True)
        removed += 1
    return removed


def remember(cache_root: Path, site_dir: Path, digest: str) -> None:
    """Note the decisions this build of `site_dir` applied (a read-only cache just redoes later)."""
    stamp = _stamp(cache_root, site_dir)
    try:
        stamp.parent.mkdir(parents=True, exist_ok=True)
        stamp.write_text(digest)
    except OSError:
        pass


def withdraw(site_dir: Path, keys: Iterable[str]) -> None:
    """Take the files of clips held from publishing out of site_dir (a dirty build keeps them)."""
    for key in keys:
        for suffix in ("mp4", "jpg", "json"):
            (site_dir / VIDEOS_DIR / f"{key}.{suffix}").unlink(missing_ok=True)
