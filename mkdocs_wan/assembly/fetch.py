"""`fetch_from`: a published site is a complete cache, so missing clips are fetched before any GPU work.

Every built site publishes a small record next to each clip (`assets/videos/<key>.json`: key,
checksum, byte size, frames, size, fps, model — what the page and the clip already show). A
fetched clip must match its record byte for byte and the directive's spec frame for frame, and is
read into a temp file with a size cap derived from the spec, and (with `credentials` on) carry a
valid manifest naming its key from a signer the site trusts; anything else is "not available",
with one warning naming the URL. A root that cannot be reached is skipped for the rest of the
build after one short timeout. requests is imported only when a clip is actually missing.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from mkdocs_wan.assembly.plan import Plan
from mkdocs_wan.logs import log
from mkdocs_wan.store.cache import ClipCache
from mkdocs_wan.store.layout import VIDEOS_DIR

if TYPE_CHECKING:
    import requests

    from mkdocs_wan.media.credentials import Trust

CONNECT_TIMEOUT = 3.0  # seconds: a server that is down costs this once per build, not per clip
READ_TIMEOUT = 10.0  # seconds without a byte: the server is treated as down for the build
MIN_RATE = 64 * 1024  # bytes/s: a slower download (a drip) is cut off at its deadline
DEADLINE_SLACK = 15.0  # seconds every download may take on top of its size at MIN_RATE
WORKERS = 4  # downloads at once
MAX_RECORD_BYTES = 64 * 1024
CHUNK = 1 << 16


class Unavailable(Exception):
    """This root cannot provide this clip (mismatch, oversize, bad status); say why once."""


class Unreachable(Exception):
    """This root cannot be reached at all; skip it for the rest of the build."""


def size_cap(plan: Plan) -> int:
    """The most bytes a clip of this spec may take: its raw YUV 4:2:0 frames plus 1 MB of container."""
    return plan.frames * plan.display.width * plan.display.height * 3 // 2 + (1 << 20)


class Fetcher:
    """Fetches clips for one build from the first root that has them; thread-safe."""

    def __init__(self, roots: Sequence[str], trust: Trust | None = None) -> None:
        """`trust`: with Content Credentials on, whose signature a fetched clip must carry (None:
        `credentials: false`, the checksum and the frames are all there is)."""
        self.roots = list(roots)
        self.trust = trust
        self._down: set[str] = set()
        self._said: set[tuple[str, str]] = set()  # (root, problem) warned about
        self._lock = threading.Lock()
        self._session: requests.Session | None = None

    def fetch_all(self, plans: Mapping[str, Plan], cache: ClipCache, meta: Mapping[str, Any]) -> dict[str, str]:
        """Fetch what the roots have, a few at a time; {key: URL it came from}."""
        fetched: dict[str, str] = {}
        if not plans:
            return fetched
        log.info("fetching up to %d clips from %s", len(plans), ", ".join(map(redact, self.roots)))
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(min(WORKERS, len(plans)), thread_name_prefix="mkdocs-wan-fetch") as pool:
            futures = {key: pool.submit(self.fetch, plan, cache, meta) for key, plan in plans.items()}
        for key, future in futures.items():
            url = future.result()
            if url is not None:
                fetched[key] = url
        return fetched

    def fetch(self, plan: Plan, cache: ClipCache, meta: Mapping[str, Any]) -> str | None:
        """Fetch one clip into the cache from the first root that has a valid copy; its URL, or None."""
        for root in self.roots:
            if root in self._down:
                continue
            clip_url = f"{root}{VIDEOS_DIR}/{plan.key}.mp4"
            try:
                with cache.lock(plan.key):
                    if cache.has(plan.key):  # another build fetched or made it meanwhile
                        return clip_url
                    self._fetch_from(root, clip_url, plan, cache, meta)
            except Unreachable as err:
                with self._lock:
                    if root not in self._down:
                        self._down.add(root)
                        log.warning("cannot reach %s (%s); not fetching from it in this build", redact(root), err)
                continue
            except Unavailable as err:
                self._unavailable(root, clip_url, str(err))
                continue
            from mkdocs_wan.media.posters import ensure_poster

            ensure_poster(cache, plan.key)
            log.info("fetched %s (%s)", redact(clip_url), plan.title[:60])
            return clip_url
        return None

    def _unavailable(self, root: str, clip_url: str, problem: str) -> None:
        """Warn about a clip not taken; a problem every clip of a site shares (a signer this site
        does not trust) is said once for that site, and logged per clip only with `-v`."""
        if not problem:
            return
        with self._lock:
            first = (root, problem) not in self._said
            self._said.add((root, problem))
        if not first:
            log.info("%s: %s; not using it", redact(clip_url), problem)
        elif "whom this site does not trust" in problem:
            log.warning(
                "%s: its clips' %s (the publisher's is `<cache_dir>/credentials/root.pem` on the machine that "
                "signs them); not using them (said once for this site)", redact(root), problem.removeprefix("its "),
            )  # fmt: skip
        else:
            log.warning("%s: %s; not using it", redact(clip_url), problem)

    def _fetch_from(self, root: str, clip_url: str, plan: Plan, cache: ClipCache, meta: Mapping[str, Any]) -> None:
        record_url = clip_url.removesuffix(".mp4") + ".json"
        record = self._record(record_url, plan)
        cap = size_cap(plan)

        def write(path: Path) -> None:
            digest = self._download(clip_url, path, record["bytes"])
            if digest != record["sha256"]:
                raise Unavailable(f"its bytes do not match the published checksum ({digest[:12]}…)")
            _check_layout(path)
            _check_media(path, plan)
            _check_credentials(path, plan.key, self.trust)

        if not isinstance(record.get("bytes"), int) or not 0 < record["bytes"] <= cap:
            shown = str(record.get("bytes"))[:20]
            raise Unavailable(f"its record gives a size of {shown!r} bytes; the limit is {cap:,}")
        cache.store(
            plan.key,
            write,
            {**meta, "frames": plan.frames, "fetched_from": redact(clip_url), "spec": plan.display.as_dict()},
        )

    def _record(self, url: str, plan: Plan) -> dict[str, Any]:
        with self._get(url) as response:
            body = _read_capped(response, MAX_RECORD_BYTES)
        try:
            record = json.loads(body)
        except (ValueError, UnicodeDecodeError, RecursionError):
            raise Unavailable("its record is not JSON") from None
        if not isinstance(record, dict):
            raise Unavailable("its record is not a JSON object")
        display = plan.display
        expected = {
            "key": plan.key,
            "frames": plan.frames,
            "width": display.width,
            "height": display.height,
            "fps": display.fps,
        }
        wrong = [name for name, value in expected.items() if record.get(name) != value]
        if wrong or not isinstance(record.get("sha256"), str):
            raise Unavailable(f"its record does not describe this clip ({', '.join(wrong) or 'sha256'} differ)")
        return record

    def _download(self, url: str, path: Path, size: int) -> str:
        """Stream the clip into `path`, at most `size` bytes; its sha256."""
        digest = hashlib.sha256()
        got = 0
        deadline = time.monotonic() + DEADLINE_SLACK + size / MIN_RATE
        with self._get(url) as response, path.open("wb") as out:
            try:
                for chunk in _chunks(response, deadline):
                    got += len(chunk)
                    if got > size:
                        raise Unavailable(f"it is larger than its published size of {size:,} bytes")
                    if time.monotonic() > deadline:
                        raise Unreachable(f"too slow: {got:,} of {size:,} bytes by the deadline")
                    digest.update(chunk)
                    out.write(chunk)
            except _network_errors() as err:
                if _is_timeout(err):
                    raise Unreachable(f"no data for {READ_TIMEOUT:.0f} s") from None
                raise Unavailable(f"the download broke off: {_reason(err)}") from None
        if got != size:
            raise Unavailable(f"it is {got:,} bytes, not the published {size:,} (truncated)")
        return digest.hexdigest()

    def _get(self, url: str) -> requests.Response:
        import requests

        with self._lock:
            if self._session is None:
                self._session = requests.Session()
                self._session.headers["User-Agent"] = "mkdocs-wan"
            session = self._session
        try:
            response = session.get(url, stream=True, timeout=(CONNECT_TIMEOUT, READ_TIMEOUT), allow_redirects=True)
        except (requests.ConnectionError, requests.Timeout) as err:
            if isinstance(err, requests.ReadTimeout):
                raise Unreachable(f"no answer within {READ_TIMEOUT:.0f} s") from None
            raise Unreachable(_reason(err)) from None
        except requests.RequestException as err:  # e.g. a redirect to a non-http(s) scheme
            raise Unavailable(f"cannot fetch it: {_reason(err)}") from None
        if urlsplit(response.url).scheme not in ("http", "https"):
            response.close()
            raise Unavailable(f"it redirects to {response.url!r}, which is not http(s)")
        if response.status_code in (404, 410):
            response.close()
            raise Unavailable("")  # the normal case for a new directive: quiet
        if response.status_code != 200:
            response.close()
            raise Unavailable(f"the server answered {response.status_code}")
        return response

    def close(self) -> None:
        if self._session is not None:
            self._session.close()


def redact(url: str) -> str:
    """A URL fit for a log: any user:password@ is replaced by ***@."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return parts._replace(netloc="***@" + parts.netloc.rpartition("@")[2]).geturl()


