"""The ten published Wan checkpoints' own config files (tests/data/wan_configs, see its SOURCES.md):
each is recognised as its family with its own defaults, and every dense architecture among them
makes a clip through the plugin's real path — built at full width from those configs, cut to one
block, saved with `save_pretrained` and loaded with `from_pretrained` like a download.

The toy widths of `render.tiny` fit together whatever the configs say; these do not: a VAE whose
`latents_mean` does not match its `z_dim`, or a text encoder narrower than `text_dim`, fails here.
"""

from __future__ import annotations

import gc
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from mkdocs_wan.assembly.plan import plan_clip
from mkdocs_wan.models.families import folder_family
from mkdocs_wan.models.reference import ModelRef
from mkdocs_wan.render.blueprint import save_from_configs
from mkdocs_wan.render.generate import WanGenerator
from mkdocs_wan.settings.options import Settings

CONFIGS = Path(__file__).parent / "data" / "wan_configs"
ROOT = Path(__file__).parent.parent

# Written from the checkpoints' names and their makers' reference configs, not from families.py:
# folder -> (name, size, frames, fps, steps, guidance, guidance_2, flow shift, 480P shift, DMD, sparse)
EXPECTED = {
    "Wan2.2-TI2V-5B-Diffusers": ("Wan2.2-TI2V-5B", (1280, 704), 121, 24, 50, 5.0, None, 5.0, None, False, False),
    "Wan2.2-T2V-A14B-Diffusers": ("Wan2.2-T2V-A14B", (1280, 720), 81, 16, 40, 4.0, 3.0, 12.0, None, False, False),
    "Wan2.2-I2V-A14B-Diffusers": ("Wan2.2-I2V-A14B", (1280, 720), 81, 16, 40, 3.5, 3.5, 5.0, None, False, False),
    "Wan2.1-T2V-1.3B-Diffusers": ("Wan2.1-T2V-1.3B", (832, 480), 81, 16, 50, 5.0, None, 5.0, 3.0, False, False),
    "Wan2.1-T2V-14B-Diffusers": ("Wan2.1-T2V-14B", (1280, 720), 81, 16, 50, 5.0, None, 5.0, 3.0, False, False),
    "Wan2.1-I2V-14B-720P-Diffusers": (
        "Wan2.1-I2V-14B-720P", (1280, 720), 81, 16, 40, 5.0, None, 5.0, 3.0, False, False,
    ),
    "Wan2.1-I2V-14B-480P-Diffusers": ("Wan2.1-I2V-14B-480P", (832, 480), 81, 16, 40, 5.0, None, 5.0, 3.0, False, False),
    "FastWan2.2-TI2V-5B-FullAttn-Diffusers": (
        "FastWan2.2-TI2V-5B (DMD)", (1280, 704), 121, 24, 3, 1.0, None, 5.0, None, True, False,
    ),
    "FastWan2.1-T2V-1.3B-Diffusers": (
        "FastWan2.1-T2V-1.3B (DMD, VSA)", (832, 448), 61, 16, 3, 1.0, None, 8.0, None, True, True,
    ),
    "FastWan2.1-T2V-14B-480P-Diffusers": (
        "FastWan2.1-T2V-14B-480P (DMD, VSA)", (832, 448), 61, 16, 3, 1.0, None, 8.0, None, True, True,
    ),
}  # fmt: skip
FIELDS = ("name", "size", "frames", "fps", "steps", "guidance", "guidance_2", "flow_shift", "flow_shift_480p")

#: One checkpoint per dense architecture (the VSA-sparse FastWan2.1 ones cannot run in diffusers;
#: the 720P I2V configs equal the 480P ones), at the smallest size its VAE allows, with the site
#: options that keep it quick: the 14B widths without CFG (the 1.3B and 5B clips run it), at a
#: shift where 2 steps reach both A14B experts (the second below the boundary).
FAST = {"steps": 2, "guidance": 1.0}
RUNS: dict[str, tuple[int, dict[str, object]]] = {
    "Wan2.2-TI2V-5B-Diffusers": (32, {"steps": 2}),
    "FastWan2.2-TI2V-5B-FullAttn-Diffusers": (32, {}),  # distilled: its own 3 steps, no CFG
    "Wan2.2-T2V-A14B-Diffusers": (16, {**FAST, "flow_shift": 3.0}),  # at its own 12.0 both steps are above 0.875
    "Wan2.2-I2V-A14B-Diffusers": (16, FAST),
    "Wan2.1-T2V-1.3B-Diffusers": (16, {"steps": 2}),
    "Wan2.1-T2V-14B-Diffusers": (16, FAST),
    "Wan2.1-I2V-14B-480P-Diffusers": (16, FAST),
}


def test_the_config_folders_are_the_ten_published_checkpoints():
    assert sorted(p.name for p in CONFIGS.iterdir() if p.is_dir()) == sorted(EXPECTED)
    assert (CONFIGS / "SOURCES.md").is_file()


@pytest.mark.parametrize("checkpoint", sorted(EXPECTED))
def test_each_published_checkpoint_is_its_family_with_its_defaults(checkpoint):
    folder = CONFIGS / checkpoint
    family = folder_family(folder, checkpoint, folder.as_posix())
    *defaults, distilled, sparse = EXPECTED[checkpoint]
    assert {field: getattr(family, field) for field in FIELDS} == dict(zip(FIELDS, defaults, strict=True))
    assert (family.distilled, family.sparse) == (distilled, sparse)
    assert family.experts == (2 if "A14B" in checkpoint else 1)
    index = json.loads((folder / "model_index.json").read_text())
    assert family.pipeline == index["_class_name"].replace("WanDMDPipeline", "WanPipeline")


