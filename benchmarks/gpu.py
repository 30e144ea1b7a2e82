"""GPU benchmark: the published Wan checkpoints' own configs, random weights, the plugin's own path.

Run on one H100/H200:  python benchmarks/gpu.py [--budget 420] [--out PATH] [--rows NAME,...]
Prove every code path on a CPU:  python benchmarks/gpu.py --tiny --out /tmp/gpu-tiny.json

No download and no save/load: each pipeline is built from tests/data/wan_configs/<checkpoint> by
`render.blueprint.build_from_configs` at full size, directly on the GPU in bf16 (VAE in float32),
and handed to `WanGenerator.adopt`, which sets it up as `_load` sets up one it loaded (a
distilled checkpoint's DMD scheduler, the A14B boundary, `apply_tuning`, scalar timesteps for
text-to-video). Time and memory do not depend on weight values.

Rows, most important first; the JSON (device, torch/diffusers versions, one entry per row) is
rewritten after every row, so a run cut off still leaves numbers:

1. FastWan2.2-TI2V-5B, 3 DMD steps, 1280x704x121, end to end by stage, after a warm-up.
2. Wan2.2-TI2V-5B: s/step over 4 CFG steps at 1280x704x121, extrapolated to its 50, and the decode.
3. The 832x480x49 preview (FastWan, 3 steps).
4. Peak VRAM of TI2V-5B (2 steps at 1280x704x121) under `memory: high`, `balanced` and `low`.
5. Wan2.2-T2V-A14B, 4 steps as Lightning samples it (guidance 1, `euler@5`), only if time remains.

A row runs only if its estimate fits the time left of `--budget`; estimates are H100 guesses scaled
by how this run's finished rows compared with theirs. A skipped row says why. `--tiny` runs every
row on the CPU with the same configs cut to one block, at the smallest size each VAE allows and
one frame, in bf16 as on the GPU where the CPU has bf16 instructions, each architecture built once.
"""

from __future__ import annotations

import argparse
import copy
import gc
import itertools
import json
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the checkout's mkdocs_wan, installed or not
CONFIGS = ROOT / "tests" / "data" / "wan_configs"
RESULTS = ROOT / "benchmarks" / "results"
PEAK_FLOPS = 800e12  # dense bf16 on an H100 SXM, the figure the compute floor uses
TEXT_TOKENS = 512  # what WanGenerator encodes every prompt to
PROMPT = "A robot arm assembling a smartphone, close up, soft studio light"
FASTWAN, TI2V, A14B = (
    "FastWan2.2-TI2V-5B-FullAttn-Diffusers", "Wan2.2-TI2V-5B-Diffusers", "Wan2.2-T2V-A14B-Diffusers",
)  # fmt: skip
LIGHTNING = {"steps": 4, "guidance": 1.0, "sampler": "euler", "flow_shift": 5.0}


@dataclass(frozen=True)
class Row:
    name: str
    checkpoint: str
    kind: str  # "clip": one timed clip after a warm-up; "steps": s/step, extrapolated; "vram": peak memory
    size: tuple[int, int, int]  # width, height, frames on the GPU
    options: dict[str, Any] = field(default_factory=dict)  # site options (steps, guidance, sampler, …)
    estimate_s: float = 60.0  # on an H100, build included


ROWS = (
    Row("fastwan-ti2v-5b-3", FASTWAN, "clip", (1280, 704, 121), estimate_s=60),
    Row("ti2v-5b-50", TI2V, "steps", (1280, 704, 121), {"steps": 4}, estimate_s=60),
    Row("preview-832x480x49", FASTWAN, "clip", (832, 480, 49), estimate_s=30),
    Row("vram-ti2v-5b", TI2V, "vram", (1280, 704, 121), {"steps": 2}, estimate_s=150),
    Row("a14b-4-lightning", A14B, "clip", (1280, 720, 81), LIGHTNING, estimate_s=180),
)


