"""Start pictures for image-to-video: resolve safely inside docs_dir, hash, load, fit.

Only files that resolve (symlinks followed) inside docs_dir are ever opened, so a directive can't
read `/etc/passwd` through `../../` or a link. Fitting keeps the aspect ratio (resize to cover,
then center-crop); diffusers alone would stretch the picture to the clip size.
"""

from __future__ import annotations

import hashlib
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from mkdocs_wan.page.spec import SpecError, check_text

#: Limits on start pictures, checked before decoding: the clip is at most 1920 px wide, so larger
#: pictures only cost memory (Pillow's own bomb guard starts at ~89 MP, far above any use here).
MAX_IMAGE_PIXELS = 40_000_000
MAX_IMAGE_BYTES = 50_000_000
MAX_ASPECT = 16  # fitting a 20000x2 strip to a clip would ask for a resize of ~147 GB
#: Raster formats Pillow decodes itself (EPS or PDF would run Ghostscript on a page author's file).
FORMATS = ("PNG", "JPEG", "WEBP", "GIF", "BMP", "TIFF")

if TYPE_CHECKING:
    import numpy as np
    from PIL import Image


def resolve_image(value: object, page_src_uri: str, docs_dir: Path) -> tuple[Path, str, bytes]:
    """The picture a directive names, as (absolute path, sha256 of its bytes, the bytes).

    Relative paths are relative to the page; a leading `/` means relative to docs_dir. The file is
    read once: its size, the picture's dimensions (from its header) and the hash all come from the
    same bytes, which are what the clip is generated from (`ClipCache.keep_picture`).
    """
    if not isinstance(value, str) or not value.strip():
        raise SpecError(f"image must be a path to a picture, got {value!r}")
    text = check_text("image", value.strip(), limit=1_024)
    relative = PurePosixPath(text.lstrip("/")) if text.startswith("/") else PurePosixPath(page_src_uri).parent / text
    root = docs_dir.resolve()
    try:
        path = (root / relative).resolve()
        found = path.is_relative_to(root) and path.is_file()
        size = path.stat().st_size if found else 0
    except (OSError, RuntimeError) as err:  # a name too long for the file system, a loop of links
        raise SpecError(f"image {text!r} cannot be opened: {getattr(err, 'strerror', None) or err}") from None
    if not path.is_relative_to(root):
        raise SpecError(f"image {text!r} resolves outside docs_dir; only pictures inside docs_dir can be used")
    if not found:
        raise SpecError(f"image {text!r} {_not_found(text, path, root)}")
    if size > MAX_IMAGE_BYTES:
        raise SpecError(f"image {text!r} is {size / 1e6:.0f} MB, over the limit of {MAX_IMAGE_BYTES / 1e6:.0f} MB")
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_IMAGE_BYTES + 1)
    except OSError as err:
        raise SpecError(f"image {text!r} cannot be opened: {err.strerror or err}") from None
    if len(data) > MAX_IMAGE_BYTES:
        raise SpecError(f"image {text!r} is over the limit of {MAX_IMAGE_BYTES / 1e6:.0f} MB")
    _check_header(text, data)
    return path, hashlib.sha256(data).hexdigest(), data


def _check_header(text: str, data: bytes) -> None:
    """Dimensions, aspect and integrity from the picture's header, before anything decodes it."""
    import io
    import warnings

    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=FORMATS) as img:  # reads the header only
                width, height = img.size
                if width * height > MAX_IMAGE_PIXELS:
                    raise SpecError(
                        f"image {text!r} is {width}x{height} pixels, over the limit of {MAX_IMAGE_PIXELS:,} pixels"
                    )
                if max(width, height) > MAX_ASPECT * min(width, height):
                    raise SpecError(f"image {text!r} is {width}x{height} pixels: wider than {MAX_ASPECT}:1")
                img.verify()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombWarning,
            Image.DecompressionBombError) as err:  # fmt: skip
        if isinstance(err, SpecError):
            raise
        raise SpecError(f"image {text!r} cannot be read as a picture: {err}") from None


def picture_type(path: Path) -> str:
    """The MIME type of a picture from its bytes, not its name (a PNG named .jpg is a PNG)."""
    from PIL import Image

    with Image.open(path) as img:
        return Image.MIME.get(img.format or "", "application/octet-stream")


def _not_found(text: str, path: Path, root: Path) -> str:
    """Why a picture is not there, with the fix: a folder, a path in other letter case (the whole
    path as it would be written, folders included), or absent."""
    shown = path.relative_to(root).as_posix()
    if path.is_dir():
        return f"is a folder ({shown} in docs_dir), not a picture; name the picture file in it"
    actual = _case_insensitive(root, path.relative_to(root).parts)
    if actual is not None:
        written = [part for part in PurePosixPath(text.lstrip("/")).parts if part not in (".", "..")]
        fixed = "/".join([*text.lstrip("/").split("/")[: -len(written)], *actual.parts[-len(written) :]])
        fixed = ("/" if text.startswith("/") else "") + fixed.lstrip("/")
        return f"not found: did you mean {fixed!r}? File names are case-sensitive (looked for {shown} in docs_dir)"
    near = _near_name(path)
    if near is not None:  # a typo in the file name: the closest name in the same folder
        fixed = text[: len(text) - len(text.rstrip("/").split("/")[-1])] + near
        return f"not found: did you mean {fixed!r}? (looked for {shown} in docs_dir)"
    return f"not found (looked for {shown} in docs_dir)"


def _near_name(path: Path) -> str | None:
    """The name of a picture beside `path` spelled most like it, if one is close (difflib's ratio
    0.75 or more); the folder's first 1,000 entries only, so a huge folder costs little."""
    import difflib
    import itertools

    try:
        names = [p.name for p in itertools.islice(path.parent.iterdir(), 1000) if p.is_file()]
    except OSError:
        return None
    close = difflib.get_close_matches(path.name, names, n=1, cutoff=0.75)
    return close[0] if close else None


def _case_insensitive(root: Path, parts: tuple[str, ...]) -> PurePosixPath | None:
    """The one existing file under `root` whose path matches `parts` in any letter case."""
    here, found = root, []
    for part in parts:
        try:
            same = [p for p in here.iterdir() if p.name.lower() == part.lower()]
        except OSError:
            return None
        if len(same) != 1:
            return None
        here = same[0]
        found.append(here.name)
    return PurePosixPath(*found) if here.is_file() else None


def load_image(path: Path) -> np.ndarray:
    """A picture as (H, W, 3) uint8; for an MP4, its last frame (a segment's visual anchor)."""
    import numpy as np

    if path.suffix == ".mp4":
        from collections import deque

        from mkdocs_wan.media.encode import read_frames

        last = deque(read_frames(path), maxlen=1)  # one frame in memory at a time, not the segment
        if not last:
            raise ValueError(f"{path.name} has no frames")
        return last[0].copy()
    from PIL import Image, ImageOps

    with Image.open(path) as img:
        # A phone photo stores its rotation as an EXIF tag: apply it, or the model sees it sideways.
        return np.asarray(ImageOps.exif_transpose(img).convert("RGB")).copy()


def fit_image(pixels: np.ndarray, width: int, height: int) -> Image.Image:
    """Scale to cover width x height, then center-crop: no stretching, no borders."""
    from PIL import Image

    img = Image.fromarray(pixels)
    scale = max(width / img.width, height / img.height)
    size = (max(width, round(img.width * scale)), max(height, round(img.height * scale)))
    img = img.resize(size, Image.Resampling.LANCZOS)
    left, top = (size[0] - width) // 2, (size[1] - height) // 2
    return img.crop((left, top, left + width, top + height))