@pytest.fixture
def saved(tmp_path):
    """A folder for one saved pipeline, removed right after the test: in RAM (/dev/shm) where there
    is room, since the 14B widths save GBs whose write-back to disk would be most of the test."""
    shm = Path("/dev/shm")
    roomy = shm.is_dir() and shutil.disk_usage(shm).free > 12 * 2**30 and available_memory() > 16 * 2**30
    folder = Path(tempfile.mkdtemp(prefix="wan-real-configs-", dir=shm)) if roomy else tmp_path
    yield folder
    shutil.rmtree(folder, ignore_errors=True)
    gc.collect()


def available_memory() -> int:
    try:
        lines = Path("/proc/meminfo").read_text().splitlines()
    except OSError:
        return 0
    return next((int(line.split()[1]) * 1024 for line in lines if line.startswith("MemAvailable:")), 0)


@pytest.mark.parametrize("checkpoint", list(RUNS))
def test_each_dense_architecture_makes_a_clip_from_its_real_configs(checkpoint, saved):
    side, options = RUNS[checkpoint]
    # float32, as it is loaded on a CPU: from_pretrained then maps the file instead of converting it
    folder = save_from_configs(CONFIGS / checkpoint, saved / checkpoint, layers=1, text_layers=1)
    s = Settings.from_options({"model": str(folder), "size": f"{side}x{side}", "frames": 5, **options}, ROOT, ROOT)
    family = s.family
    assert family.name == EXPECTED[checkpoint][0]
    image = (Path("start.png"), "ab") if family.image == "required" else None
    planned = plan_clip(
        {"prompt": "A kite over the sea"}, s.clip_defaults, "", s.fingerprint, 20, image, family=family,
        flow_shift=s["flow_shift"],
    )  # fmt: skip
    spec = planned.steps[0].spec
    generator = WanGenerator(ModelRef.resolve(str(folder), Path("/")), saved)
    index = json.loads((folder / "model_index.json").read_text())
    assert index["_class_name"] == json.loads((CONFIGS / checkpoint / "model_index.json").read_text())["_class_name"]
    pipe = generator.load()
    assert type(pipe).__name__ == family.pipeline
    calls = {name: 0 for name in ("transformer", "transformer_2") if getattr(pipe, name, None) is not None}
    for name in calls:
        getattr(pipe, name).register_forward_pre_hook(lambda *_, name=name: calls.__setitem__(name, calls[name] + 1))
    finite: list[bool] = []
    pipe.vae.decoder.register_forward_hook(lambda _m, _i, out: finite.append(bool(torch.isfinite(out).all())))
    start = np.full((24, 40, 3), (200, 40, 40), np.uint8) if image else None
    frames = generator.generate(spec, start)
    assert frames.shape == (5, side, side, 3) and frames.dtype == np.uint8
    assert finite and all(finite)  # the decoded video before it is clipped to uint8
    assert all(calls.values()), calls  # both A14B experts ran
    del generator, pipe


def benchmark(out: Path, *options: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "benchmarks/gpu.py", "--tiny", "--out", str(out), *options],
        cwd=ROOT, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(out.read_text())


def test_the_gpu_benchmark_runs_every_row_on_the_cpu(tmp_path):
    result = benchmark(tmp_path / "gpu.json")
    assert result["device"].startswith("cpu") and result["torch"] and result["diffusers"] and result["tiny"]
    assert result["dtype"] in ("bfloat16 (VAE float32)", "float32 (VAE float32)")
    rows = {row["row"]: row for row in result["rows"]}
    assert list(rows) == ["fastwan-ti2v-5b-3", "ti2v-5b-50", "preview-832x480x49", "vram-ti2v-5b", "a14b-4-lightning"]
    for row in rows.values():
        assert "skipped" not in row and "error" not in row, row
        assert row["seconds"] > 0
    for name in ("fastwan-ti2v-5b-3", "ti2v-5b-50", "preview-832x480x49", "a14b-4-lightning"):
        assert all(rows[name]["stages_s"][stage] > 0 for stage in ("text", "denoise", "decode")), rows[name]
        assert rows[name]["s_per_step"] > 0 and rows[name]["floor_denoise_s_at_800tf"] > 0
    assert rows["fastwan-ti2v-5b-3"]["sampler"] == "dmd:1000,757,522"
    assert rows["a14b-4-lightning"]["sampler"] == "euler@5" and not rows["a14b-4-lightning"]["cfg"]
    assert rows["ti2v-5b-50"]["s_50_steps"] > 50 * rows["ti2v-5b-50"]["s_per_step"]
    assert rows["ti2v-5b-50"]["cfg"] and rows["ti2v-5b-50"]["decode_s"] > 0
    vram = rows["vram-ti2v-5b"]["memory"]
    assert list(vram) == ["high", "balanced", "low"]
    assert all(mode["s_per_clip"] > 0 and "peak_reserved_gib" in mode for mode in vram.values())


def test_the_gpu_benchmark_skips_what_its_budget_cannot_fit_and_says_why(tmp_path):
    result = benchmark(tmp_path / "gpu.json", "--budget", "0", "--rows", "fastwan-ti2v-5b-3,a14b-4-lightning")
    assert [row["row"] for row in result["rows"]] == ["fastwan-ti2v-5b-3", "a14b-4-lightning"]
    assert all(row["skipped"].endswith("s of the 0 s budget left") for row in result["rows"]), result["rows"]
