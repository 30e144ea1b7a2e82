"""The scheduler a clip is sampled with, from the name its key records (`families.sampler_name`).

- `ode@S`: the checkpoint's own scheduler (UniPC for every published Wan repository) at shift S —
  the family's official shift unless the site sets `flow_shift` (the conversion script writes 3.0
  into every non-TI2V repository, while Wan samples T2V-A14B at 12.0 and I2V-A14B at 5.0).
- `unipc@S`: diffusers' flow UniPC at shift S, whatever the checkpoint ships.
- `euler@S`: the Euler solver Wan2.2-Lightning was distilled with (ModelTC/Wan2.2-Lightning
  `wan/utils/fm_solvers_euler.py`: sigmas `linspace(1, 0, steps + 1)` warped by the shift, each step
  `x + (sigma_next - sigma) * v`), as diffusers' `FlowMatchEulerDiscreteScheduler` with those sigmas.
- `dmd:T1,T2,…`: FastWan's few-step DMD sampling (`render.dmd`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from diffusers import FlowMatchEulerDiscreteScheduler


class LightningEulerScheduler(FlowMatchEulerDiscreteScheduler):
    """diffusers' flow Euler scheduler on Lightning's schedule: `steps` uniform sigmas from 1
    (pure noise) down, warped by the shift, and a final step to sigma 0."""

    def set_timesteps(self, num_inference_steps: int | None = None, device: Any = None, **_: Any) -> None:
        steps = num_inference_steps or 4
        super().set_timesteps(sigmas=np.linspace(1.0, 0.0, steps + 1)[:-1].tolist(), device=device)


def make_scheduler(sampler: str, original: Any) -> Any:
    """A new scheduler for `sampler`; `original` is the checkpoint's own (kept by the caller)."""
    from mkdocs_wan.render.dmd import DMDScheduler

    if sampler.startswith("dmd:"):
        return DMDScheduler(denoising_timesteps=tuple(int(t) for t in sampler.removeprefix("dmd:").split(",")))
    solver, _, shift_text = sampler.partition("@")
    shift = float(shift_text)
    if solver == "euler":
        return LightningEulerScheduler(num_train_timesteps=1000, shift=shift)
    if solver == "unipc":
        from diffusers import UniPCMultistepScheduler

        if isinstance(original, UniPCMultistepScheduler):
            return UniPCMultistepScheduler.from_config(original.config, flow_shift=shift)
        return UniPCMultistepScheduler(
            prediction_type="flow_prediction", use_flow_sigmas=True, num_train_timesteps=1000, flow_shift=shift
        )
    if solver != "ode":
        raise ValueError(f"unknown sampler {sampler!r}")
    # The checkpoint's own solver: UniPC / DPM++ take `flow_shift`, flow-matching Euler `shift`.
    field = "flow_shift" if "flow_shift" in original.config else "shift"
    return type(original).from_config(original.config, **{field: shift})


def use_sampler(pipe: Any, sampler: str) -> None:
    """Give `pipe` the scheduler `sampler` names, made once per pipeline and kept ("": its own)."""
    original = pipe.__dict__.setdefault("_wan_original_scheduler", pipe.scheduler)
    made: dict[str, Any] = pipe.__dict__.setdefault("_wan_schedulers", {})
    if not sampler:
        pipe.scheduler = original
        return
    if sampler not in made:
        made[sampler] = make_scheduler(sampler, original)
    pipe.scheduler = made[sampler]
