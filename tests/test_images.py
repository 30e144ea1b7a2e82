"""Start pictures: resolved inside docs_dir only, hashed, fitted without stretching."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from PIL import Image

from mkdocs_wan.media.encode import decode_mp4, encode_mp4
from mkdocs_wan.media.pictures import fit_image, load_image, resolve_image
from mkdocs_wan.page.spec import SpecError


@pytest.fixture
def docs(tmp_path):
    docs = tmp_path / "docs"
    (docs / "guide" / "img").mkdir(parents=True)
    (docs / "img").mkdir()
    Image.new("RGB", (40, 30), (200, 10, 10)).save(docs / "guide" / "img" / "a.png")
    Image.new("RGB", (40, 30), (10, 10, 200)).save(docs / "img" / "b.png")
    return docs


def test_relative_to_page_and_to_docs_dir(docs):
    path, digest, _data = resolve_image("img/a.png", "guide/page.md", docs)
    assert path == (docs / "guide" / "img" / "a.png").resolve()
    assert digest == hashlib.sha256(path.read_bytes()).hexdigest()
    assert resolve_image("/img/b.png", "guide/page.md", docs)[0] == (docs / "img" / "b.png").resolve()
    assert resolve_image("../img/b.png", "guide/page.md", docs)[0] == (docs / "img" / "b.png").resolve()


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("img/missing.png", "not found"),
        ("../../../../etc/passwd", "resolves outside docs_dir"),
        ("/../outside.png", "resolves outside docs_dir"),
        ("", "must be a path"),
    ],
)
def test_bad_paths_are_rejected(docs, value, message):
    (docs.parent / "outside.png").write_bytes(b"secret")
    with pytest.raises(SpecError, match=message):
        resolve_image(value, "guide/page.md", docs)


def test_symlink_pointing_outside_docs_dir_is_rejected(docs, tmp_path):
    secret = tmp_path / "secret.png"
    Image.new("RGB", (8, 8)).save(secret)
    (docs / "img" / "link.png").symlink_to(secret)
    with pytest.raises(SpecError, match="resolves outside docs_dir"):
        resolve_image("/img/link.png", "index.md", docs)


def test_symlink_inside_docs_dir_is_fine(docs):
    (docs / "guide" / "alias.png").symlink_to(docs / "img" / "b.png")
    assert resolve_image("alias.png", "guide/page.md", docs)[0] == (docs / "img" / "b.png").resolve()


def test_unreadable_picture(docs):
    (docs / "img" / "notes.png").write_text("not a picture")
    with pytest.raises(SpecError, match="cannot be read as a picture"):
        resolve_image("/img/notes.png", "index.md", docs)


def test_fit_crops_the_center_without_stretching():
    wide = np.random.default_rng(0).integers(0, 255, (50, 100, 3), dtype=np.uint8)
    fitted = np.asarray(fit_image(wide, 50, 50))
    assert np.array_equal(fitted, wide[:, 25:75])  # cover scale is 1: a pure center crop
    tall = np.zeros((200, 100, 3), np.uint8)
    tall[:, :50] = 255  # left half white
    fitted = np.asarray(fit_image(tall, 64, 32))
    assert fitted.shape == (32, 64, 3)
    assert fitted[:, :28].min() > 200 and fitted[:, 36:].max() < 50  # halves stay halves


def test_load_image_takes_the_last_frame_of_a_clip(tmp_path):
    frames = np.stack([np.full((32, 32, 3), v, np.uint8) for v in (0, 80, 160, 240, 40)])
    encode_mp4(frames, tmp_path / "c.mp4", fps=8)
    assert np.array_equal(load_image(tmp_path / "c.mp4"), decode_mp4(tmp_path / "c.mp4")[-1])
    assert abs(int(load_image(tmp_path / "c.mp4").mean()) - 40) < 6
