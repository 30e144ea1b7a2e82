"""Few-step sampling for DMD-distilled checkpoints (FastWan), as a scheduler diffusers' own Wan
pipelines drive.

A DMD student is not an ODE solver's model: at each of its fixed timesteps it predicts the clean
latent in one go (x0 = x_t - sigma_t*v for a flow prediction v), and the next step starts from that
x0 re-noised with fresh Gaussian noise to the next sigma (x = (1 - sigma_next)*x0 + sigma_next*eps); the last
step returns x0 itself. This follows FastVideo's DMD denoising stage. The fixed timesteps index
the base 1000-step schedule and are warped by the flow shift like every Wan schedule
(sigma = s*u / (1 + (s - 1)*u), u = t / 1000), so 1000 stays pure noise.

Because it is a scheduler, `WanPipeline.__call__` runs it unchanged: step callbacks, cancelling,
progress, image-to-video and the two-expert switch all work as with the checkpoint's own solver.
The re-noising draws from a CPU generator seeded per clip, so a clip is reproducible.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.schedulers.scheduling_utils import SchedulerMixin
from diffusers.utils import BaseOutput


@dataclass
class DMDSchedulerOutput(BaseOutput):
    prev_sample: torch.Tensor
    pred_original_sample: torch.Tensor


def shifted_sigma(timestep: float, shift: float, num_train_timesteps: int = 1000) -> float:
    """sigma of a base-schedule timestep after Wan's flow shift."""
    u = timestep / num_train_timesteps
    return shift * u / (1 + (shift - 1) * u)


class DMDScheduler(SchedulerMixin, ConfigMixin):
    """Predict x0, then re-noise to the next of a fixed list of timesteps."""

    order = 1

    @register_to_config
    def __init__(
        self,
        num_train_timesteps: int = 1000,
        shift: float = 5.0,
        denoising_timesteps: Sequence[int] = (1000, 757, 522),
    ) -> None:
        self.generator: torch.Generator | None = None
        self._set(list(denoising_timesteps), "cpu")

    def _set(self, base: list[int], device: Any) -> None:
        n = self.config.num_train_timesteps
        sigmas = [shifted_sigma(t, self.config.shift, n) for t in base]
        self.sigmas = torch.tensor([*sigmas, 0.0], dtype=torch.float32)
        self.timesteps = (self.sigmas[:-1] * n).to(device)
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
        """One DMD step: x0 from the flow prediction, then fresh noise at the next sigma (none at the end)."""
        if self._step_index is None:
            self._step_index = self._begin_index or 0
        i = self._step_index
        sigma, sigma_next = float(self.sigmas[i]), float(self.sigmas[i + 1])
        x0 = sample.float() - sigma * model_output.float()
        if sigma_next == 0.0:
            prev = x0
        else:
            noise = torch.randn(
                sample.shape, generator=generator or self.generator, dtype=torch.float32, device="cpu"
            ).to(sample.device)
            prev = (1.0 - sigma_next) * x0 + sigma_next * noise
        self._step_index = i + 1
        prev, x0 = prev.to(sample.dtype), x0.to(sample.dtype)
        if not return_dict:
            return (prev,)
        return DMDSchedulerOutput(prev_sample=prev, pred_original_sample=x0)

    def __len__(self) -> int:
        return self.config.num_train_timesteps