@dataclass
class Run:
    """How this run builds pipelines: full size on the GPU, or `--tiny` on the CPU."""

    tiny: bool
    device: str = "cpu"
    built: dict[str, Any] = field(default_factory=dict)  # --tiny: pipelines by architecture, reused
    warmed: bool = False

    def size(self, row: Row, multiple: int) -> tuple[int, int, int]:
        """--tiny: the smallest size the VAE allows, one frame (tests/test_real_configs.py makes
        5-frame clips of every architecture; here the script's own code is what is checked)."""
        return (multiple, multiple, 1) if self.tiny else row.size

    @property
    def dtype(self) -> Any:
        """bf16, as on the GPU (VAE float32), so --tiny also checks the dtype handling the GPU run
        meets; float32 on a CPU without bf16 matrix instructions, where bf16 would crawl."""
        import torch

        if not self.tiny:
            return torch.bfloat16
        try:
            native = bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
        except (AttributeError, RuntimeError):
            native = False
        return torch.bfloat16 if native else torch.float32

    def build(self, checkpoint: str, memory: str) -> Any:
        """A new pipeline on the GPU (the last row's is freed). On the CPU one set of modules per
        architecture (at most two kept), each row getting a pipeline object of its own over them:
        there `memory:` changes nothing but VAE tiling, and FastWan2.2's configs are TI2V-5B's."""
        from mkdocs_wan.render.blueprint import build_from_configs

        folder = CONFIGS / checkpoint
        if not self.tiny:
            # As from_pretrained leaves it: on the GPU for `high`, in CPU memory for offload to move.
            where = self.device if memory == "high" else "cpu"
            return build_from_configs(folder, device=where, dtype=self.dtype)
        key = architecture(folder)
        if key not in self.built:
            if len(self.built) >= 2:
                self.built.clear()
                gc.collect()
            self.built[key] = build_from_configs(folder, layers=1, text_layers=1, dtype=self.dtype)
        # Its own scheduler and config (set below, and by `use_sampler`); the same modules.
        return copy.copy(self.built[key])


def architecture(folder: Path) -> str:
    """A checkpoint's configs, less what names its pipeline class or diffusers version."""
    from mkdocs_wan.render.blueprint import PIPELINES

    configs = {p.relative_to(folder).as_posix(): json.loads(p.read_text()) for p in sorted(folder.glob("*/*.json"))}
    index = json.loads((folder / "model_index.json").read_text())
    configs["model_index.json"] = {**index, "_class_name": PIPELINES[index["_class_name"]]}
    for config in configs.values():
        config.pop("_diffusers_version", None)
    return json.dumps(configs, sort_keys=True)


def transformer_flops(config: Any, tokens: int, text_tokens: int = TEXT_TOKENS) -> float:
    """FLOPs of one transformer forward: linear layers plus self- and cross-attention."""
    dim, layers, ffn = config.num_attention_heads * config.attention_head_dim, config.num_layers, config.ffn_dim
    linear = 2 * tokens * layers * (6 * dim * dim + 2 * dim * ffn)  # self q,k,v,o + cross q,o + ffn
    linear += 2 * text_tokens * layers * 2 * dim * dim  # cross-attention k, v over the text
    attention = 4 * tokens * tokens * dim * layers + 4 * tokens * text_tokens * dim * layers
    return linear + attention


def plan(run: Run, row: Row) -> tuple[Any, Any]:
    """The clip spec a site with the row's options plans (sampler, guidance, negative prompt), and
    the checkpoint's family: what `mkdocs build` would hand the generator."""
    from mkdocs_wan.assembly.plan import plan_clip
    from mkdocs_wan.settings.options import Settings

    folder = CONFIGS / row.checkpoint
    family = Settings.from_options({"model": str(folder)}, ROOT, ROOT).family
    width, height, frames = run.size(row, family.size_multiple)
    site = {"model": str(folder), "size": f"{width}x{height}", "frames": frames, **row.options}
    s = Settings.from_options(site, ROOT, ROOT)
    planned = plan_clip(
        {"prompt": PROMPT}, s.clip_defaults, "", s.fingerprint, 20, family=s.family,
        flow_shift=s["flow_shift"], solver=s["sampler"],
    )  # fmt: skip
    return planned.steps[0].spec, s.family


