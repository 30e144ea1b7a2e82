"""Wan2.2-Lightning as its recipe runs it: one LoRA per A14B expert in lightx2v's key format, the
image model's own LoRA, Euler at shift 5, four steps without CFG — through real builds.

The LoRA files are generated here in the format lightx2v publishes (`diffusion_model.blocks.N.
{self_attn,cross_attn}.{q,k,v,o}` and `ffn.{0,2}` with `lora_down` / `lora_up` / `alpha`), which
diffusers converts on `load_lora_weights` (diffusers PR #12074); their values are random.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import save_file

from mkdocs_wan.assembly.plan import plan_clip
from mkdocs_wan.media.encode import decode_mp4
from mkdocs_wan.page.spec import SpecError
from mkdocs_wan.render.generate import WanGenerator
from mkdocs_wan.render.samplers import LightningEulerScheduler
from mkdocs_wan.render.tiny import save_tiny
from mkdocs_wan.settings.options import Settings


def lightx2v_lora(model: Path, expert: str, path: Path, seed: int, rank: int = 2) -> Path:
    """A LoRA for `model`'s `expert` in lightx2v's format, with random weights."""
    config = json.loads((model / expert / "config.json").read_text())
    dim, ffn = config["num_attention_heads"] * config["attention_head_dim"], config["ffn_dim"]
    g = torch.Generator().manual_seed(seed)
    tensors: dict[str, torch.Tensor] = {}

    def pair(name: str, fan_in: int, fan_out: int) -> None:
        tensors[f"diffusion_model.{name}.lora_down.weight"] = torch.randn(rank, fan_in, generator=g)
        tensors[f"diffusion_model.{name}.lora_up.weight"] = torch.randn(fan_out, rank, generator=g) * 0.5
        tensors[f"diffusion_model.{name}.alpha"] = torch.tensor(float(rank))

    for block in range(config["num_layers"]):
        for attention in ("self_attn", "cross_attn"):
            for part in "qkvo":
                pair(f"blocks.{block}.{attention}.{part}", dim, dim)
        pair(f"blocks.{block}.ffn.0", dim, ffn)
        pair(f"blocks.{block}.ffn.2", ffn, dim)
    save_file(tensors, str(path))
    return path


@pytest.fixture(scope="module")
def lightning(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("lightning")
    t2v, i2v = save_tiny("t2v-a14b", root / "t2v"), save_tiny("i2v-a14b", root / "i2v")
    files = {"t2v": t2v, "i2v": i2v}
    for model, name in ((t2v, "t2v"), (i2v, "i2v")):
        for expert, noise in (("transformer", "high"), ("transformer_2", "low")):
            files[f"{name}-{noise}"] = lightx2v_lora(model, expert, root / f"{name}-{noise}.safetensors", len(files))
    return files


def recipe(files: dict[str, Path]) -> dict[str, object]:
    """The documented Lightning recipe on the tiny A14B pair."""
    return {
        "model": str(files["t2v"]),
        "image_model": str(files["i2v"]),
        "lora": {"transformer": str(files["t2v-high"]), "transformer_2": str(files["t2v-low"])},
        "image_lora": {"transformer": str(files["i2v-high"]), "transformer_2": str(files["i2v-low"])},
        "sampler": "euler",
        "flow_shift": 5.0,
        "steps": 4,
        "guidance": 1.0,
        "guidance_2": 1.0,
        "size": "16x16",
        "frames": 5,
    }


def test_the_loras_load_into_both_experts_and_the_image_model_with_eulers_schedule(lightning, tmp_path):
    s = Settings.from_options(recipe(lightning) | {"cache_dir": str(tmp_path / "cache")}, Path("/"), Path("/"))
    generator = WanGenerator(
        s.model, tmp_path, image_model=s.image_model,
        loras=tuple((t, str(p)) for t, p in s.loras.items()),
        image_loras=tuple((t, str(p)) for t, p in s.image_loras.items()),
    )  # fmt: skip
    picture = np.full((16, 16, 3), 120, dtype=np.uint8)
    options = {"prompt": "A kite"}
    plan = plan_clip(
        options, s.clip_defaults, "", s.fingerprint, 20, (tmp_path / "p.png", "ab"), family=s.family,
        image_fingerprint=s.image_fingerprint, lora=s.lora_digest, flow_shift=5.0, solver="euler",
        image_family=s.image_family, image_lora=s.image_lora_digest,
    )  # fmt: skip
    spec = plan.steps[0].spec
    assert spec.sampler == "euler@5" and spec.lora == s.image_lora_digest != s.lora_digest
    generator.generate(spec, picture)
    image_pipe = generator._image_model_generator()._pipe
    for pipe in (generator._pipe, image_pipe):
        adapters = pipe.get_list_adapters()
        assert adapters == {"transformer": ["transformer"], "transformer_2": ["transformer_2"]}, adapters
    assert isinstance(image_pipe.scheduler, LightningEulerScheduler)
    text = plan_clip(
        options, s.clip_defaults, "", s.fingerprint, 20, family=s.family, lora=s.lora_digest, flow_shift=5.0,
        solver="euler",
    ).steps[0].spec  # fmt: skip
    seen: list[float] = []
    for expert in (generator._pipe.transformer, generator._pipe.transformer_2):
        expert.register_forward_pre_hook(lambda _m, _a, kw: seen.append(float(kw["timestep"][0])), with_kwargs=True)
    generator.generate(text)
    shifted = [1000 * 5 * u / (1 + 4 * u) for u in (1.0, 0.75, 0.5, 0.25)]  # Lightning's schedule
    assert seen == pytest.approx(shifted, abs=1e-2)
    assert isinstance(generator._pipe.scheduler, LightningEulerScheduler)


def frames_of(site, html: str) -> dict[str, np.ndarray]:
    """Each clip on the page, decoded, by its key."""
    keys, sources = re.findall(r'data-wan-key="(\w+)"', html), re.findall(r'<video src="([^"]+)"', html)
    return {key: decode_mp4(site.site_dir / src) for key, src in zip(keys, sources, strict=True)}


def test_the_lightning_recipe_in_a_real_build_changes_clips_and_keys(lightning, site, tmp_path):
    site.options |= recipe(lightning)
    site.page("index.md", "# Clip\n\n<!-- @video-gen A kite -->\n\n<!-- @video-gen A kite {image=start.png} -->\n")
    Image.new("RGB", (32, 32), (30, 90, 200)).save(site.root / "docs" / "start.png")
    assert (built := site.build("--strict")).returncode == 0, built.stderr
    with_lora = frames_of(site, (site.site_dir / "index.html").read_text())
    assert len(with_lora) == 2
    site.options |= {"image_lora": False}
    del site.options["lora"]
    assert (built := site.build("--strict")).returncode == 0, built.stderr
    base = frames_of(site, (site.site_dir / "index.html").read_text())
    assert not set(base) & set(with_lora)  # every key says whether a LoRA ran, and which
    for a, b in zip(with_lora.values(), base.values(), strict=True):  # page order: text, then image
        assert np.abs(a.astype(int) - b.astype(int)).mean() > 1.0  # and the clips differ


def test_a_lora_without_one_for_the_image_model_is_one_line(lightning, site):
    options = recipe(lightning)
    del options["image_lora"]
    own = {"cache_dir": str(site.root / "cache")}
    with pytest.raises(SpecError, match=r"image_model .* is another checkpoint that the same LoRA was not trained"):
        Settings.from_options(options | own, Path("/"), Path("/")).check_model()
    site.options |= options
    site.page("index.md", "# Clip\n\n<!-- @video-gen A kite -->\n")
    result = site.build()
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "set image_lora: to its own LoRA" in result.stderr
