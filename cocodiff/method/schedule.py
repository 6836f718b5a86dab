"""The noise process, kept apart from the network that undoes it.

`NoiseSchedule` knows only the numbers of a variance-preserving diffusion: betas, the cumulative
products abar_t, how to noise a clean sample (`add_noise`) and how to step a sample back towards
clean given the network's estimate of x_0 (`set_timesteps` + `step`, deterministic DDIM or
stochastic with `eta`). It holds no parameters, so it never reaches a checkpoint: the config
rebuilds it.

Timesteps are 0-based indices into the schedule: t = 0 is the first (least) noise level and
t = num_steps - 1 the last. CoCoDiff draws t uniformly from {0, ..., t_max - 1}; t_max bounds how
far a generated feature may drift from the real one.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import Tensor

ScheduleKind = Literal["linear", "cosine"]


def linear_betas(num_steps: int, beta_start: float = 1e-4, beta_end: float = 0.02) -> Tensor:
    """DDPM's schedule, with its endpoints rescaled so any length spans the same noise range."""
    scale = 1000.0 / num_steps
    return torch.linspace(beta_start * scale, beta_end * scale, num_steps, dtype=torch.float64).clamp(max=0.999)


def cosine_betas(num_steps: int, offset: float = 0.008, max_beta: float = 0.999) -> Tensor:
    """Betas whose abar_t follows cos^2 of the step fraction (Nichol & Dhariwal's schedule)."""
    fractions = torch.arange(num_steps + 1, dtype=torch.float64) / num_steps
    abar = torch.cos((fractions + offset) / (1 + offset) * math.pi / 2) ** 2
    return (1 - abar[1:] / abar[:-1]).clamp(max=max_beta)


class NoiseSchedule:
    def __init__(self, kind: ScheduleKind = "cosine", num_steps: int = 1000):
        if num_steps < 1:
            raise ValueError(f"num_steps must be at least 1, got {num_steps}")
        if kind == "linear":
            betas = linear_betas(num_steps)
        elif kind == "cosine":
            betas = cosine_betas(num_steps)
        else:
            raise ValueError(f"unknown schedule {kind!r} (linear or cosine)")
        self.kind = kind
        self.num_steps = num_steps
        self.betas = betas
        self.alphas_cumprod = torch.cumprod(1 - betas, dim=0)
        self.timesteps = torch.arange(num_steps - 1, -1, -1)

    def __repr__(self) -> str:
        return f"NoiseSchedule({self.kind!r}, num_steps={self.num_steps})"

    def coefficients(self, t: Tensor, like: Tensor) -> tuple[Tensor, Tensor]:
        """(sqrt(abar_t), sqrt(1 - abar_t)) per sample, computed in float64, shaped like `like`."""
        abar = self.alphas_cumprod.to(like.device)[t.to(like.device).long()]
        shape = (-1, *([1] * (like.dim() - 1)))
        return abar.sqrt().to(like.dtype).reshape(shape), (1 - abar).sqrt().to(like.dtype).reshape(shape)

    def sample_timesteps(self, n: int, t_max: int | None = None, *, device=None,
                         generator: torch.Generator | None = None) -> Tensor:
        """n timesteps drawn uniformly from {0, ..., t_max - 1} (t_max defaults to all steps)."""
        t_max = self.num_steps if t_max is None else t_max
        if not 1 <= t_max <= self.num_steps:
            raise ValueError(f"t_max must be in 1..{self.num_steps}, got {t_max}")
        return torch.randint(0, t_max, (n,), device=device, generator=generator)

    def add_noise(self, x0: Tensor, noise: Tensor, t: Tensor) -> Tensor:
        """x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) noise, one t per sample along dim 0."""
        signal, noise_scale = self.coefficients(t, x0)
        return signal * x0 + noise_scale * noise

    def set_timesteps(self, num_inference_steps: int, start: int | None = None) -> Tensor:
        """Evenly spaced descending timesteps from `start` (default: the last step) down to 0.

        Starting below the last step is how features are *varied* rather than drawn from scratch:
        noise a real feature to `start`, then step back.
        """
        start = self.num_steps - 1 if start is None else start
        if not 0 <= start < self.num_steps:
            raise ValueError(f"start must be in 0..{self.num_steps - 1}, got {start}")
        if num_inference_steps < 1:
            raise ValueError(f"num_inference_steps must be at least 1, got {num_inference_steps}")
        count = min(num_inference_steps, start + 1)
        steps = torch.linspace(start, 0, count, dtype=torch.float64).round().long()
        self.timesteps = torch.unique_consecutive(steps)
        return self.timesteps

    def previous_timestep(self, t: int) -> int:
        """The step after `t` in the current `timesteps` (-1 once t is the last one)."""
        later = (self.timesteps < t).nonzero()
        return int(self.timesteps[later[0, 0]]) if len(later) else -1

    def step(self, x0_pred: Tensor, t: int, x_t: Tensor, *, eta: float = 0.0,
             generator: torch.Generator | None = None) -> Tensor:
        """One reverse step from t to the previous timestep, given the network's x0 estimate.

        DDIM: x_prev = sqrt(abar_prev) x0 + sqrt(1 - abar_prev - sigma^2) eps + sigma z, with
        sigma = eta * sqrt((1 - abar_prev) / (1 - abar_t) * (1 - abar_t / abar_prev)); eta = 0 is
        deterministic, eta = 1 is DDPM's posterior. At the final step it returns x0_pred itself.
        """
        prev = self.previous_timestep(t)
        if prev < 0:
            return x0_pred
        abar_t = float(self.alphas_cumprod[t])
        abar_prev = float(self.alphas_cumprod[prev])
        eps = (x_t - math.sqrt(abar_t) * x0_pred) / math.sqrt(1 - abar_t)
        sigma = eta * math.sqrt((1 - abar_prev) / (1 - abar_t) * (1 - abar_t / abar_prev))
        x_prev = math.sqrt(abar_prev) * x0_pred + math.sqrt(max(1 - abar_prev - sigma ** 2, 0.0)) * eps
        if sigma > 0:
            noise = torch.randn(x_t.shape, generator=generator, dtype=x_t.dtype, device=x_t.device)
            x_prev = x_prev + sigma * noise
        return x_prev
