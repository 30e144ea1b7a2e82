"""The real diffusers path with the offline tiny model: load once, reproducible, clear failures."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest

from mkdocs_wan.assembly.jobs import generate_missing
from mkdocs_wan.assembly.plan import Generate, Plan
from mkdocs_wan.media.encode import count_frames
from mkdocs_wan.models.reference import ModelRef
from mkdocs_wan.page.spec import ClipSpec
from mkdocs_wan.render.generate import ModelLoadError, WanGenerator
from mkdocs_wan.render.tiny import ensure_tiny_model
from mkdocs_wan.store.cache import ClipCache

SPEC = ClipSpec("A robot arm assembling a smartphone", "", 7, 9, 24, 64, 64, 2, 5.0)


@pytest.fixture(scope="module")
def generator(tmp_path_factory):
    return WanGenerator(ModelRef.resolve("tiny", tmp_path_factory.mktemp("m")), tmp_path_factory.mktemp("c"))


def test_tiny_model_has_the_ti2v_layout(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    folder = ensure_tiny_model(tmp_path)
    index = json.loads((folder / "model_index.json").read_text())
    assert index["_class_name"] == "WanPipeline" and index["expand_timesteps"] is True
    assert index["text_encoder"] == ["transformers", "UMT5EncoderModel"]
    transformer = json.loads((folder / "transformer" / "config.json").read_text())
    assert (transformer["in_channels"], transformer["out_channels"]) == (48, 48)
    assert transformer["patch_size"] == [1, 2, 2]
    vae = json.loads((folder / "vae" / "config.json").read_text())
    assert (vae["z_dim"], vae["is_residual"], vae["patch_size"]) == (48, True, 2)
    scheduler = json.loads((folder / "scheduler" / "scheduler_config.json").read_text())
    assert scheduler["_class_name"] == "UniPCMultistepScheduler" and scheduler["use_flow_sigmas"]
    assert ensure_tiny_model(tmp_path) == folder  # built once


def test_generate_loads_once_and_is_reproducible(tmp_path, caplog):
    generator = WanGenerator(ModelRef.resolve("tiny", tmp_path), tmp_path)  # its own: the load is logged here
    with caplog.at_level(logging.INFO, logger="mkdocs.plugins.mkdocs_wan"):
        a = generator.generate(SPEC)
        b = generator.generate(SPEC)
    assert a.shape == (9, 64, 64, 3) and a.dtype == np.uint8
    assert np.array_equal(a, b)
    assert sum("loaded model tiny in" in r.getMessage() for r in caplog.records) == 1
    other = generator.generate(ClipSpec(SPEC.prompt, "", 8, 9, 24, 64, 64, 2, 5.0))
    assert not np.array_equal(a, other)


def test_generate_missing_stores_decodable_clips(generator, tmp_path):
    cache = ClipCache(tmp_path)
    small = ClipSpec("A kite", "", 1, 5, 8, 96, 64, 2, 1.0)
    jobs = {k: Plan((Generate(k, spec),), spec, spec.prompt) for k, spec in (("k1", SPEC), ("k2", small))}
    assert generate_missing(jobs, cache, generator, {"model": "tiny"}) == ({"k1", "k2"}, {})
    assert generate_missing(jobs, cache, generator, {"model": "tiny"}) == (set(), {})  # all cached now
    assert count_frames(cache.path("k1")) == 9
    assert count_frames(cache.path("k2")) == 5
    assert cache.index["k2"]["spec"]["width"] == 96


def test_unloadable_model_names_model_cause_and_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    hub = WanGenerator(ModelRef.resolve("no-such-org/no-such-model", tmp_path), tmp_path)
    with pytest.raises(
        ModelLoadError,
        match=r"cannot load model: no-such-org/no-such-model is not downloaded.*`hf download no-such-org/no-such-mod",
    ):
        hub.load()
    local = WanGenerator(ModelRef.resolve("./missing-folder", tmp_path), tmp_path)
    with pytest.raises(ModelLoadError, match=r"cannot load model: ./missing-folder: no such folder .*hf download"):
        local.load()
    with pytest.raises(ModelLoadError):  # fatal for every clip: the caller stops the build
        generate_missing({"k": Plan((Generate("k", SPEC),), SPEC, "")}, ClipCache(tmp_path), hub, {})


def test_missing_cuda_is_explained(tmp_path):
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    gpu = WanGenerator(ModelRef.resolve("tiny", tmp_path), tmp_path, device="cuda")
    with pytest.raises(ModelLoadError, match="torch sees no CUDA GPU"):
        gpu.load()
