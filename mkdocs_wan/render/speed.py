"""Speed and memory settings applied to a loaded pipeline (GPU-oriented; all optional).

Each setting maps to one diffusers feature: attention backends (`set_attention_backend`),
regional compilation (`compile_repeated_blocks`), model or group offloading and VAE tiling for small GPUs,
and FirstBlockCache for the `draft` preset (a cache hook that works with Wan's block layout).
Settings that only change how fast or where the math runs (attention, compile, memory) are not
part of the cache key; the draft preset (`settings.options.draft_steps`) changes the clip and is
(see `page.spec.ClipSpec.cache_hook`).
"""

from __future__ import annotations

from typing import Any

from mkdocs_wan.settings.options import DRAFT_HOOK, Tuning

__all__ = ["DRAFT_HOOK", "Tuning", "apply_tuning", "set_cache_hook"]


def apply_tuning(pipe: Any, tuning: Tuning, device: str) -> None:
    """Place the pipeline on `device` as the settings ask (called once, right after loading).

    - `high`: everything on the GPU.
    - `balanced`: diffusers' model CPU offload — each whole model (text encoder, one expert, the
      VAE) moves to the GPU when it runs, so A14B holds one 14B expert on the GPU at a time.
    - `low`: group offload, block by block, with VAE tiling (~24 GB cards).

    `compile` follows diffusers' docs: regional compilation with `fullgraph=True` where the
    weights stay put; under offload hooks, `transformer.compile()` with a larger dynamo cache
    (diffusers' "Compiling and offloading" guide, and its group-offload + compile test).
    """
    cuda = device.startswith("cuda")
    if tuning.memory == "low":
        pipe.vae.enable_tiling()  # the decode of a long clip is the memory peak (diffusers #12097)
    if tuning.memory == "low" and cuda:
        # Weights stay in CPU memory and stream to the GPU block by block; the 11.4 GB text
        # encoder and the 10 GB transformer never sit on the GPU whole.
        pipe.enable_group_offload(
            onload_device=device,
            offload_device="cpu",
            offload_type="block_level",
            num_blocks_per_group=1,
            use_stream=True,
        )
    elif tuning.memory == "balanced" and cuda:
        pipe.enable_model_cpu_offload(device=device)
    else:
        pipe.to(device)
    transformers = [t for t in (pipe.transformer, getattr(pipe, "transformer_2", None)) if t is not None]
    if tuning.attention:
        for transformer in transformers:
            transformer.set_attention_backend(tuning.attention)
    if tuning.compile:
        offloaded = cuda and tuning.memory != "high"
        if offloaded:
            import torch

            torch._dynamo.config.cache_size_limit = max(torch._dynamo.config.cache_size_limit, 1000)
        for transformer in transformers:
            if offloaded:
                transformer.compile()
            else:
                transformer.compile_repeated_blocks(fullgraph=True)


def set_cache_hook(transformer: Any, hook: str, active: list[str]) -> None:
    """Switch the transformer's cache hook to `hook` ("" = none); `active` holds the current one."""
    if active[0] == hook:
        return
    if active[0]:
        transformer.disable_cache()
    if hook:
        from diffusers import FirstBlockCacheConfig

        name, _, threshold = hook.partition(":")
        assert name == "first-block-cache", hook
        transformer.enable_cache(FirstBlockCacheConfig(threshold=float(threshold)))
    active[0] = hook