def resident(run: Run, checkpoint: str, memory: str = "high") -> tuple[Any, float]:
    """A `WanGenerator` holding a pipeline built from the checkpoint's configs (`adopt`: set up
    exactly as one it loaded); and the seconds that took."""
    from mkdocs_wan.models.reference import ModelRef
    from mkdocs_wan.render.generate import WanGenerator
    from mkdocs_wan.settings.options import Tuning

    started = time.perf_counter()
    folder = CONFIGS / checkpoint
    model = ModelRef.resolve(str(folder), ROOT)
    family = model.family()
    generator = WanGenerator(model, ROOT / ".cache" / "benchmark", device=run.device, tuning=Tuning(memory=memory))
    generator.adopt(run.build(checkpoint, memory), family, run.device)  # as `_load` sets up a loaded one
    synchronize()
    return generator, time.perf_counter() - started


def synchronize() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()


def free() -> None:
    """Give the GPU memory of the last row back before the next one is built."""
    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def timed_clip(generator: Any, spec: Any) -> dict[str, Any]:
    """One clip through `WanGenerator.generate`, with the GPU synchronised at every step end."""
    import torch

    stamps: list[float] = []

    def on_step(_step: int, _total: int) -> None:
        synchronize()
        stamps.append(time.perf_counter())

    cuda = torch.cuda.is_available()
    generator._embeds.clear()  # the warm-up's prompt: encode it again, as a new clip's
    free()
    started = time.perf_counter()
    frames = generator.generate(spec, on_step=on_step)
    synchronize()
    total = time.perf_counter() - started
    gaps = [b - a for a, b in itertools.pairwise(stamps)]
    stages = dict(generator.last_timings)
    pipe = generator.load()  # the adopted, resident pipeline
    forwards = 2 if spec.guidance > 1.0 or (spec.guidance_2 or 0.0) > 1.0 else 1
    tokens = generator.family.latent_tokens(spec.frames, spec.width, spec.height)
    flops = transformer_flops(pipe.transformer.config, tokens) * forwards * spec.steps
    return {
        "model": generator.family.name,
        "size": f"{spec.width}x{spec.height}x{spec.frames}",
        "steps": spec.steps,
        "sampler": spec.sampler,
        "cfg": forwards == 2,
        "frames_shape": list(frames.shape),
        "s_per_clip": round(total, 3),
        "s_per_step": round(statistics.median(gaps) if gaps else stages["denoise"], 3),
        "stages_s": {stage: round(seconds, 3) for stage, seconds in stages.items()},
        "peak_allocated_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2) if cuda else None,
        "peak_reserved_gib": round(torch.cuda.max_memory_reserved() / 2**30, 2) if cuda else None,
        "mfu_denoise": round(flops / stages["denoise"] / PEAK_FLOPS, 3) if cuda else None,
        "floor_denoise_s_at_800tf": float(f"{flops / PEAK_FLOPS:.3g}"),
    }


def warm_up(run: Run, generator: Any, spec: Any) -> float | None:
    """A small clip first (CUDA context, kernels, allocator), so the timed one measures the model:
    one frame, and 2 steps unless the checkpoint is distilled for its own. --tiny: the first row
    only (None after), where it would only cost time."""
    if run.tiny and run.warmed:
        return None
    run.warmed = True
    started = time.perf_counter()
    side = generator.family.size_multiple * (1 if spec.width <= 32 else 4)
    steps = spec.steps if generator.family.distilled else min(spec.steps, 2)
    generator.generate(replace(spec, width=side, height=side, frames=1, steps=steps))
    synchronize()
    return round(time.perf_counter() - started, 3)


def clip_row(run: Run, row: Row) -> dict[str, Any]:
    """End to end by stage (text encode, denoise, decode), after a warm-up."""
    spec = plan(run, row)[0]
    generator, built = resident(run, row.checkpoint, _memory(run, row))
    warm = warm_up(run, generator, spec)
    return {
        "build_s": round(built, 3),
        "warm_up_s": warm,
        "memory": generator.tuning.memory,
        **timed_clip(generator, spec),
    }


def steps_row(run: Run, row: Row) -> dict[str, Any]:
    """A few steps give s/step; the family's own step count is extrapolated from it."""
    spec, family = plan(run, row)
    generator, built = resident(run, row.checkpoint)
    warm = warm_up(run, generator, spec)
    clip = timed_clip(generator, spec)
    stages = clip["stages_s"]
    full = stages["text"] + family.steps * clip["s_per_step"] + stages["decode"]
    return {
        "build_s": round(built, 3), "warm_up_s": warm, **clip, f"s_{family.steps}_steps": round(full, 3),
        "decode_s": stages["decode"], "family_steps": family.steps,
    }  # fmt: skip


