"""Few-step sampling for DMD-distilled checkpoints (FastWan), as a scheduler diffusers' own Wan
pipelines drive.

A DMD student is not an ODE solver's model: at each of its fixed timesteps it predicts the clean
latent in one go (x0 = x_t - sigma_t*v for a flow prediction v), and the next step starts from that
x0 re-noised with fresh Gaussian noise to the next sigma (x = (1 - sigma_next)*x0 + sigma_next*eps); the last
step returns x0 itself.

This follows the torch path FastWan was trained and published with — FastVideo's
`DmdDenoisingStage` (fastvideo/pipelines/stages/denoising.py) — not its later MLX runtime: the
fixed timesteps (1000, 757, 522) are given to the transformer *raw*, unwarped by any flow shift
(`warp_denoising_step` defaults to False in training and the FastWan recipes never set it), and
each one's sigma is looked up, as `pred_noise_to_pred_video` and `add_noise` do, on the grid of a
1000-step `FlowMatchEulerDiscreteScheduler(shift=8.0)`: the nearest grid timestep's sigma, which is
t/1000 to within the grid's spacing. So a site's `flow_shift` does not apply to these models.

Because it is a scheduler, `WanPipeline.__call__` runs it unchanged: step callbacks, cancelling,
progress, image-to-video and the two-expert switch all work as with the checkpoint's own solver.
The re-noising draws from a CPU generator seeded per clip, so a clip is reproducible.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from diffusers import FlowMatchEulerDiscreteScheduler
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.schedulers.scheduling_utils import SchedulerMixin
from diffusers.utils import BaseOutput


@dataclass
class DMDSchedulerOutput(BaseOutput):
    prev_sample: torch.Tensor
    pred_original_sample: torch.Tensor


def grid_sigmas(timesteps: Sequence[int], grid_shift: float = 8.0, num_train_timesteps: int = 1000) -> list[float]:
    """Each timestep's sigma as FastVideo's DMD stage finds it: the sigma of the nearest timestep on
    a `FlowMatchEulerDiscreteScheduler(shift=grid_shift)` training grid (compared in float64)."""
    grid = FlowMatchEulerDiscreteScheduler(num_train_timesteps=num_train_timesteps, shift=grid_shift)
    table = grid.timesteps.double()
    asked = torch.tensor(list(timesteps), dtype=torch.float64)
    nearest = torch.argmin((table.unsqueeze(0) - asked.unsqueeze(1)).abs(), dim=1)
    return [float(grid.sigmas.double()[i]) for i in nearest]


class DMDScheduler(SchedulerMixin, ConfigMixin):
    """Predict x0, then re-noise to the next of a fixed list of timesteps."""

    order = 1

    @register_to_config
    def __init__(
        self,
        num_train_timesteps: int = 1000,
        denoising_timesteps: Sequence[int] = (1000, 757, 522),
        grid_shift: float = 8.0,  # FastVideo's DmdDenoisingStage: FlowMatchEulerDiscreteScheduler(shift=8.0)
    ) -> None:
        self.generator: torch.Generator | None = None
        self._set(list(denoising_timesteps), "cpu")

    def _set(self, base: list[int], device: Any) -> None:
        sigmas = grid_sigmas(base, self.config.grid_shift, self.config.num_train_timesteps)
        self.sigmas = torch.tensor([*sigmas, 0.0], dtype=torch.float64)  # as FastVideo computes x0, in float64
        self.timesteps = torch.tensor(base, dtype=torch.float32, device=device)  # raw, as the student was trained
        self.num_inference_steps = len(base)
        self._step_index: int | None = None
        self._begin_index: int | None = None

    def set_generator(self, generator: torch.Generator | None) -> None:
        """The generator the re-noising draws from (the clip's seed, like its starting noise)."""
        self.generator = generator

    def set_timesteps(self, num_inference_steps: int | None = None, device: Any = None, **_: Any) -> None:
        steps = list(self.config.denoising_timesteps)
        if num_inference_steps is not None and num_inference_steps != len(steps):
            raise ValueError(
                f"this checkpoint is distilled for {len(steps)} steps at timesteps {steps}, got {num_inference_steps}"
            )
        self._set(steps, device or "cpu")

    def set_begin_index(self, begin_index: int = 0) -> None:
        self._begin_index = begin_index

    @property
    def step_index(self) -> int | None:
        return self._step_index

    @property
    def begin_index(self) -> int | None:
        return self._begin_index

    def scale_model_input(self, sample: torch.Tensor, *_: Any, **__: Any) -> torch.Tensor:
        return sample

    def step(
        self,
        model_output: torch.Tensor,
        timestep: Any,
        sample: torch.Tensor,
        generator: torch.Generator | None = None,
        return_dict: bool = True,
    ) -> DMDSchedulerOutput | tuple[torch.Tensor]:
        """One DMD step: x0 from the flow prediction (in float64, as `pred_noise_to_pred_video`),
        then fresh noise at the next sigma (`add_noise`); the last step returns x0."""
        if self._step_index is None:
            self._step_index = self._begin_index or 0
        i = self._step_index
        sigma, sigma_next = float(self.sigmas[i]), float(self.sigmas[i + 1])
        x0 = (sample.double() - sigma * model_output.double()).to(model_output.dtype)
        if i + 1 == self.num_inference_steps:
            prev = x0
        else:
            noise = torch.randn(sample.shape, generator=generator or self.generator, dtype=x0.dtype, device="cpu").to(
                sample.device
            )
            prev = ((1.0 - sigma_next) * x0 + sigma_next * noise).type_as(noise)
        self._step_index = i + 1
        prev, x0 = prev.to(sample.dtype), x0.to(sample.dtype)
        if not return_dict:
            return (prev,)
        return DMDSchedulerOutput(prev_sample=prev, pred_original_sample=x0)

    def __len__(self) -> int:
        return self.config.num_train_timesteps
