"""Content Credentials: every generated clip carries a signed C2PA manifest saying it is AI-generated."""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

import numpy as np
import pytest
from conftest import Site, summary
from PIL import Image

from mkdocs_wan.media.credentials import CLIP_ASSERTION, TRAINED_ALGORITHMIC_MEDIA, _make_identity, manifest_state
from mkdocs_wan.media.encode import decode_mp4
from mkdocs_wan.store.cache import ClipCache

pytest.importorskip("c2pa")


def _clips(site: Site) -> dict[str, Path]:
    html = (site.site_dir / "index.html").read_text()
    keys = re.findall(r'data-wan-key="(\w+)"', html)
    return {key: ClipCache(site.root / "cache").path(key) for key in keys}


def _boxes(path: Path) -> list[str]:
    """Top-level MP4 box types, in order."""
    data, at, boxes = path.read_bytes(), 0, []
    while at + 8 <= len(data):
        size = int.from_bytes(data[at : at + 4], "big")
        boxes.append(data[at + 4 : at + 8].decode("latin-1"))
        if size == 1:
            size = int.from_bytes(data[at + 8 : at + 16], "big")
        at += size if size else len(data)
    return boxes


@pytest.fixture
def signed(site: Site) -> Site:
    site.options["cache_dir"] = "cache"
    Image.new("RGB", (64, 64), (200, 40, 40)).save(site.root / "start.png")
    site.page("index.md", "# C\n\n<!-- @video-gen A signed kite {seed=3} -->\n\n"
              "<!-- @video-gen The kite from a picture {image=start.png} -->\n\n"
              "```video-gen\nsegments:\n  - A box opens\n  - A bird flies out\n```\n")  # fmt: skip
    (site.root / "docs" / "start.png").write_bytes((site.root / "start.png").read_bytes())
    result = site.build("--strict")
    assert result.returncode == 0, result.stderr
    return site


def test_every_clip_says_it_is_ai_generated_in_a_manifest_that_validates(signed: Site):
    root = (signed.root / "cache" / "credentials" / "root.pem").read_bytes()
    clips = _clips(signed)
    assert len(clips) == 3
    for key, path in clips.items():
        state, manifest = manifest_state(path)
        assert state == "Valid"  # a self-made identity: valid, untrusted signer
        assert manifest_state(path, root)[0] == "Trusted"
        assertions = {a["label"]: a["data"] for a in manifest["assertions"]}
        (action,) = assertions["c2pa.actions.v2"]["actions"]
        assert action["action"] == "c2pa.created" and action["digitalSourceType"] == TRAINED_ALGORITHMIC_MEDIA
        assert action["softwareAgent"]["name"] == "mkdocs-wan"
        clip = assertions[CLIP_ASSERTION]
        assert clip["key"] == key and clip["model"] == "tiny" and clip["fingerprint"]
        assert clip["checks"] == {"quality": None}  # QC's verdict is signed too (stitched clips included)
        assert manifest["claim_generator_info"][0]["name"] == "mkdocs-wan"
        boxes = _boxes(path)
        assert boxes.index("moov") < boxes.index("mdat")  # faststart kept
    by_title = {manifest_state(p)[1]["title"]: manifest_state(p)[1] for p in clips.values()}
    kite = {a["label"]: a["data"] for a in by_title["A signed kite"]["assertions"]}[CLIP_ASSERTION]
    assert kite["prompt"] == "A signed kite" and kite["seed"] == 3
    picture = by_title["The kite from a picture"]
    assert [i["title"] for i in picture["ingredients"]] == ["start.png"]
    story = {a["label"]: a["data"] for a in by_title["A box opens → A bird flies out"]["assertions"]}
    assert len(story[CLIP_ASSERTION]["composed_from"]) == 2


def test_a_flipped_byte_is_invalid_and_verify_fails(signed: Site):
    key, path = next(iter(_clips(signed).items()))
    cache = ClipCache(signed.root / "cache")
    data = bytearray(path.read_bytes())
    data[-200] ^= 0xFF  # inside the media data
    path.write_bytes(bytes(data))
    assert manifest_state(path)[0] == "Invalid"
    # The record is made to agree with the altered bytes: only the manifest can tell.

    record = {**cache.record(key), "sha256": hashlib.sha256(bytes(data)).hexdigest(), "bytes": len(data)}
    record.pop("mtime_ns", None)
    cache.sidecar_path(key).write_text(json.dumps(record))
    cache.index[key] = {**record, "mtime_ns": path.stat().st_mtime_ns}
    cache.close()
    result = signed.cli("verify")
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"dropped {key}.mp4: its Content Credentials are Invalid" in result.stdout
    assert "Content Credentials: 0 Trusted" not in result.stdout and "1 Invalid" in result.stdout


