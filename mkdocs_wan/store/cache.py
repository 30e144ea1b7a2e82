"""The clip cache: content-addressed MP4 files plus a diskcache index of their metadata.

Clips live at `<cache_dir>/clips/<key>.mp4` (keys: `keys.py`), so a clip's URL never changes
while its spec doesn't. The cache stores and checks bytes; decoding is the media code's job.
diskcache holds only small metadata records, with eviction off: its default policy silently
drops entries past 1 GiB, which must never cost a clip that took minutes of GPU time.
The cache is a build artifact that CI jobs pass around, so it defends itself: every clip is
checked against its recorded sha256 before use, writes are atomic, and a per-key lock across
processes makes concurrent builds generate each clip once. The index is an accelerator, not the
only record: each clip's record also sits next to it (`<key>.json`, written before the clip
appears), so a lost or corrupt index is rebuilt from intact clips instead of losing them.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import re
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from stat import S_ISDIR, S_ISREG
from typing import TYPE_CHECKING, Any, Literal

from mkdocs_wan.logs import log
from mkdocs_wan.store.layout import CacheLayout

if TYPE_CHECKING:
    import diskcache

Status = Literal["ok", "missing", "corrupt", "unrecorded"]
PUBLIC = 0o644  # clips end up on web servers (hard-linked into site_dir): readable by all


_KEY = re.compile(r"[0-9a-f]{64}")


def is_key(name: str) -> bool:
    """A name the cache itself makes: a sha256 in hex. Anything else in `clips/` (a file of the
    user's, a stray non-UTF-8 name) is neither listed, checked nor deleted by the cache."""
    return _KEY.fullmatch(name) is not None


class CacheError(OSError):
    """The cache folder cannot be used (read-only, full, not a folder); the message says which."""


class ClipCache:
    """Clip files and their index under one folder."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.layout = CacheLayout(root)
        self.clips = self.layout.clips
        self._index: diskcache.Cache | None = None
        self._checked: dict[str, dict[str, Any]] = {}  # the record each clip passed `check` with

    @property
    def index(self) -> diskcache.Cache:
        if self._index is None:
            import diskcache  # imported on first use: a build without directives never opens the index

            with _clear_errors(self.root, "open the clip cache"):
                self.clips.mkdir(parents=True, exist_ok=True)
                try:
                    self._index = diskcache.Cache(str(self.layout.index), eviction_policy="none")
                    self._index.get("")  # a damaged database fails here, not in the middle of a build
                except sqlite3.DatabaseError as err:
                    if isinstance(err, sqlite3.OperationalError):
                        raise  # read-only, locked, no space: _clear_errors says so
                    self._index = self._set_aside_index(err)
        return self._index

    def _set_aside_index(self, err: Exception) -> diskcache.Cache:
        """Move a corrupt index aside and start an empty one; records come back from the sidecars."""
        import diskcache

        if self._index is not None:
            with contextlib.suppress(Exception):
                self._index.close()
        aside = self.layout.index.with_name(f"index.corrupt-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}")
        self.layout.index.rename(aside)
        log.warning(
            "the clip index at %s was damaged (%s); moved it to %s and rebuilding it from the clips' "
            "records — no clip is lost",
            self.layout.index,
            err,
            aside.name,
        )
        return diskcache.Cache(str(self.layout.index), eviction_policy="none")

    def record(self, key: str) -> dict[str, Any] | None:
        """A clip's record: from the index, else from the sidecar next to the clip (the index is
        then missing it, or was rebuilt); None if neither exists."""
        with _clear_errors(self.root, "read the clip cache"):
            try:
                record = self.index.get(key)
            except sqlite3.DatabaseError as err:
                if isinstance(err, sqlite3.OperationalError):
                    raise
                self._index = self._set_aside_index(err)
                record = None
        if record is not None:
            return dict(record)
        try:
            sidecar = json.loads(self.sidecar_path(key).read_text())
        except (OSError, ValueError):
            return None
        return {**sidecar, "mtime_ns": None} if isinstance(sidecar, dict) else None  # None: re-hash once

    def _sidecar(self, key: str) -> dict[str, Any] | None:
        try:
            sidecar = json.loads(self.sidecar_path(key).read_text())
        except (OSError, ValueError):
            return None
        return sidecar if isinstance(sidecar, dict) else None

    def sidecar_path(self, key: str) -> Path:
        return self.clips / f"{key}.json"

    def path(self, key: str) -> Path:
        return self.clips / f"{key}.mp4"

    def poster_path(self, key: str) -> Path:
        return self.clips / f"{key}.jpg"

    def store_poster(self, key: str, write: Callable[[Path], None]) -> None:
        """Let `write` fill a temp file, then put it in place as the clip's poster, atomically."""
        with _clear_errors(self.root, "write a poster to the cache"):
            fd, tmp_name = tempfile.mkstemp(prefix=f".{key[:16]}.{os.getpid()}.", suffix=".tmp.jpg", dir=self.clips)
            os.fchmod(fd, PUBLIC)
            os.close(fd)
            try:
                write(Path(tmp_name))
                Path(tmp_name).replace(self.poster_path(key))
            finally:
                Path(tmp_name).unlink(missing_ok=True)

    def published_record(self, key: str, make: Callable[[], str | None]) -> Path | None:
        """The file of the record a site publishes beside clip `key`, written once from `make()`
        (None: nothing to publish); None also where the cache cannot be written."""
        path = self.layout.published / f"{key}.json"
        if path.is_file():
            return path
        text = make()
        if text is None:
            return None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp_name = tempfile.mkstemp(prefix=f".{key[:16]}.", suffix=".tmp", dir=path.parent)
            os.fchmod(fd, PUBLIC)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
            Path(tmp_name).replace(path)
        except OSError:
            return None
        return path

    def picture_path(self, sha256: str) -> Path | None:
        """The kept start picture with these bytes (`pictures/<sha256>/<its file name>`), if any."""
        folder = self.layout.pictures / sha256
        if not is_key(sha256) or not folder.is_dir():
            return None
        found = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
        return found[0] if found else None

    def keep_picture(self, sha256: str, data: bytes, name: str) -> Path | None:
        """Keep a start picture's bytes under their sha256 (once), with its file name (the name its
        Content Credentials give the ingredient); its path, or None where the cache cannot be
        written (a read-only CI cache: nothing will be generated there anyway)."""
        kept = self.picture_path(sha256)
        if kept is not None:
            return kept
        folder = self.layout.pictures / sha256
        path = folder / (name if name and not name.startswith(".") else "picture")
        try:
            folder.mkdir(parents=True, exist_ok=True)
            fd, tmp_name = tempfile.mkstemp(prefix=".", suffix=".tmp", dir=folder)
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            Path(tmp_name).replace(path)
        except OSError:
            return None
        return path

    def has(self, key: str) -> bool:
        """A usable clip: file and index record present, and the bytes match the checksum."""
        return self.check(key) == "ok"

    def check(self, key: str) -> Status:
        """Verify a clip before use; a corrupt one (truncated, bit-flipped) is removed.

        Hashing every clip on every build would cost seconds on a big site, so a clip whose
        size and mtime still match the record made at write time is trusted; anything else
        (including a cache restored by CI, with fresh mtimes) is re-hashed once.
        """
        path = self.path(key)
        try:
            stat = path.stat()
        except OSError:
            return "missing"
        if not S_ISREG(stat.st_mode):  # nothing the cache made: storing the clip there would fail after generating
            kind = "a folder" if S_ISDIR(stat.st_mode) else "not a regular file"
            raise CacheError(f"{path} is {kind}, where clip {key[:12]} is stored; remove it (the cache makes it again)")
        record = self.record(key)
        if record is None:
            return "unrecorded"  # a clip with no index entry and no readable sidecar: unverifiable
        if stat.st_size == record.get("bytes") and stat.st_mtime_ns == record.get("mtime_ns"):
            self._checked[key] = record
            return "ok"
        # The index can lag the file by one write (a process killed between replacing the clip and
        # recording it, e.g. during `mkdocs-wan sign`); the sidecar, written before the clip was
        # replaced, then describes the new bytes. Either record matching the bytes is the truth.
        sidecar = self._sidecar(key) if record.get("mtime_ns") is not None else None
        digest = None
        for candidate in (record, sidecar):
            if candidate is not None and stat.st_size == candidate.get("bytes"):
                digest = digest or _sha256(path)
                if digest == candidate.get("sha256"):
                    with contextlib.suppress(OSError, sqlite3.Error):  # a read-only cache still serves
                        self.index[key] = {**candidate, "mtime_ns": stat.st_mtime_ns}
                    self._checked[key] = candidate
                    return "ok"
        if record.get("mtime_ns") is None:
            return "missing"  # only the sidecar spoke, and it disagrees: remake the clip, delete nothing
        self.discard(key)
        return "corrupt"

    def checked_record(self, key: str) -> dict[str, Any] | None:
        """The record clip `key` last passed `check` with in this process (no second index read)."""
        return self._checked.get(key)

    def discard(self, key: str) -> None:
        self._checked.pop(key, None)
        with contextlib.suppress(OSError, sqlite3.Error):
            self.path(key).unlink(missing_ok=True)
            self.poster_path(key).unlink(missing_ok=True)
            self.sidecar_path(key).unlink(missing_ok=True)
            (self.layout.published / f"{key}.json").unlink(missing_ok=True)
            self.index.pop(key, None)

    @contextlib.contextmanager
    def lock(self, key: str) -> Iterator[None]:
        """Hold the cross-process lock for one key (released by the OS if the process dies)."""
        locks = self.layout.locks
        with _clear_errors(self.root, "lock a clip in the cache"):
            locks.mkdir(parents=True, exist_ok=True)
        import filelock

        with filelock.FileLock(locks / f"{key}.lock"):
            yield

    def store(self, key: str, write: Callable[[Path], None], meta: Mapping[str, Any]) -> Path:
        """Let `write` fill a temp file, then publish it atomically and record it.

        The clip appears at its final path only complete and fsynced, so a build killed at
        any moment never leaves a half-written clip that a later build would serve.
        """
        final = self.path(key)
        self._checked.pop(key, None)
        with _clear_errors(self.root, "write a clip to the cache"):
            self.clips.mkdir(parents=True, exist_ok=True)
            fd, tmp_name = tempfile.mkstemp(prefix=f".{key[:16]}.{os.getpid()}.", suffix=".tmp.mp4", dir=self.clips)
            os.fchmod(fd, PUBLIC)
            os.close(fd)
        tmp = Path(tmp_name)
        try:
            try:
                write(tmp)
            except OSError as err:  # the encoder reports a full disk as a broken pipe
                if err.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS) or _nearly_full(self.clips):
                    raise CacheError(
                        f"cannot write a clip to the cache at {self.root}: No space left on device; "
                        "free some space or point `cache_dir` elsewhere"
                    ) from None
                raise
            with _clear_errors(self.root, "write a clip to the cache"):
                digest, size = _sha256_and_fsync(tmp)
                record = {**meta, "sha256": digest, "bytes": size, "created": time.time()}
                write_atomically(self.sidecar_path(key), json.dumps(record, ensure_ascii=False).encode())
                tmp.replace(final)
                _fsync_dir(self.clips)
                self.index[key] = {**record, "mtime_ns": final.stat().st_mtime_ns}
                # The published record names the old bytes' checksum (`mkdocs-wan sign` rewrites clips).
                (self.layout.published / f"{key}.json").unlink(missing_ok=True)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return final

    def annotate(self, key: str, fields: Mapping[str, Any]) -> None:
        """Add fields (verdicts) to a stored clip's record, in the index and the sidecar; the
        clip's bytes and checksum are untouched."""
        record = self.record(key)
        if record is None:
            return
        updated = {**record, **fields}
        with _clear_errors(self.root, "write a clip's record to the cache"):
            sidecar = {name: value for name, value in updated.items() if name != "mtime_ns"}
            write_atomically(self.sidecar_path(key), json.dumps(sidecar, ensure_ascii=False).encode())
            self.index[key] = updated
        if key in self._checked:
            self._checked[key] = updated

    def verify_bytes(self, key: str) -> str | None:
        """Re-hash one clip against its record, whatever its mtime; the problem, or None. A clip
        whose index record was lost but whose sidecar matches gets its index record back."""
        record = self.record(key)
        if record is None:
            return "no record (neither in the index nor next to the clip)"
        path = self.path(key)
        if not path.is_file():
            return "not a file"
        size, digest = path.stat().st_size, _sha256(path)
        if size != record.get("bytes") or digest != record.get("sha256"):
            sidecar = self._sidecar(key)  # it may describe a newer write than the index
            if sidecar is None or size != sidecar.get("bytes") or digest != sidecar.get("sha256"):
                return "checksum mismatch"
            record = {**sidecar, "mtime_ns": None}
        if record.get("mtime_ns") is None:
            with _clear_errors(self.root, "write the clip index"):
                self.index[key] = {**record, "mtime_ns": path.stat().st_mtime_ns}
        return None

    def clip_keys(self) -> list[str]:
        """Every clip key with a file in the cache."""
        return sorted(p.stem for p in self.clips.glob("*.mp4") if is_key(p.stem) and p.is_file())

    def sweep(self) -> list[Path]:
        """Delete temp files and encode folders left by builds that were killed (process gone)."""
        removed = []
        for folder in self.layout.tmp.glob("encode-*-*") if self.layout.tmp.is_dir() else ():
            pid = folder.name.split("-")[1]
            if not (pid.isdigit() and process_alive(int(pid))):
                shutil.rmtree(folder, ignore_errors=True)
                removed.append(folder)
        for tmp in [*self.clips.glob(".*.tmp.mp4"), *self.clips.glob(".*.tmp.jpg"), *self.clips.glob(".*.tmp.json")]:
            parts = tmp.name.split(".")
            pid = int(parts[2]) if len(parts) > 3 and parts[2].isdigit() else 0
            if pid and process_alive(pid):
                continue
            tmp.unlink(missing_ok=True)
            removed.append(tmp)
        return removed

    def close(self) -> None:
        if self._index is not None:
            self._index.close()
            self._index = None


