"""Cache keys cover everything that shapes a clip; stores are atomic; nothing is evicted."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from mkdocs_wan.assembly.plan import plan_clip
from mkdocs_wan.page.directives import parse_options
from mkdocs_wan.page.spec import ClipSpec, build_spec
from mkdocs_wan.store.cache import ClipCache
from mkdocs_wan.store.keys import clip_key
from tests.test_spec import DEFAULTS

pytestmark = pytest.mark.timeout(60)  # unit tests: seconds, not minutes

BASE = ClipSpec("A kite", "", 1, 9, 24, 64, 64, 2, 5.0)
CHANGES = {
    "prompt": "A dog", "negative_prompt": "blurry", "seed": 2, "frames": 13, "fps": 12,
    "width": 96, "height": 96, "steps": 3, "guidance": 4.0, "image": "sha256:00ff",
    "cache_hook": "first-block-cache:0.1", "guidance_2": 3.0, "sampler": "dmd:1000,757,522@5",
    "lora": "transformer=0123456789abcdef",
}  # fmt: skip


def key(spec=BASE, model="tiny/v2", crf=20):
    return clip_key(spec, model, crf)


def test_every_spec_field_is_covered():
    assert set(CHANGES) == {f.name for f in dataclasses.fields(ClipSpec)}


@pytest.mark.parametrize("field", sorted(CHANGES))
def test_each_field_changes_the_key(field):
    assert key(dataclasses.replace(BASE, **{field: CHANGES[field]})) != key()


def test_model_and_encoder_change_the_key():
    assert key(model="hub:Wan-AI/Wan2.2-TI2V-5B-Diffusers@main") != key()
    assert key(crf=30) != key()


def test_key_is_a_sha256_that_another_interpreter_computes_the_same():
    """No hash seed, set order or object id leaks into a key: a CPU CI job must find GPU-made clips."""
    code = "from tests.test_cache import key, BASE\nimport dataclasses\nprint(key(dataclasses.replace(BASE)))"
    env = {**os.environ, "PYTHONHASHSEED": "12345", "PYTHONPATH": str(Path(__file__).parent.parent)}
    other = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert re.fullmatch(r"[0-9a-f]{64}", key())
    assert other.stdout.strip() == key()


def test_option_order_does_not_change_the_key(directives):
    a, b = directives(
        "<!-- @video-gen A kite {seed=7 frames=13 size=96x64} -->\n\n"
        "<!-- @video-gen A kite {size=96x64 frames=13 seed=7} -->\n"
    )
    spec_a, spec_b = (build_spec(parse_options(d), DEFAULTS) for d in (a, b))
    assert key(spec_a) == key(spec_b)


def test_store_publishes_complete_file_and_records_it(tmp_path):
    cache = ClipCache(tmp_path)
    path = cache.store("k" * 64, lambda p: p.write_bytes(b"clip bytes"), {"model": "tiny"})
    assert path == cache.path("k" * 64) and path.read_bytes() == b"clip bytes"
    assert cache.has("k" * 64)
    record = cache.index["k" * 64]
    assert record["sha256"] == hashlib.sha256(b"clip bytes").hexdigest() and record["bytes"] == 10
    sidecar = cache.sidecar_path("k" * 64)  # the record, again, next to the clip
    assert sorted(p.name for p in cache.clips.iterdir()) == sorted([path.name, sidecar.name])
    assert json.loads(sidecar.read_text()) == {k: v for k, v in record.items() if k != "mtime_ns"}


def test_failed_write_leaves_nothing_behind(tmp_path):
    cache = ClipCache(tmp_path)

    def half_write(path):
        path.write_bytes(b"half a clip")
        raise KeyboardInterrupt  # a build stopped mid-encode

    with pytest.raises(KeyboardInterrupt):
        cache.store("a" * 64, half_write, {})
    assert not cache.has("a" * 64)
    assert list(cache.clips.iterdir()) == []


def test_file_without_index_record_is_not_a_hit(tmp_path):
    cache = ClipCache(tmp_path)
    cache.clips.mkdir(parents=True)
    cache.path("b" * 64).write_bytes(b"stray")
    assert not cache.has("b" * 64)


def test_index_never_evicts(tmp_path):
    cache = ClipCache(tmp_path)
    assert cache.index.eviction_policy == "none"
    cache.index.reset("size_limit", 1)  # even a tiny limit must not drop records
    for i in range(20):
        cache.index[f"{i:064d}"] = {"blob": "x" * 4096}
    assert len(cache.index) == 20


def test_published_clips_are_world_readable(tmp_path):
    cache = ClipCache(tmp_path)
    path = cache.store("c" * 64, lambda p: p.write_bytes(b"clip"), {})
    assert path.stat().st_mode & 0o777 == 0o644  # web servers must be able to read hard-linked clips


def test_the_model_part_of_the_key(tmp_path):
    """Revision, dtype and a local folder's configs and weight sizes are in every key; the device is not."""
    from mkdocs_wan.settings.options import Settings

    def plan_key(**options: object) -> str:
        settings = Settings.from_options({"model": "Wan-AI/Wan2.2-TI2V-5B-Diffusers", **options}, tmp_path, tmp_path)
        defaults, family = settings.clip_defaults, settings.family
        return plan_clip({"prompt": "A kite"}, defaults, "", settings.fingerprint, settings["crf"], family=family).key

    base = plan_key()
    assert plan_key(revision="v2") != base and plan_key(revision="main") == base  # main is the default
    assert plan_key(dtype="bfloat16") != base
    assert plan_key(device="cuda") == plan_key(device="cpu") == base  # a CPU job finds GPU-made clips

    weights = tmp_path / "weights"
    (weights / "transformer").mkdir(parents=True)
    (weights / "model_index.json").write_text('{"_class_name": "WanPipeline"}')
    (weights / "transformer" / "config.json").write_text('{"in_channels": 48, "num_layers": 30}')
    (weights / "transformer" / "model.safetensors").write_bytes(b"\0" * 100)
    local = plan_key(model="./weights")
    (weights / "transformer" / "config.json").write_text('{"num_layers": 30, "in_channels": 48}\n')  # same JSON
    assert plan_key(model="./weights") == local
    (weights / "transformer" / "config.json").write_text('{"in_channels": 48, "num_layers": 40}')
    retrained = plan_key(model="./weights")
    (weights / "transformer" / "model.safetensors").write_bytes(b"\0" * 101)
    assert len({base, local, retrained, plan_key(model="./weights")}) == 4
