"""Tiny random-weight pipelines of every supported Wan family, built offline.

`model: tiny` is the TI2V-5B-shaped one; it exists so the whole real path — `from_pretrained`,
the denoising loop, VAE decode, encoding, embedding — runs on any CPU without the 34 GB
checkpoint. `save_tiny(kind, folder)` (and `mkdocs-wan tiny KIND FOLDER`) writes one of the other
shapes as a pipeline folder that `model:` can point at, so every family's path — two experts, the
16-channel Wan2.1 VAE, an image encoder, a DMD-distilled checkpoint — is proven the same way.
Their clips are noise by design. The layouts mirror the real checkpoints at toy widths: UMT5 text
encoder, transformer with patch (1, 2, 2), and either TI2V-5B's residual 48-z VAE with patch 2 or
the Wan2.1 16-z VAE that Wan2.1 and Wan2.2-A14B share.
"""

from __future__ import annotations

import json
import os
import shutil
import string
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mkdocs_wan.models.reference import TINY_VERSION
from mkdocs_wan.store.layout import CacheLayout

if TYPE_CHECKING:
    pass

#: The shapes `save_tiny` can write, by the family they stand for.
KINDS = {
    "ti2v-5b": "Wan2.2-TI2V-5B",
    "t2v-a14b": "Wan2.2-T2V-A14B",
    "i2v-a14b": "Wan2.2-I2V-A14B",
    "t2v-1.3b": "Wan2.1-T2V-1.3B",
    "i2v-14b": "Wan2.1-I2V-14B-720P",
    "fastwan-ti2v-5b": "FastWan2.2-TI2V-5B (DMD)",
    "fastwan-t2v-1.3b": "FastWan2.1-T2V-1.3B (DMD)",
}

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


def save_tiny(kind: str, folder: Path) -> Path:
    """Write the tiny pipeline of `kind` (see `KINDS`) to `folder`, as `save_pretrained` does."""
    if kind not in KINDS:
        raise ValueError(f"unknown tiny model {kind!r}; one of {', '.join(KINDS)}")
    pipe = build_tiny_pipeline(kind)
    pipe.save_pretrained(folder)
    if kind.startswith("fastwan"):  # as FastVideo publishes it: a pipeline class diffusers lacks
        index_path = folder / "model_index.json"
        index = json.loads(index_path.read_text())
        index["_class_name"] = "WanDMDPipeline"
        index_path.write_text(json.dumps(index, indent=2))
    return folder


def _tokenizer() -> Any:
    from transformers import T5TokenizerFast

    # A Unigram vocabulary built in memory: specials, then words, then single characters so that
    # any prompt tokenizes without <unk> floods.
    pieces = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0)]
    pieces += [(f"\u2581{w}", -5.0) for w in _WORDS.split()]
    pieces += [(c, -10.0) for c in string.ascii_letters + string.digits + ".,'-!?\u2581"]
    return T5TokenizerFast(vocab=pieces, extra_ids=0)


def _text_encoder(vocab: int) -> Any:
    from transformers import UMT5Config, UMT5EncoderModel

    return UMT5EncoderModel(
        UMT5Config(
            vocab_size=vocab,
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


def _transformer(in_channels: int, out_channels: int, seed: int, **extra: Any) -> Any:
    import torch
    from diffusers import WanTransformer3DModel

    torch.manual_seed(seed)
    return WanTransformer3DModel(
        patch_size=(1, 2, 2),
        num_attention_heads=2,
        attention_head_dim=12,
        in_channels=in_channels,
        out_channels=out_channels,
        text_dim=_TEXT_DIM,
        freq_dim=256,
        ffn_dim=32,
        num_layers=2,
        cross_attn_norm=True,
        qk_norm="rms_norm_across_heads",
        rope_max_seq_len=1024,
        **extra,
    )


def build_tiny_pipeline(kind: str = "ti2v-5b") -> Any:
    """Create a tiny pipeline in memory with deterministic weights and no network access."""
    if kind not in ("ti2v-5b", "fastwan-ti2v-5b"):
        return _build_wan21_shaped(kind)
    import torch
    from diffusers import AutoencoderKLWan, UniPCMultistepScheduler, WanPipeline

    tokenizer = _tokenizer()
    torch.manual_seed(0)
    text_encoder = _text_encoder(len(tokenizer))
    transformer = _transformer(48, 48, seed=1)  # as in TI2V-5B: any valid size works, even 1280x704
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


def _build_wan21_shaped(kind: str) -> Any:
    """The Wan2.1 VAE families: Wan2.1 T2V / I2V, the two-expert A14B ones, FastWan2.1."""
    import torch
    from diffusers import AutoencoderKLWan, UniPCMultistepScheduler, WanImageToVideoPipeline, WanPipeline

    image = kind in ("i2v-a14b", "i2v-14b")
    experts = 2 if kind.endswith("a14b") else 1
    tokenizer = _tokenizer()
    torch.manual_seed(0)
    text_encoder = _text_encoder(len(tokenizer))
    extra: dict[str, Any] = {}
    encoder: dict[str, Any] = {}
    if kind == "i2v-14b":  # Wan2.1 I2V conditions on CLIP image features too
        from transformers import CLIPImageProcessorPil, CLIPVisionConfig, CLIPVisionModel

        torch.manual_seed(3)
        vision = CLIPVisionConfig(
            hidden_size=16, intermediate_size=32, num_hidden_layers=2, num_attention_heads=2, image_size=32,
            patch_size=8, projection_dim=16,
        )  # fmt: skip
        encoder = {
            "image_encoder": CLIPVisionModel(vision).eval(),
            "image_processor": CLIPImageProcessorPil(crop_size=32, size={"shortest_edge": 32}),
        }
        extra = {"image_dim": 16, "added_kv_proj_dim": 24}
    channels = 36 if image else 16
    transformers = [_transformer(channels, 16, seed=1 + i, **extra) for i in range(experts)]
    torch.manual_seed(2)
    vae = AutoencoderKLWan(base_dim=8, z_dim=16, dim_mult=[1, 1, 1, 1], num_res_blocks=1)
    # As diffusers' conversion script writes every non-TI2V repository (and so the published
    # A14B ones): 3.0, whatever shift the family is sampled with — the plugin applies that itself.
    shift = 8.0 if kind == "fastwan-t2v-1.3b" else 3.0
    scheduler = UniPCMultistepScheduler(
        prediction_type="flow_prediction", use_flow_sigmas=True, num_train_timesteps=1000, flow_shift=shift
    )
    parts = dict(tokenizer=tokenizer, text_encoder=text_encoder, vae=vae, scheduler=scheduler, **encoder)
    boundary = {"t2v-a14b": 0.875, "i2v-a14b": 0.9}.get(kind)
    second = transformers[1] if experts == 2 else None
    if image:
        return WanImageToVideoPipeline(
            transformer=transformers[0], transformer_2=second, boundary_ratio=boundary, **parts
        )
    return WanPipeline(transformer=transformers[0], transformer_2=second, boundary_ratio=boundary, **parts)
