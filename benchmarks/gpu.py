"""GPU benchmark: full-size Wan models with random weights — each option, and each family.

Run on a CUDA machine:  python benchmarks/gpu.py [--steps 50] [--variants plain,ours,...]
The families (TI2V-5B 50 steps vs FastWan DMD 3 steps, A14B 40 vs 4 steps, Wan2.1-1.3B), by stage,
with `memory: high` and `low`:  python benchmarks/gpu.py --families all
Check the script on a CPU with the tiny layouts:  python benchmarks/gpu.py --tiny [--families all]

No download: every module is built from the real TI2V-5B config with random bf16 weights (time
and memory do not depend on weight values), saved, loaded with `from_pretrained` and driven
through `mkdocs_wan.render.generate.WanGenerator`, i.e. the plugin's own code path. For each variant
and size it reports s/step, s/clip end-to-end (text encode + denoise + VAE decode), peak VRAM,
and the MFU of the denoising loop against 800 TF/s. Writes benchmarks/results/gpu-<date>.json.
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import tempfile
import time
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results"
PEAK_FLOPS = 800e12  # dense bf16 on an H100 SXM, the figure the compute floor uses

TRANSFORMER = {  # scripts/convert_wan_to_diffusers.py, "Wan2.2-TI2V-5B"
    "patch_size": (1, 2, 2), "num_attention_heads": 24, "attention_head_dim": 128, "in_channels": 48,
    "out_channels": 48, "text_dim": 4096, "freq_dim": 256, "ffn_dim": 14336, "num_layers": 30,
    "cross_attn_norm": True, "qk_norm": "rms_norm_across_heads", "eps": 1e-6,
}  # fmt: skip
VAE = {
    "base_dim": 160, "decoder_base_dim": 256, "z_dim": 48, "is_residual": True, "in_channels": 12,
    "out_channels": 12, "patch_size": 2, "scale_factor_temporal": 4, "scale_factor_spatial": 16,
    "dim_mult": [1, 2, 4, 4], "num_res_blocks": 2, "attn_scales": [], "temperal_downsample": [False, True, True],
}  # fmt: skip
UMT5 = {
    "d_model": 4096, "d_kv": 64, "d_ff": 10240, "num_layers": 24, "num_heads": 64, "vocab_size": 256384,
    "feed_forward_proj": "gated-gelu", "relative_attention_num_buckets": 32,
    "relative_attention_max_distance": 128, "dropout_rate": 0.0,
}  # fmt: skip
A14B = {  # Wan2.2-T2V-A14B's transformer (each of its two experts)
    **TRANSFORMER, "num_attention_heads": 40, "in_channels": 16, "out_channels": 16, "ffn_dim": 13824,
    "num_layers": 40,
}  # fmt: skip
WAN21_13B = {**TRANSFORMER, "num_attention_heads": 12, "in_channels": 16, "out_channels": 16, "ffn_dim": 8960}
WAN21_VAE: dict[str, Any] = {}  # AutoencoderKLWan's defaults are the Wan2.1 VAE (z 16, 8x8 spatial)
#: family run -> (tiny kind, transformer config, two experts, DMD, steps, guidance, size)
FAMILIES: dict[str, tuple[str, dict[str, Any], bool, bool, int, float, tuple[int, int, int]]] = {
    "ti2v-5b-50": ("ti2v-5b", TRANSFORMER, False, False, 50, 5.0, (1280, 704, 121)),
    "fastwan-ti2v-5b-3": ("fastwan-ti2v-5b", TRANSFORMER, False, True, 3, 1.0, (1280, 704, 121)),
    "fastwan-ti2v-5b-3-preview": ("fastwan-ti2v-5b", TRANSFORMER, False, True, 3, 1.0, (832, 480, 49)),
    "t2v-a14b-40": ("t2v-a14b", A14B, True, False, 40, 4.0, (1280, 720, 81)),
    "t2v-a14b-4": ("t2v-a14b", A14B, True, False, 4, 1.0, (1280, 720, 81)),  # Lightning's schedule (no LoRA)
    "t2v-1.3b-50": ("t2v-1.3b", WAN21_13B, False, False, 50, 5.0, (832, 480, 81)),
}
SIZES = {"1280x704x121": (1280, 704, 121), "832x480x81": (832, 480, 81)}
VARIANTS: dict[str, tuple[dict[str, Any], bool, bool]] = {  # name -> (Tuning fields, draft, plain diffusers)
    "plain": ({}, False, True),
    "ours": ({}, False, False),
    "cudnn": ({"attention": "_native_cudnn"}, False, False),
    "flash": ({"attention": "flash"}, False, False),
    "compile": ({"compile": True}, False, False),
    "compile+cudnn": ({"attention": "_native_cudnn", "compile": True}, False, False),
    "draft": ({}, True, False),
    "low-memory": ({"memory": "low"}, False, False),
}


def transformer_flops(width: int, height: int, frames: int, text_tokens: int = 512) -> float:
    """FLOPs of one transformer forward: linear layers plus self- and cross-attention."""
    tokens = ((frames - 1) // 4 + 1) * (height // 32) * (width // 32)
    dim, layers, ffn = 3072, 30, 14336
    linear = 2 * tokens * layers * (6 * dim * dim + 2 * dim * ffn)  # self qkvo + cross q,o + ffn
    linear += 2 * text_tokens * layers * 2 * dim * dim  # cross-attention k, v over the text
    attention = 4 * tokens * tokens * dim * layers + 4 * tokens * text_tokens * dim * layers
    return linear + attention


def build_pipeline(folder: Path, tiny: bool) -> None:
    """Save a random-weight TI2V-5B-shaped pipeline (or the tiny one) for `from_pretrained`."""
    if tiny:
        from mkdocs_wan.render.tiny import build_tiny_pipeline

        build_tiny_pipeline().save_pretrained(folder)
        return
    import torch
    from diffusers import AutoencoderKLWan, UniPCMultistepScheduler, WanPipeline, WanTransformer3DModel
    from transformers import T5TokenizerFast, UMT5Config, UMT5EncoderModel

    from mkdocs_wan.render.tiny import _WORDS

    pieces = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), *((f"\u2581{w}", -5.0) for w in _WORDS.split())]
    torch.set_default_dtype(torch.bfloat16)  # create the 10.7 B parameters directly in bf16
    with torch.device("cuda"):
        transformer = WanTransformer3DModel(**TRANSFORMER)
        text_encoder = UMT5EncoderModel(UMT5Config(**UMT5)).eval()
        torch.set_default_dtype(torch.float32)
        vae = AutoencoderKLWan(**VAE)
    scheduler = UniPCMultistepScheduler(prediction_type="flow_prediction", use_flow_sigmas=True, flow_shift=5.0)
    pipe = WanPipeline(
        tokenizer=T5TokenizerFast(vocab=pieces, extra_ids=0), text_encoder=text_encoder, transformer=transformer,
        vae=vae, scheduler=scheduler, transformer_2=None, boundary_ratio=None, expand_timesteps=True,
    )  # fmt: skip
    pipe.save_pretrained(folder)
    del pipe, transformer, text_encoder, vae
    torch.cuda.empty_cache()


def measure(folder: Path, variant: str, size: str, steps: int, tiny: bool) -> dict[str, Any]:
    """Time one clip (after a 2-step warm-up) for one variant and size."""
    import torch

    from mkdocs_wan.models.reference import ModelRef
    from mkdocs_wan.page.spec import ClipSpec
    from mkdocs_wan.render.generate import WanGenerator
    from mkdocs_wan.settings.options import DRAFT_HOOK, Tuning, draft_steps

    tuning, draft, plain = VARIANTS[variant]
    width, height, frames = (64, 64, 9) if tiny else SIZES[size]
    cuda = torch.cuda.is_available()
    generator = WanGenerator(ModelRef.resolve(str(folder), folder), folder, tuning=Tuning(**tuning))
    pipe = generator.load()
    if plain:  # diffusers as documented: per-token timesteps, prompts encoded inside __call__
        pipe.register_to_config(expand_timesteps=True)
    prompt, negative = "A robot arm assembling a smartphone", "blurry, low quality"
    spec = ClipSpec(prompt, negative, 7, frames, 24, width, height, steps, 5.0)
    if draft:
        spec = replace(spec, steps=draft_steps(steps), cache_hook=DRAFT_HOOK)
    stamps: list[float] = []

    def on_step(_step: int, _total: int) -> None:
        if cuda:
            torch.cuda.synchronize()
        stamps.append(time.perf_counter())

    def plain_step(_pipe: Any, index: int, _t: Any, tensors: dict[str, Any]) -> dict[str, Any]:
        on_step(index, spec.steps)
        return tensors

    generator.generate(replace(spec, steps=2))  # warm-up (and compilation, if any)
    stamps.clear()
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    started = time.perf_counter()
    if plain:
        with torch.no_grad():
            pipe(
                prompt=prompt, negative_prompt=negative, height=height, width=width, num_frames=frames,
                num_inference_steps=spec.steps, guidance_scale=spec.guidance, output_type="np",
                callback_on_step_end=plain_step,
            )  # fmt: skip
    else:
        generator.generate(spec, on_step=on_step)
    if cuda:
        torch.cuda.synchronize()
    total = time.perf_counter() - started
    gaps = [b - a for a, b in itertools.pairwise(stamps)]
    per_step = statistics.median(gaps) if gaps else total
    denoise_s = (stamps[-1] - started) if stamps else total
    denoise_flops = 2 * transformer_flops(width, height, frames) * spec.steps  # CFG: two forwards per step
    return {
        "variant": variant,
        "size": f"{width}x{height}x{frames}",
        "steps": spec.steps,
        "s_per_step": round(per_step, 3),
        "s_per_clip": round(total, 2),
        "peak_vram_gb": round(torch.cuda.max_memory_allocated() / 2**30, 2) if cuda else None,
        "mfu_denoise": round(denoise_flops / denoise_s / PEAK_FLOPS, 3) if cuda else None,
        "floor_s_at_800tf": round(denoise_flops / PEAK_FLOPS, 1),
    }


def build_family(folder: Path, run: str, tiny: bool) -> None:
    """Save a random-weight pipeline of one family from its real configs (or its tiny layout)."""
    kind, config, experts, dmd, *_ = FAMILIES[run]
    if tiny:
        from mkdocs_wan.render.tiny import save_tiny

        save_tiny(kind, folder)
        return
    if kind == "ti2v-5b" or kind.startswith("fastwan-ti2v"):
        build_pipeline(folder, tiny=False)
    else:
        import torch
        from diffusers import AutoencoderKLWan, UniPCMultistepScheduler, WanPipeline, WanTransformer3DModel
        from transformers import T5TokenizerFast, UMT5Config, UMT5EncoderModel

        from mkdocs_wan.render.tiny import _WORDS

        pieces = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), *((f"\u2581{w}", -5.0) for w in _WORDS.split())]
        torch.set_default_dtype(torch.bfloat16)
        with torch.device("cuda"):
            transformers = [WanTransformer3DModel(**config) for _ in range(2 if experts else 1)]
            text_encoder = UMT5EncoderModel(UMT5Config(**UMT5)).eval()
            torch.set_default_dtype(torch.float32)
            vae = AutoencoderKLWan(**WAN21_VAE)
        shift = 12.0 if experts else 3.0
        scheduler = UniPCMultistepScheduler(prediction_type="flow_prediction", use_flow_sigmas=True, flow_shift=shift)
        pipe = WanPipeline(
            tokenizer=T5TokenizerFast(vocab=pieces, extra_ids=0), text_encoder=text_encoder,
            transformer=transformers[0], transformer_2=transformers[1] if experts else None,
            boundary_ratio=0.875 if experts else None, vae=vae, scheduler=scheduler,
        )  # fmt: skip
        pipe.save_pretrained(folder)
        del pipe, transformers, text_encoder, vae
        torch.cuda.empty_cache()
    if dmd:  # as FastVideo publishes it
        index = json.loads((folder / "model_index.json").read_text())
        (folder / "model_index.json").write_text(json.dumps({**index, "_class_name": "WanDMDPipeline"}))


def measure_family(folder: Path, run: str, memory: str, tiny: bool) -> dict[str, Any]:
    """One clip of a family through the plugin's own path (`WanGenerator.render`): seconds per
    stage (text, denoise, decode, encode), s/step and peak VRAM."""
    import torch

    from mkdocs_wan.models.reference import ModelRef
    from mkdocs_wan.page.spec import ClipSpec
    from mkdocs_wan.render.generate import WanGenerator
    from mkdocs_wan.settings.options import Tuning

    _kind, _config, experts, dmd, steps, guidance, (width, height, frames) = FAMILIES[run]
    if tiny:
        width, height, frames = 32, 32, 5
    cuda = torch.cuda.is_available()
    generator = WanGenerator(ModelRef.resolve(str(folder), folder), folder, tuning=Tuning(memory=memory))
    family = ModelRef.resolve(str(folder), folder).family()
    sampler = f"dmd:{','.join(map(str, family.dmd_timesteps))}@{family.flow_shift:g}" if dmd else ""
    spec = ClipSpec("A robot arm assembling a smartphone", "blurry, low quality", 7, frames,
                    family.fps, width, height, steps, guidance, sampler=sampler,
                    guidance_2=(3.0 if guidance > 1 else None) if experts else None)  # fmt: skip
    warm = replace(spec, frames=5, width=family.size_multiple * 2, height=family.size_multiple * 2)
    generator.render(warm, None, 20, {})  # load + warm-up at a small size
    stamps: list[float] = []

    def on_step(_step: int, _total: int) -> None:
        if cuda:
            torch.cuda.synchronize()
        stamps.append(time.perf_counter())

    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    started = time.perf_counter()
    rendered = generator.render(spec, None, 20, {}, on_step=on_step)
    total = time.perf_counter() - started
    gaps = [b - a for a, b in itertools.pairwise(stamps)]
    return {
        "family": run,
        "model": family.name,
        "memory": memory,
        "size": f"{width}x{height}x{frames}",
        "steps": steps,
        "cfg": guidance > 1,
        "s_per_step": round(statistics.median(gaps), 3) if gaps else round(total, 3),
        "s_per_clip": round(total, 2),
        "stages_s": {stage: round(seconds, 2) for stage, seconds in rendered.timings.items()},
        "peak_vram_gb": round(torch.cuda.max_memory_allocated() / 2**30, 2) if cuda else None,
    }


def run_families(runs: list[str], tiny: bool) -> list[dict[str, Any]]:
    import torch

    rows = []
    for run in runs:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp) / run
            build_family(folder, run, tiny)
            for memory in ("high", "low"):
                try:
                    row = measure_family(folder, run, memory, tiny)
                except Exception as err:  # noqa: BLE001 — one failing family must not lose the rest
                    row = {"family": run, "memory": memory, "error": f"{type(err).__name__}: {err}"[:300]}
                print(json.dumps(row), flush=True)
                rows.append(row)
                if torch.cuda.is_available():
                    torch.cuda.empty_cache()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--variants", default="plain,ours,cudnn,compile+cudnn,draft,low-memory")
    parser.add_argument("--sizes", default=",".join(SIZES))
    parser.add_argument("--tiny", action="store_true", help="check the script on a CPU with the tiny model")
    parser.add_argument("--families", default="", help=f"all, or some of {','.join(FAMILIES)}")
    args = parser.parse_args()
    import torch

    device = torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu (tiny layout)"
    rows: list[dict[str, Any]] = []
    if args.families:
        runs = list(FAMILIES) if args.families == "all" else args.families.split(",")
        rows = run_families(runs, args.tiny)
        args.variants = ""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "ti2v-5b-random"
        if args.variants:
            build_pipeline(folder, args.tiny)
        for size in args.sizes.split(",") if args.variants else ():
            for variant in args.variants.split(","):
                if args.tiny and (VARIANTS[variant][0].get("attention") or VARIANTS[variant][0].get("compile")):
                    continue  # CUDA-only backends; compiling takes minutes on a CPU
                try:
                    row = measure(folder, variant, size, 4 if args.tiny else args.steps, args.tiny)
                except Exception as err:  # noqa: BLE001 — one failing option must not lose the rest
                    row = {"variant": variant, "size": size, "error": f"{type(err).__name__}: {err}"[:300]}
                print(json.dumps(row), flush=True)
                rows.append(row)
                if torch.cuda.is_available():
                    torch.cuda.empty_cache()
    result = {"benchmark": "gpu", "date": date.today().isoformat(), "device": device, "rows": rows}
    RESULTS.mkdir(exist_ok=True)
    suffix = ("-families" if args.families else "") + ("-tiny-check" if args.tiny else "")
    out = RESULTS / f"gpu-{result['date']}{suffix}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
