"""The project's sampling against its makers' reference code, never against itself.

Each reference below is written out here from its source, independently of the plugin:
- FastVideo's torch DMD loop (hao-ai-lab/FastVideo `fastvideo/pipelines/stages/denoising.py`
  `DmdDenoisingStage`, `fastvideo/models/utils.py` `pred_noise_to_pred_video`, and
  `FlowMatchEulerDiscreteScheduler.add_noise` in `fastvideo/models/schedulers/`);
- Wan2.2-Lightning's Euler solver (ModelTC/Wan2.2-Lightning `wan/utils/fm_solvers_euler.py`);
- plain diffusers, called as its Wan docs do, with the sampling settings of Wan's own configs
  (Wan-Video/Wan2.2 `wan/configs/*.py`, `shared_config.py`) and diffusers' Wan docs for Wan2.1.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from mkdocs_wan.assembly.plan import plan_clip
from mkdocs_wan.media.pictures import fit_image
from mkdocs_wan.render.dmd import DMDScheduler
from mkdocs_wan.render.generate import WanGenerator
from mkdocs_wan.render.samplers import LightningEulerScheduler
from mkdocs_wan.render.tiny import save_tiny
from mkdocs_wan.settings.options import Settings

#: `sample_neg_prompt`, Wan-Video/Wan2.2 wan/configs/shared_config.py (copied, not imported).
WAN_NEGATIVE = (
    "色调艳丽，过曝，静态，细节模糊不清，字幕，风格，作品，画作，画面，静止，整体发灰，最差质量，低质量，JPEG压缩残留，"
    "丑陋的，残缺的，多余的手指，画得不好的手部，画得不好的脸部，畸形的，毁容的，形态畸形的肢体，手指融合，静止不动的画面，"
    "杂乱的背景，三条腿，背景人很多，倒着走"
)
#: How Wan samples each family at a small (≤ 480P) size: shift, guidance (high-noise), guidance_2 (low-noise).
#: Wan2.2: wan/configs/wan_{ti2v_5B,t2v_A14B,i2v_A14B}.py; Wan2.1: diffusers' Wan docs ("3.0 for 480P").
REFERENCE = {
    "ti2v-5b": (5.0, 5.0, None),
    "t2v-a14b": (12.0, 4.0, 3.0),
    "i2v-a14b": (5.0, 3.5, 3.5),
    "t2v-1.3b": (3.0, 5.0, None),
    "i2v-14b": (3.0, 5.0, None),
}
FASTWAN_STEPS = (1000, 757, 522)  # FastVideo's dmd_denoising_steps


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("reference-models")
    return {kind: save_tiny(kind, root / kind) for kind in (*REFERENCE, "fastwan-ti2v-5b")}


def settings(model: Path, **options: object) -> Settings:
    return Settings.from_options({"model": str(model), **options}, Path("/"), Path("/"))


# --- FastVideo's DMD loop, ported -----------------------------------------------------------------


def fastvideo_grid(shift: float = 8.0, n: int = 1000) -> tuple[torch.Tensor, torch.Tensor]:
    """FastVideo's `FlowMatchEulerDiscreteScheduler(shift=8.0).__init__`: (timesteps, sigmas)."""
    timesteps = torch.from_numpy(np.linspace(1, n, n, dtype=np.float32)[::-1].copy())
    sigmas = timesteps / n
    sigmas = shift * sigmas / (1 + (shift - 1) * sigmas)
    return sigmas * n, sigmas


def fastvideo_sigma(t: float) -> torch.Tensor:
    """The sigma `pred_noise_to_pred_video` and `add_noise` look up for timestep t."""
    grid_t, grid_s = fastvideo_grid()
    index = torch.argmin((grid_t.double().unsqueeze(0) - torch.tensor([[float(t)]], dtype=torch.float64)).abs(), dim=1)
    return grid_s.double()[index].reshape(())