def test_a_new_identity_re_signs_without_regenerating_and_keeps_the_frames(signed: Site, tmp_path: Path):
    clips = _clips(signed)
    frames = {key: decode_mp4(path) for key, path in clips.items()}
    chain, key_pem, root = _make_identity()
    (tmp_path / "team.pem").write_bytes(chain)
    (tmp_path / "team.key").write_bytes(key_pem)
    env = {"MKDOCS_WAN_SIGNING_CERT": str(tmp_path / "team.pem"), "MKDOCS_WAN_SIGNING_KEY": str(tmp_path / "team.key")}
    os.environ.update(env)
    try:
        result = signed.cli("sign")
    finally:
        for name in env:
            os.environ.pop(name)
    assert result.returncode == 0, result.stderr
    assert "5 clips signed" in result.stdout  # 3 clips and the 2 segments of the stitched one
    for key, path in clips.items():
        assert np.array_equal(decode_mp4(path), frames[key])
        state, manifest = manifest_state(path, root)
        assert state == "Trusted"
        if (ClipCache(signed.root / "cache").record(key).get("spec") or {}).get("image"):
            # the start picture is still its ingredient: the cache kept the bytes it was made from
            assert [i.get("title") for i in manifest.get("ingredients", [])] == ["start.png"]
    rebuilt = signed.build("--strict")
    assert summary("3 clips (MB), 0 generated, 3 cached", rebuilt.stderr), rebuilt.stderr
    for key, path in clips.items():  # the published records name the re-signed bytes
        record = json.loads((signed.site_dir / "assets" / "videos" / f"{key}.json").read_text())
        assert record["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()


def test_credentials_false_signs_nothing(site: Site):
    site.options.update({"cache_dir": "cache", "credentials": False})
    site.page("index.md", "# C\n\n<!-- @video-gen An unsigned kite -->\n")
    assert site.build().returncode == 0
    (path,) = _clips(site).values()
    assert manifest_state(path)[0] == "missing"
    assert not (site.root / "cache" / "credentials").exists()


def test_an_incomplete_team_identity_is_one_clear_error(site: Site):
    site.options.update({"cache_dir": "cache", "signing_cert": "team.pem"})
    site.page("index.md", "# C\n\n<!-- @video-gen A kite -->\n")
    result = site.build()
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "a signing certificate needs its key and the other way round" in result.stderr


def _team(tmp_path: Path, chain: bytes, key: bytes) -> dict[str, str]:
    (tmp_path / "team.pem").write_bytes(chain)
    (tmp_path / "team.key").write_bytes(key)
    return {"signing_cert": str(tmp_path / "team.pem"), "signing_key": str(tmp_path / "team.key")}


def test_a_bad_team_identity_stops_the_build_before_any_model_work(site: Site, tmp_path: Path):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    chain, key, _root = _make_identity()
    other_chain, other_key, _ = _make_identity()
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    site.page("index.md", "# C\n\n<!-- @video-gen A kite -->\n")
    bad_cert = b"-----BEGIN CERTIFICATE-----\nxx\n-----END CERTIFICATE-----\n"
    cases = [
        ((chain, other_key), "signing_key does not belong to the first certificate"),
        ((chain, rsa_key), "signing_key is not an EC P-256 key"),
        ((bad_cert, key), "signing_cert holds no"),
    ]
    for (cert_pem, key_pem), message in cases:
        site.options.update({"cache_dir": "cache", **_team(tmp_path, cert_pem, key_pem)})
        result = site.build()
        assert result.returncode == 1 and message in result.stderr, result.stderr
        assert "loaded model" not in result.stderr and "Traceback" not in result.stderr
    site.options.update({"cache_dir": "cache", **_team(tmp_path, other_chain, other_key)})
    assert site.build().returncode == 0  # a good team identity signs
