"""Random-weight Wan pipelines built from a checkpoint's real config files.

`render.tiny` proves the code path at toy widths, where any two parts fit together. Built from the
configs a checkpoint publishes (tests/data/wan_configs/<name>/), the parts keep their real widths,
channels, VAE and scheduler, so a mismatch between them (a VAE whose `latents_mean` does not match
its `z_dim`, a text encoder narrower than the transformer's `text_dim`) fails here as it would with
the real weights. Only depth is cut (`layers`, `text_layers`): time and memory per block do not
depend on weight values, so the GPU benchmark builds the same pipelines at full depth, on the GPU.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

from mkdocs_wan.render.tiny import _tokenizer

#: The Wan2.1 I2V image encoder, OpenCLIP ViT-H/14 (its config is not among the checkpoints' files);
#: `hidden_size` comes from the transformer's `image_dim`.
CLIP_VIT_H: dict[str, Any] = {
    "intermediate_size": 5120, "num_hidden_layers": 32, "num_attention_heads": 16, "image_size": 224,
    "patch_size": 14, "projection_dim": 1024, "hidden_act": "gelu", "layer_norm_eps": 1e-5,
}  # fmt: skip
PIPELINES = {"WanPipeline": "WanPipeline", "WanDMDPipeline": "WanPipeline", "WanImageToVideoPipeline": "I2V"}


def build_from_configs(
    folder: Path,
    *,
    layers: int | None = None,
    text_layers: int | None = None,
    device: str = "cpu",
    dtype: torch.dtype = torch.float32,
    seed: int = 0,
) -> Any:
    """A diffusers Wan pipeline with random weights and the checkpoint's real shapes.

    `layers` cuts each transformer to that many blocks, `text_layers` the UMT5 encoder (whose
    feed-forward, heads and vocabulary then shrink too; its width stays the transformer's
    `text_dim`); None keeps the real depth. Weights are created on `device` in `dtype` (the VAE
    in float32, as the plugin loads it), so a full-size 14B never exists in float32 or on the CPU.
    """
    from diffusers import AutoencoderKLWan, UniPCMultistepScheduler, WanImageToVideoPipeline, WanPipeline

    index = _read(folder / "model_index.json")
    kind = PIPELINES.get(index.get("_class_name", ""))
    if kind is None:
        raise ValueError(f"{folder}: {index.get('_class_name')!r} is not a Wan pipeline ({', '.join(PIPELINES)})")
    experts = ["transformer"] + (["transformer_2"] if _present(index.get("transformer_2")) else [])
    configs = [_read(folder / name / "config.json") for name in experts]
    text = _read(folder / "text_encoder" / "config.json")
    tokenizer = _tokenizer()
    pool = _Pool(seed, device)
    with _empty(device):
        transformers = [_transformer(config, layers) for config in configs]
        text_encoder = _text_encoder(text, configs[0], text_layers, len(tokenizer))
        image = _image_parts(configs[0], layers is not None) if _present(index.get("image_encoder")) else {}
        vae = AutoencoderKLWan.from_config(_read(folder / "vae" / "config.json"))
    for model in (*transformers, text_encoder, image.get("image_encoder")):
        if model is not None:
            pool.fill(model, dtype)
    parts = {
        "tokenizer": tokenizer,
        "text_encoder": text_encoder,
        "vae": pool.fill(vae, torch.float32),
        "scheduler": UniPCMultistepScheduler.from_config(_read(folder / "scheduler" / "scheduler_config.json")),
        "transformer": transformers[0],
        "transformer_2": transformers[1] if len(transformers) > 1 else None,
        "boundary_ratio": index.get("boundary_ratio"),
        "expand_timesteps": bool(index.get("expand_timesteps", False)),
    }
    if kind == "I2V":
        return WanImageToVideoPipeline(**parts, **image)
    return WanPipeline(**parts)


def save_from_configs(folder: Path, out: Path, **options: Any) -> Path:
    """`build_from_configs` saved to `out` as `save_pretrained` writes a checkpoint, with the
    pipeline class its `model_index.json` names (FastVideo's `WanDMDPipeline`, which diffusers lacks)."""
    build_from_configs(folder, **options).save_pretrained(out)
    written = out / "model_index.json"
    index = json.loads(written.read_text())
    index["_class_name"] = _read(folder / "model_index.json")["_class_name"]
    written.write_text(json.dumps(index, indent=2))
    return out


def _transformer(config: dict[str, Any], layers: int | None) -> Any:
    from diffusers import WanTransformer3DModel

    return WanTransformer3DModel.from_config(config, **({} if layers is None else {"num_layers": layers}))


def _text_encoder(config: dict[str, Any], transformer: dict[str, Any], layers: int | None, vocab: int) -> Any:
    """UMT5 as published, read through the tiny tokenizer: cut down, its embedding is sized to that
    vocabulary; at full depth it keeps the real 256k rows (2 GB in bf16), for true memory figures."""
    from transformers import UMT5Config, UMT5EncoderModel

    if config["d_model"] != transformer["text_dim"]:
        raise ValueError(f"text encoder d_model {config['d_model']} != transformer text_dim {transformer['text_dim']}")
    small = {} if layers is None else {"num_layers": layers, "d_ff": 256, "num_heads": 4, "vocab_size": vocab}
    return UMT5EncoderModel(UMT5Config(**{**config, "dropout_rate": 0.0, **small}))


def _image_parts(transformer: dict[str, Any], cut: bool) -> dict[str, Any]:
    """Wan2.1 I2V's CLIP image encoder, as wide as the transformer's `image_dim` (2 blocks if `cut`)."""
    import transformers
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    # Without torchvision `CLIPImageProcessor` is this class anyway, with a warning.
    processor = getattr(transformers, "CLIPImageProcessorPil", None) or transformers.CLIPImageProcessor
    config = CLIPVisionConfig(**{**CLIP_VIT_H, "hidden_size": transformer["image_dim"]})
    if cut:
        config.num_hidden_layers = 2  # the pipeline reads hidden_states[-2]: one real block's output
    return {"image_encoder": CLIPVisionModelWithProjection(config), "image_processor": processor()}


@contextmanager
def _empty(device: str) -> Iterator[None]:
    """Modules whose parameters are placeholders (`_Pool.fill` makes them) and whose buffers, such
    as the transformer's rotary tables, are computed on `device` as usual."""
    from accelerate import init_empty_weights

    with torch.device(device), init_empty_weights(include_buffers=False):
        yield


class _Pool:
    """Cheap random weights: shifted copies of one seeded normal vector, scaled as PyTorch's default
    init (std 1/sqrt(3 fan_in)); norm scales 1, biases 0. Drawing each of the billion values of a
    one-block 14B (and its full-size VAE) would take most of a CPU test's time, and neither speed,
    memory nor shapes depend on the values."""

    SIZE = 1_048_573  # prime: rows of a matrix never line up with the period

    def __init__(self, seed: int, device: str) -> None:
        values = torch.randn(self.SIZE, generator=torch.Generator().manual_seed(seed)).to(device)
        self.values = torch.cat([values, values])  # any SIZE-long window of it is a rotation
        self.offsets = random.Random(seed)
        self.device = device

    def fill(self, model: Any, dtype: torch.dtype) -> Any:
        """Give `model` real parameters in `dtype`, except those `from_pretrained` keeps in float32
        (diffusers: any named in `_keep_in_fp32_modules`; transformers: its `_strict` list under
        bf16/fp16), so timings and memory match a loaded checkpoint."""
        keep = set(getattr(model, "_keep_in_fp32_modules_strict", None) or ())
        if not hasattr(model, "_keep_in_fp32_modules_strict") or dtype == torch.float16:
            keep |= set(getattr(model, "_keep_in_fp32_modules", None) or ())
        made: dict[int, torch.nn.Parameter] = {}  # tied parameters stay tied
        for prefix, module in model.named_modules():
            for name, param in list(module._parameters.items()):
                if param is None:
                    continue
                if id(param) not in made:
                    wanted = torch.float32 if keep & set(f"{prefix}.{name}".split(".")) else dtype
                    made[id(param)] = torch.nn.Parameter(self._tensor(param.shape, name, wanted), param.requires_grad)
                module._parameters[name] = made[id(param)]
        if callable(getattr(model, "tie_weights", None)):
            model.tie_weights()  # UMT5's input embedding is its `shared` one, as from_pretrained ties it
        return model.eval()

    def _tensor(self, shape: torch.Size, name: str, dtype: torch.dtype) -> torch.Tensor:
        out = torch.empty(shape, device=self.device, dtype=dtype)
        if out.dim() < 2:
            return out.fill_(1.0 if name in ("weight", "gamma") else 0.0)
        std = (3.0 * out.numel() / shape[0]) ** -0.5
        start = self.offsets.randrange(self.SIZE)
        values = (self.values[start : start + self.SIZE] * std).to(dtype)
        flat, whole = out.view(-1), out.numel() // self.SIZE * self.SIZE
        flat[:whole].view(-1, self.SIZE).copy_(values.expand(whole // self.SIZE, -1))
        flat[whole:].copy_(values[: out.numel() - whole])
        return out


def _read(path: Path) -> dict[str, Any]:
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{path} is not a JSON object")
    return data


def _present(entry: Any) -> bool:
    """A model_index entry that names a component (`["diffusers", "…"]`), not `[null, null]`."""
    return isinstance(entry, list) and len(entry) == 2 and all(isinstance(part, str) for part in entry)
