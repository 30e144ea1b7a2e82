"""Review decisions: which held clips a person approved or rejected, kept with the site's sources.

A clip that QC or the safety model flags is held: it stays in the cache but is not published
until someone approves it. Decisions live in a small YAML file next to `mkdocs.yml`
(`review_file`, default `mkdocs-wan-reviews.yml`), committed with the docs, so a CI build on
another machine honours them. It is keyed by the clip's full cache key, so a decision can never
apply to a different clip (a changed prompt is a new key, reviewed anew):

    clips:
      3f9c…(64 hex):
        decision: approved        # or rejected: never published, flagged or not
        by: Ada Lovelace
        at: '2026-12-02T10:00:00Z'
        why: the dark frames are the night scene
        prompt: A lighthouse at night   # what was reviewed, for people reading the file

`mkdocs-wan review`, `approve` and `reject` write it: read, change one entry, write a temp file
and rename it over, so an interrupted write leaves the old file whole.
"""

from __future__ import annotations

import datetime
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from stat import S_ISREG
from typing import Any

from mkdocs_wan.page.directives import DirectiveError, load_flat_yaml
from mkdocs_wan.page.spec import SpecError, check_text
from mkdocs_wan.store.cache import CacheError, is_key, write_atomically

MAX_REVIEW_BYTES = 4_000_000
DECISIONS = ("approved", "rejected")
HEADER = (
    "# mkdocs-wan review decisions, by clip key. Commit this file with the docs: every build honours it.\n"
    "# Written by `mkdocs-wan review`, `mkdocs-wan approve KEY` and `mkdocs-wan reject KEY`.\n"
)


class ReviewFileError(CacheError):
    """The decisions file cannot be read; like a cache that cannot be used, it stops the build
    with one line (publishing held clips, or dropping rejections, would be worse)."""


@dataclass(frozen=True)
class Decision:
    decision: str  # approved | rejected
    by: str
    at: str
    why: str
    prompt: str = ""


def flags_of(record: dict[str, Any]) -> list[str]:
    """Why a clip's record says a person should look at it first: its QC verdict, and each label
    the safety model scored at or over the threshold."""
    reasons = [f"the generated clip looks {record['quality']}"] if record.get("quality") else []
    safety = record.get("safety")
    if isinstance(safety, dict):
        scores = safety.get("scores") if isinstance(safety.get("scores"), dict) else {}
        for label in safety.get("flagged") or ():
            score = scores.get(label)
            shown = f" {score:.2f}" if isinstance(score, (int, float)) else ""
            reasons.append(f"{safety.get('model', 'the safety model')} scores it {label}{shown}")
    return reasons


def load_reviews(path: Path) -> dict[str, Decision]:
    """The decisions in `path` ({} if there is no such file)."""
    return read_reviews(path)[0]


def _review_bytes(path: Path) -> bytes | None:
    """The review file's bytes (None: no such file). Opened without blocking and checked on the
    open file, so a FIFO or a link to /dev/zero there is refused, never waited on or read."""
    unfit = f"the review file {path.name} is not a regular file of at most {MAX_REVIEW_BYTES:,} bytes"
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        return None
    except OSError as err:
        raise ReviewFileError(f"cannot read the review file {path.name}: {err.strerror or err}") from None
    chunks, left = [], MAX_REVIEW_BYTES + 1
    try:
        info = os.fstat(fd)
        if not S_ISREG(info.st_mode) or info.st_size > MAX_REVIEW_BYTES:
            raise ReviewFileError(unfit)
        while left > 0 and (chunk := os.read(fd, min(left, 1 << 20))):
            chunks.append(chunk)
            left -= len(chunk)
    except ReviewFileError:
        raise  # an OSError too (CacheError): said as it is
    except OSError as err:
        raise ReviewFileError(f"cannot read the review file {path.name}: {err.strerror or err}") from None
    finally:
        os.close(fd)
    if left <= 0:  # grew past the limit while it was read
        raise ReviewFileError(unfit)
    return b"".join(chunks)


def read_reviews(path: Path) -> tuple[dict[str, Decision], str]:
    """The decisions in `path` and the digest of the very bytes they were read from ("absent"
    with no file): a `--dirty` build notes the decisions it applied, not the file as it is later."""
    raw = _review_bytes(path)
    if raw is None:
        return {}, "absent"
    try:
        data = load_flat_yaml(raw.decode("utf-8"), f"review file {path.name}")
    except UnicodeDecodeError as err:
        raise ReviewFileError(f"cannot read the review file {path.name}: {err}") from None
    except DirectiveError as err:
        raise ReviewFileError(f"{err} (line {err.line_offset})") from None
    return _decisions(data, path), hashlib.sha256(raw).hexdigest()


def _decisions(data: Any, path: Path) -> dict[str, Decision]:
    shape = f"the review file {path.name} must hold `clips:`, a mapping of clip keys to decisions"
    if data is None:
        data = {}
    if not isinstance(data, dict) or set(data) - {"clips"}:
        raise ReviewFileError(shape)
    clips = data.get("clips") or {}
    if not isinstance(clips, dict):
        raise ReviewFileError(shape)
    decisions: dict[str, Decision] = {}
    for key, entry in clips.items():
        if not isinstance(key, str) or not is_key(key):
            raise ReviewFileError(f"the review file {path.name} names {str(key)[:20]!r}, which is not a clip key")
        if not isinstance(entry, dict) or entry.get("decision") not in DECISIONS:
            raise ReviewFileError(f"the review file {path.name}: {key[:12]} needs `decision: approved` or `rejected`")
        fields = {name: entry.get(name, "") for name in ("by", "at", "why", "prompt")}
        try:
            text_fields = {name: check_text(name, str(value), limit=2_000) for name, value in fields.items()}
        except SpecError as err:
            raise ReviewFileError(f"the review file {path.name}: {key[:12]}: {err}") from None
        decisions[key] = Decision(entry["decision"], **text_fields)
    return decisions


def record_decision(
    path: Path, key: str, decision: str, by: str, why: str, prompt: str = "", lock: Path | None = None
) -> Decision:
    """Set clip `key`'s decision in the file at `path` (made if missing), atomically. `lock` is a
    lock file held across the read-modify-write, so simultaneous decisions all land (a lost
    rejection would be a published clip)."""
    if decision not in DECISIONS or not is_key(key):
        raise ValueError(f"not a decision for a clip key: {decision!r} {key!r}")
    if lock is None:
        return _record(path, key, decision, by, why, prompt)
    import filelock

    lock.parent.mkdir(parents=True, exist_ok=True)
    with filelock.FileLock(lock):
        return _record(path, key, decision, by, why, prompt)


def _record(path: Path, key: str, decision: str, by: str, why: str, prompt: str) -> Decision:
    import yaml

    existing = load_reviews(path)
    at = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    made = Decision(decision, check_text("by", by, 200), at, check_text("why", why), check_text("prompt", prompt))
    existing[key] = made
    entries: dict[str, Any] = {}
    for name in sorted(existing):
        value = existing[name]
        entry = {"decision": value.decision, "by": value.by, "at": value.at, "why": value.why}
        entries[name] = entry | ({"prompt": value.prompt} if value.prompt else {})
    text = HEADER + yaml.safe_dump({"clips": entries}, sort_keys=False, allow_unicode=True, width=100)
    write_atomically(path, text.encode())  # an interrupted write leaves the old file whole
    return made