@contextlib.contextmanager
def _clear_errors(root: Path, action: str) -> Iterator[None]:
    """Turn low-level I/O failures into one readable message naming the folder and the fix."""
    try:
        yield
    except (OSError, sqlite3.Error) as err:
        if isinstance(err, CacheError):
            raise
        reason = getattr(err, "strerror", None) or str(err)
        raise CacheError(
            f"cannot {action} at {root}: {reason}; make the folder writable and give it free space, "
            "or point `cache_dir` elsewhere"
        ) from None


def _nearly_full(folder: Path) -> bool:
    try:
        return shutil.disk_usage(folder).free < 1 << 20
    except OSError:
        return False


def process_alive(pid: int) -> bool:
    """Whether process `pid` still runs (another user's counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _sha256_and_fsync(path: Path) -> tuple[str, int]:
    with path.open("rb+") as f:
        os.fsync(f.fileno())
        size = f.seek(0, os.SEEK_END)
    return _sha256(path), size


def write_atomically(path: Path, data: bytes) -> None:
    """Write a small file so that it is either complete or absent (temp file, fsync, rename)."""
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.stem[:16]}.{os.getpid()}.", suffix=".tmp.json", dir=path.parent)
    try:
        os.fchmod(fd, PUBLIC)
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        Path(tmp_name).replace(path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):  # not every platform can open a directory
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