def _read_capped(response: requests.Response, cap: int) -> bytes:
    body = b""
    deadline = time.monotonic() + DEADLINE_SLACK
    try:
        for chunk in _chunks(response, deadline):
            body += chunk
            if len(body) > cap:
                raise Unavailable(f"its record is over {cap:,} bytes")
            if time.monotonic() > deadline:
                raise Unreachable("too slow: the record did not arrive by the deadline")
    except _network_errors() as err:
        if _is_timeout(err):
            raise Unreachable(f"no data for {READ_TIMEOUT:.0f} s") from None
        raise Unavailable(f"the download broke off: {_reason(err)}") from None
    return body


def _chunks(response: requests.Response, deadline: float) -> Iterator[bytes]:
    """The body as it arrives (`read1`: whatever the socket has, not a full chunk), so a server
    that drips a byte at a time meets the deadline instead of stalling one read for hours."""
    raw = response.raw
    while True:
        if time.monotonic() > deadline:
            raise Unreachable("too slow: the download did not finish by its deadline")
        chunk = raw.read1(CHUNK, decode_content=True)
        if not chunk:
            return
        yield chunk


def _is_timeout(err: BaseException) -> bool:
    import requests

    return isinstance(err, requests.Timeout) or "timed out" in str(err).lower()


#: The top-level boxes of a clip this plugin makes: ffmpeg's faststart MP4 (ftyp, moov, an
#: 8-byte free, mdat), with the C2PA manifest's uuid box after ftyp when signed.
_LAYOUT = re.compile(r"ftyp(?:uuid)?moov(?:free)?mdat")
_MAX_FREE = 64


