"""Put the real latent in the units the noise schedule assumes, and back.

A variance-preserving schedule assumes data of unit variance: then sqrt(1 - abar_t) says how much
of x_t is noise. Backbone features are post-ReLU, so each channel has its own offset and spread
(many are mostly zero). `channel` standardisation subtracts a running per-channel mean and
divides by a running per-channel standard deviation, so every channel meets the same noise level;
`global` (the first design) divides everything by one running RMS, which leaves quiet channels
drowned and loud ones barely touched.

The statistics are buffers (saved for resume), set from the first training batch and then
followed with an exponential moving average; evaluation never moves them.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor, nn

Standardisation = Literal["channel", "global"]
_MOMENTUM = 0.01
_EPS = 1e-6


class Standardiser(nn.Module):
    def __init__(self, channels: int, kind: Standardisation = "channel"):
        super().__init__()
        if kind not in ("channel", "global"):
            raise ValueError(f"unknown standardisation {kind!r} (channel or global)")
        self.kind = kind
        width = channels if kind == "channel" else 1
        self.register_buffer("mean", torch.zeros(width))
        self.register_buffer("std", torch.zeros(width))  # 0 until the first training batch

    def _batch_moments(self, x: Tensor) -> tuple[Tensor, Tensor]:
        flat = x.detach().float().reshape(-1, x.shape[-1])
        if self.kind == "global":  # the first design: no centring, one RMS
            return flat.new_zeros(1), flat.pow(2).mean().sqrt().reshape(1)
        return flat.mean(0), flat.std(0, unbiased=False)

    @torch.no_grad()
    def update(self, x: Tensor) -> None:
        """Follow the statistics of a batch of latents (..., C)."""
        mean, std = self._batch_moments(x)
        mean, std = mean.to(self.mean.dtype), std.clamp_min(_EPS).to(self.std.dtype)
        if bool((self.std == 0).all()):
            self.mean.copy_(mean)
            self.std.copy_(std)
        else:
            self.mean.lerp_(mean, _MOMENTUM)
            self.std.lerp_(std, _MOMENTUM)

    def _moments(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """The running statistics; before any training step, this batch's own."""
        if bool((self.std == 0).all()):
            mean, std = self._batch_moments(x)
        else:
            mean, std = self.mean, self.std
        return mean.to(x.dtype), std.to(x.dtype).clamp_min(_EPS)

    def forward(self, x: Tensor) -> Tensor:
        mean, std = self._moments(x)
        return (x - mean) / std

    def inverse(self, z: Tensor, like: Tensor | None = None) -> Tensor:
        """Back to feature units; `like` (a real latent) stands in for statistics not yet set."""
        mean, std = self._moments(z if like is None else like)
        return z * std + mean