def vram_row(run: Run, row: Row) -> dict[str, Any]:
    """Peak GPU memory of one clip under each `memory:` setting (offload modes start in CPU memory)."""
    spec, family = plan(run, row)
    result: dict[str, Any] = {"model": family.name, "size": f"{spec.width}x{spec.height}x{spec.frames}", "memory": {}}
    for memory in ("high", "balanced", "low"):
        generator, built = resident(run, row.checkpoint, memory)
        clip = timed_clip(generator, spec)
        result["memory"][memory] = {"build_s": round(built, 3)} | {
            k: clip[k] for k in ("s_per_clip", "s_per_step", "stages_s", "peak_allocated_gib", "peak_reserved_gib")
        }
        del generator
        free()
    return result


MEASURE: dict[str, Callable[[Run, Row], dict[str, Any]]] = {"clip": clip_row, "steps": steps_row, "vram": vram_row}


def _memory(run: Run, row: Row) -> str:
    """A14B's two 14B experts and UMT5 fill an 80 GB card before the activations: offload there."""
    import torch

    if run.tiny or row.checkpoint != A14B:
        return "high"
    return "high" if torch.cuda.get_device_properties(0).total_memory >= 100 * 2**30 else "balanced"


def header(tiny: bool, budget: float) -> dict[str, Any]:
    import diffusers
    import torch
    import transformers

    cuda = torch.cuda.is_available()
    return {
        "benchmark": "gpu",
        "date": date.today().isoformat(),
        "device": torch.cuda.get_device_name() if cuda else "cpu (--tiny: real configs cut to one block)",
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "diffusers": diffusers.__version__,
        "transformers": transformers.__version__,
        "tiny": tiny,
        "budget_s": budget,
        "rows": [],
    }


def write(out: Path, result: dict[str, Any]) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    partial.write_text(json.dumps(result, indent=2) + "\n")
    partial.replace(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=420.0, help="seconds; rows that would not fit are skipped")
    parser.add_argument("--tiny", action="store_true", help="every row on the CPU, configs cut to one block")
    parser.add_argument("--out", type=Path, default=None, help="the JSON (default benchmarks/results/gpu-DATE.json)")
    parser.add_argument("--rows", default=",".join(row.name for row in ROWS), help="some of the rows, in order")
    args = parser.parse_args()
    started = time.perf_counter()
    import torch

    if not args.tiny and not torch.cuda.is_available():
        parser.error("no CUDA GPU; use --tiny to check the script on a CPU")
    run = Run(args.tiny, "cpu" if args.tiny else "cuda")
    result = header(args.tiny, args.budget)
    result["dtype"] = str(run.dtype).removeprefix("torch.") + " (VAE float32)"
    out = args.out or RESULTS / f"gpu-{result['date']}{'-tiny' if args.tiny else ''}.json"
    wanted = args.rows.split(",")
    spent = estimated = 0.0
    for row in (row for row in ROWS if row.name in wanted):
        elapsed = time.perf_counter() - started
        need = row.estimate_s * (spent / estimated if estimated else 1.0)
        record: dict[str, Any] = {"row": row.name}
        if elapsed + need > args.budget:
            left = max(0.0, args.budget - elapsed)
            record["skipped"] = f"needs about {need:.0f} s; {left:.0f} s of the {args.budget:.0f} s budget left"
        else:
            row_started = time.perf_counter()
            try:
                record.update(MEASURE[row.kind](run, row))
            except Exception as err:  # noqa: BLE001 — one failing row must not lose the others
                record["error"] = f"{type(err).__name__}: {err}"[:500]
            free()
            record["seconds"] = round(time.perf_counter() - row_started, 2)
            spent, estimated = spent + record["seconds"], estimated + row.estimate_s
        result["rows"].append(record)
        result["elapsed_s"] = round(time.perf_counter() - started, 2)
        write(out, result)
        print(json.dumps(record), flush=True)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
