"""The sha256 of big input files (LoRA weights), hashed once per version of each file.

A LoRA's digest is part of every clip key, so every build, and every `mkdocs serve` rebuild,
needs it. Wan2.2-Lightning's files are about 1.2 GB each (four of them with `image_lora`): hashing
them again took seconds per build and froze serve for as long after each edit. A digest is kept
in `<cache_dir>/digests.json` under the file's identity and state — path, device, inode, size,
mtime and ctime, what git trusts to skip re-reading a file — and reused while all of them match.
ctime changes with every write and no user can set it back, so a file rewritten with the same
size and its old mtime restored is hashed again. A file written less than two seconds before it
was hashed is not remembered: a later write within the same clock tick could leave its stat
unchanged. On Windows, where st_ctime is the file's creation time, nothing is remembered. A
write through a memory mapping of the file moves neither time until the page is written back
(seconds later; on tmpfs, not while it stays mapped): weights are written as files, not so. The
memo is an accelerator: a missing, damaged or unwritable one costs a re-hash.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import time
from pathlib import Path
from stat import S_ISREG

MEMO_NAME = "digests.json"  # in cache_dir (see `store.layout`)
MAX_MEMO_BYTES = 1 << 20
KEPT = 256  # entries; the oldest go first
SETTLE_NS = 2_000_000_000
TRUSTS_CTIME = os.name != "nt"  # POSIX: the inode's change time, which every write moves

_DIGEST = re.compile(r"[0-9a-f]{16,64}")
_known: dict[str, str] = {}  # this process's digests (a serve session's rebuilds), by `_entry`


def file_digest(path: Path, fd: int, info: os.stat_result, memo: Path | None) -> str:
    """The sha256 (16 hex digits) of the regular file open as `fd` (opened from `path`, its stat
    `info`), or the digest this very version of the file gave before. The open file itself is
    keyed and read, never the path again: a link swapped while it is hashed cannot give one
    file's digest to another."""
    if not TRUSTS_CTIME:
        return _sha256(fd)
    entry = _entry(path, info)
    if entry in _known:
        return _known[entry]
    stored = _load(memo) if memo is not None else {}
    digest = stored.get(entry)
    if isinstance(digest, str) and _DIGEST.fullmatch(digest):
        _known[entry] = digest
        return digest
    started = time.time_ns()
    digest = _sha256(fd)
    unchanged = _entry(path, os.fstat(fd)) == entry
    if unchanged and started - max(info.st_mtime_ns, info.st_ctime_ns) >= SETTLE_NS:
        _known[entry] = digest
        if memo is not None:
            _save(memo, stored, entry, digest)
    return digest


def _sha256(fd: int) -> str:
    digest = hashlib.sha256()
    os.lseek(fd, 0, os.SEEK_SET)
    while chunk := os.read(fd, 1 << 20):
        digest.update(chunk)
    return digest.hexdigest()[:16]


def _entry(path: Path, info: os.stat_result) -> str:
    state = (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)
    return f"{':'.join(map(str, state))}:{path.absolute()}"


def _load(memo: Path) -> dict[str, object]:
    """The stored digests; {} for a missing, oversized, damaged or not-a-file memo (never blocks
    on a FIFO, never reads without end)."""
    try:
        fd = os.open(memo, os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        return {}
    try:
        info = os.fstat(fd)
        if not S_ISREG(info.st_mode) or info.st_size > MAX_MEMO_BYTES:
            return {}
        data = json.loads(os.read(fd, MAX_MEMO_BYTES + 1))
    except (OSError, ValueError, RecursionError):
        return {}
    finally:
        os.close(fd)
    return data if isinstance(data, dict) else {}


def _save(memo: Path, stored: dict[str, object], entry: str, digest: str) -> None:
    """Add one digest, atomically; a read-only or full cache keeps nothing, silently."""
    kept = {k: v for k, v in stored.items() if k != entry and isinstance(v, str)}
    kept = dict(list(kept.items())[-(KEPT - 1) :]) | {entry: digest}
    try:
        memo.parent.mkdir(parents=True, exist_ok=True)
        fd, scratch = tempfile.mkstemp(prefix=".digests.", suffix=".tmp", dir=memo.parent)
        try:
            os.fchmod(fd, 0o644)  # nothing secret: a shared cache's other users read it too
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(kept, handle, indent=0)
            Path(scratch).replace(memo)
        finally:
            Path(scratch).unlink(missing_ok=True)
    except OSError:
        pass