def fastvideo_step(i: int, x: torch.Tensor, v: torch.Tensor, steps: tuple[int, ...], g: torch.Generator):
    """One iteration of `DmdDenoisingStage.forward` after the transformer: x0, then re-noise."""
    pred_video = (x.double() - fastvideo_sigma(steps[i]) * v.double()).to(v.dtype)
    if i == len(steps) - 1:
        return pred_video
    noise = torch.randn(x.shape, dtype=pred_video.dtype, generator=g)
    sigma = fastvideo_sigma(steps[i + 1]).float()
    return ((1 - sigma) * pred_video + sigma * noise).type_as(noise)


def velocity(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """A fixed stand-in for the transformer: depends on both the latent and the timestep it is fed."""
    return 0.7 * x + torch.sin(x * 3.0) * (float(t) / 1000.0) + 0.1


def test_the_dmd_sampler_matches_fastvideos_torch_loop_to_1e_5():
    x = torch.randn(1, 4, 3, 5, 5, generator=torch.Generator().manual_seed(3))
    ours = DMDScheduler(denoising_timesteps=FASTWAN_STEPS)
    ours.set_timesteps(3)
    ours.set_generator(torch.Generator().manual_seed(11))
    fed, latent = [], x.clone()
    for t in ours.timesteps:  # as diffusers' WanPipeline drives any scheduler
        fed.append(float(t))
        latent = ours.step(velocity(latent, t), t, latent, return_dict=False)[0]
    g, expected = torch.Generator().manual_seed(11), x.clone()
    for i, t in enumerate(FASTWAN_STEPS):
        expected = fastvideo_step(i, expected, velocity(expected, torch.tensor(t)), FASTWAN_STEPS, g)
    assert fed == [1000.0, 757.0, 522.0]  # raw: the student was trained on these, unwarped
    assert (latent - expected).abs().max() < 1e-5
    # What the warped schedule of the first release fed instead differs grossly (the issue measured 63 %).
    warped = [1000 * 5 * u / (1 + 4 * u) for u in (1.0, 0.757, 0.522)]
    g, other = torch.Generator().manual_seed(11), x.clone()
    for i, t in enumerate(warped):
        other = fastvideo_step(i, other, velocity(other, torch.tensor(t)), tuple(int(w) for w in warped), g)
    assert ((other - expected).norm() / expected.norm()) > 0.3


def test_a_fastwan_clip_is_sampled_exactly_as_fastvideo_samples_it(models, tmp_path):
    """The real tiny pipeline, end to end: what the transformer is fed at every step, and what
    the VAE decodes, are FastVideo's loop replayed on the transformer's own outputs."""
    s = settings(models["fastwan-ti2v-5b"], size="32x32", frames=5)
    (step,) = plan_clip({"prompt": "A kite"}, s.clip_defaults, "", s.fingerprint, 20, family=s.family).steps
    generator = WanGenerator(s.model, tmp_path)
    pipe = generator.load()
    calls: list[dict[str, torch.Tensor]] = []
    decoded: list[torch.Tensor] = []
    pipe.transformer.register_forward_pre_hook(
        lambda _m, _a, kw: calls.append({"x": kw["hidden_states"].clone(), "t": kw["timestep"].clone()}),
        with_kwargs=True,
    )
    pipe.transformer.register_forward_hook(
        lambda _m, _a, _kw, out: calls[-1].update(v=out[0].clone()), with_kwargs=True
    )
    original_decode = pipe.vae.decode
    pipe.vae.decode = lambda z, *a, **kw: (decoded.append(z.clone()), original_decode(z, *a, **kw))[1]
    generator.generate(step.spec)
    assert [float(c["t"].flatten()[0]) for c in calls] == [1000.0, 757.0, 522.0]
    g = torch.Generator("cpu").manual_seed(step.spec.seed)
    x = torch.randn(calls[0]["x"].shape, generator=g, dtype=torch.float32)  # diffusers' prepare_latents
    assert torch.equal(x, calls[0]["x"])
    for i, call in enumerate(calls):
        assert (call["x"] - x).abs().max() < 1e-5, f"step {i}: the transformer was fed another latent"
        x = fastvideo_step(i, x, call["v"], FASTWAN_STEPS, g)
    config = pipe.vae.config
    mean = torch.tensor(config.latents_mean).view(1, -1, 1, 1, 1)
    std = 1.0 / torch.tensor(config.latents_std).view(1, -1, 1, 1, 1)
    assert (decoded[0] - (x / std + mean)).abs().max() < 1e-5


# --- Wan2.2-Lightning's Euler solver, ported ---------------------------------------------------------


def lightning_euler(x: torch.Tensor, steps: int, shift: float) -> tuple[list[float], torch.Tensor]:
    """`EulerScheduler.set_timesteps` + the text2video loop's `timesteps[:-1]` + `step`."""
    sigmas = torch.from_numpy(np.linspace(1000, 0, steps + 1, dtype=np.float32)) / 1000
    sigmas = shift * sigmas / (1 + (shift - 1) * sigmas)
    timesteps = sigmas * 1000
    fed = []
    for i, t in enumerate(timesteps[:-1]):
        fed.append(float(t))
        x = x.to(torch.float32) + (sigmas[i + 1] - sigmas[i]) * velocity(x, t)
    return fed, x


def test_the_euler_sampler_matches_wan22_lightnings():
    x = torch.randn(1, 4, 3, 5, 5, generator=torch.Generator().manual_seed(5))
    ours = LightningEulerScheduler(num_train_timesteps=1000, shift=5.0)
    ours.set_timesteps(4)
    fed, latent = [], x.clone()
    for t in ours.timesteps:
        fed.append(float(t))
        latent = ours.step(velocity(latent, t), t, latent, return_dict=False)[0]
    expected_fed, expected = lightning_euler(x.clone(), 4, 5.0)
    assert fed == pytest.approx(expected_fed, abs=1e-3)
    assert (latent - expected).abs().max() < 1e-5


# --- every non-distilled family against plain diffusers ----------------------------------------------


@pytest.mark.parametrize("kind", sorted(REFERENCE))
def test_each_family_samples_as_plain_diffusers_with_wans_own_settings(kind, models, tmp_path):
    from diffusers import DiffusionPipeline, UniPCMultistepScheduler

    shift, guidance, guidance_2 = REFERENCE[kind]
    size = 32 if kind == "ti2v-5b" else 16
    s = settings(models[kind], size=f"{size}x{size}", frames=5, steps=4)
    image = image_array = None
    if kind.startswith("i2v"):
        picture = tmp_path / "start.png"
        Image.new("RGB", (40, 24), (200, 40, 40)).save(picture)
        image, image_array = (picture, "ab" * 32), np.asarray(Image.open(picture).convert("RGB"))
    (step,) = plan_clip({"prompt": "A kite"}, s.clip_defaults, "", s.fingerprint, 20, image, family=s.family).steps
    ours = WanGenerator(s.model, tmp_path).generate(step.spec, image_array)

    pipe = DiffusionPipeline.from_pretrained(models[kind])
    pipe.scheduler = UniPCMultistepScheduler.from_config(pipe.scheduler.config, flow_shift=shift)
    extra = {} if guidance_2 is None else {"guidance_scale_2": guidance_2}
    if image_array is not None:
        extra["image"] = fit_image(image_array, size, size)
    video = pipe(
        prompt="A kite", negative_prompt=WAN_NEGATIVE, height=size, width=size, num_frames=5, num_inference_steps=4,
        guidance_scale=guidance, generator=torch.Generator("cpu").manual_seed(step.spec.seed), output_type="np",
        **extra,
    ).frames[0]  # fmt: skip
    reference = (np.clip(video, 0.0, 1.0) * 255.0).round().astype(np.uint8)
    difference = np.abs(ours.astype(int) - reference.astype(int))
    # TI2V-5B text-to-video runs scalar timesteps (see generate.py): equal up to float rounding.
    assert difference.max() <= (2 if kind == "ti2v-5b" else 0), (kind, difference.max())


def test_wan21_takes_shift_3_at_480p_and_5_above_and_a14b_its_own():
    from mkdocs_wan.models.families import I2V_14B, T2V_13B, T2V_A14B, sampler_name

    assert sampler_name(T2V_13B, 832, 480, None, None) == "ode@3"
    assert sampler_name(I2V_14B, 1280, 720, None, None) == "ode@5"
    assert sampler_name(T2V_A14B, 832, 480, None, None) == "ode@12"
    assert sampler_name(T2V_A14B, 1280, 720, "euler", 5.0) == "euler@5"
