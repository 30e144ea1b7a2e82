"""The `tiny` model: a Wan2.2-TI2V-shaped pipeline with random weights, built offline.

It exists so the whole real path — `from_pretrained`, the denoising loop, VAE decode, encoding,
embedding — runs on any CPU without the 34 GB checkpoint. Its clips are noise by design.
The layout mirrors TI2V-5B (UMT5 text encoder, 48-channel transformer with patch (1, 2, 2),
residual 48-z VAE with patch 2, UniPC flow scheduler, `expand_timesteps=True`) at toy widths.
"""

from __future__ import annotations

import os
import shutil
import string
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from mkdocs_wan.layout import CacheLayout

if TYPE_CHECKING:
    from diffusers import WanPipeline

#: Bump when the tiny architecture or its weights change; it is part of every tiny clip's key.
TINY_VERSION = "2"

_TEXT_DIM = 32
_WORDS = """
a an the of in on at with and to from over under into by for is are it this that robot arm
kite wind cat dog bird fish tree sky sea water fire light dark city road car train boat
plane house room hand face person people man woman child red green blue yellow white black
small large slow fast close up wide shot camera moving still loop smartphone assembling
flying running walking sunset night day rain snow cloud sun
"""


def tiny_model_dir(cache_dir: str | os.PathLike[str]) -> Path:
    """Where the tiny checkpoint lives inside the clip cache."""
    return CacheLayout(Path(cache_dir)).models / f"tiny-v{TINY_VERSION}"


def ensure_tiny_model(cache_dir: str | os.PathLike[str]) -> Path:
    """Build and save the tiny checkpoint once; return its folder for `from_pretrained`."""
    target = tiny_model_dir(cache_dir)
    if (target / "model_index.json").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    # Save into a sibling temp folder and rename, so a killed build never leaves half a model.
    staging = Path(tempfile.mkdtemp(prefix=".tiny-", dir=target.parent))
    try:
        build_tiny_pipeline().save_pretrained(staging)
        try:
            staging.rename(target)
        except OSError:  # another process finished first; its copy is identical
            if not (target / "model_index.json").is_file():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def build_tiny_pipeline() -> WanPipeline:
    """Create the tiny pipeline in memory with deterministic weights and no network access."""
    import torch
    from diffusers import (
        AutoencoderKLWan,
        UniPCMultistepScheduler,
        WanPipeline,
        WanTransformer3DModel,
    )
    from transformers import T5TokenizerFast, UMT5Config, UMT5EncoderModel

    # A Unigram vocabulary built in memory: specials, then words, then single characters so that
    # any prompt tokenizes without <unk> floods.
    pieces = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0)]
    pieces += [(f"\u2581{w}", -5.0) for w in _WORDS.split()]
    pieces += [(c, -10.0) for c in string.ascii_letters + string.digits + ".,'-!?\u2581"]
    tokenizer = T5TokenizerFast(vocab=pieces, extra_ids=0)

    torch.manual_seed(0)
    text_encoder = UMT5EncoderModel(
        UMT5Config(
            vocab_size=len(tokenizer),
            d_model=_TEXT_DIM,
            d_kv=8,
            d_ff=64,
            num_layers=2,
            num_heads=4,
            relative_attention_num_buckets=8,
            relative_attention_max_distance=16,
            feed_forward_proj="gated-gelu",
            dropout_rate=0.0,
        )
    ).eval()
    torch.manual_seed(1)
    transformer = WanTransformer3DModel(
        patch_size=(1, 2, 2),
        num_attention_heads=2,
        attention_head_dim=12,
        in_channels=48,
        out_channels=48,
        text_dim=_TEXT_DIM,
        freq_dim=256,
        ffn_dim=32,
        num_layers=2,
        cross_attn_norm=True,
        qk_norm="rms_norm_across_heads",
        rope_max_seq_len=1024,  # as in TI2V-5B: any valid size works, even 1280x704
    )
    torch.manual_seed(2)
    vae = AutoencoderKLWan(
        base_dim=3,
        z_dim=48,
        in_channels=12,
        out_channels=12,
        is_residual=True,
        patch_size=2,
        latents_mean=[0.0] * 48,
        latents_std=[1.0] * 48,
        dim_mult=[1, 1, 1, 1],
        num_res_blocks=1,
        scale_factor_spatial=16,
        scale_factor_temporal=4,
        temperal_downsample=[False, True, True],
    )
    scheduler = UniPCMultistepScheduler(
        prediction_type="flow_prediction",
        use_flow_sigmas=True,
        num_train_timesteps=1000,
        flow_shift=5.0,
    )
    return WanPipeline(
        tokenizer=tokenizer,
        text_encoder=text_encoder,
        transformer=transformer,
        vae=vae,
        scheduler=scheduler,
        transformer_2=None,
        boundary_ratio=None,
        expand_timesteps=True,
    )