def _check_layout(path: Path) -> None:
    """Nothing in the file but the boxes the plugin writes. C2PA's hash leaves `free` boxes and
    bytes outside the boxes it binds unchecked, so a server could otherwise append anything to
    a genuine signed clip (rewriting the record to match) and have it published as the clip."""
    types = []
    with path.open("rb") as handle:
        end = handle.seek(0, 2)
        offset = 0
        while offset < end and len(types) < 8:
            handle.seek(offset)
            header = handle.read(16)
            size, kind = int.from_bytes(header[:4], "big"), header[4:8]
            if size == 1 and len(header) == 16:
                size = int.from_bytes(header[8:16], "big")
            if size < 8 or offset + size > end or (kind == b"free" and size > _MAX_FREE):
                raise Unavailable("its MP4 boxes are not the ones a clip is made of (extra or broken bytes)")
            types.append(kind.decode("latin-1"))
            offset += size
    if not _LAYOUT.fullmatch("".join(types)):
        raise Unavailable(f"its MP4 boxes ({', '.join(types)[:80]}) are not the ones a clip is made of")


def _check_media(path: Path, plan: Plan) -> None:
    """The clip decodes, with the spec's frame count and size (a checksum only proves the bytes)."""
    from mkdocs_wan.media.encode import probe

    try:
        frames, width, height = probe(path)
    except (RuntimeError, OSError, StopIteration, ValueError, KeyError) as err:
        raise Unavailable(f"it does not decode: {err}") from None
    display = plan.display
    if (frames, width, height) != (plan.frames, display.width, display.height):
        raise Unavailable(
            f"it is {frames} frames at {width}x{height}, not {plan.frames} at {display.width}x{display.height}"
        )


def _check_credentials(path: Path, key: str, trust: Trust | None) -> None:
    """A record and its clip can both be swapped by whoever controls the server; a signed clip
    names its own key in its manifest, which no one can change without the signature breaking,
    and with credentials on, only a signer the site trusts counts (anyone can sign)."""
    from mkdocs_wan.media.credentials import named_key, untrusted

    problem = named_key(path, key) if trust is None else untrusted(path, key, trust)
    if problem is not None:
        raise Unavailable(problem)


def _network_errors() -> tuple[type[BaseException], ...]:
    """What a download can raise: requests' errors, the OS's, and urllib3's own (a body cut off
    before its Content-Length is urllib3's IncompleteRead, which is neither)."""
    import requests
    import urllib3.exceptions

    return (requests.RequestException, OSError, urllib3.exceptions.HTTPError)


def _reason(err: BaseException) -> str:
    return " ".join(str(err).split())[:200] or type(err).__name__
