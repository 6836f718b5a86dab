"""The controls a feature-space generator must beat: offsets that need no diffusion model.

Both act on the pooled latent, the only part of a feature the classifier sees: an offset added to
every token moves the pooled vector by exactly that offset (the slot weights sum to one). Both are
sized by `drift`, the RMS per channel of the offset in standardised units, so a control can be
run at the drift the diffusion generator was measured to produce.

- `gaussian_offset`: isotropic noise, the same for every class.
- `ClassCovariance`: noise shaped like the class's own spread (the idea of ISDA, Wang et al.
  2019, sampled explicitly rather than through its closed-form loss): it moves a feature along
  the directions in which real features of its class vary.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

_MOMENTUM = 0.05


def gaussian_offset(like: Tensor, drift: float) -> Tensor:
    """(N, C) noise of standard deviation `drift`, shaped like the pooled latent `like`."""
    return drift * torch.randn_like(like)


class ClassCovariance(nn.Module):
    """Running per-class mean and covariance of pooled standardised latents (N, C)."""

    def __init__(self, num_classes: int, channels: int):
        super().__init__()
        self.register_buffer("mean", torch.zeros(num_classes, channels))
        self.register_buffer("second", torch.zeros(num_classes, channels, channels))
        self.register_buffer("seen", torch.zeros(num_classes))

    @torch.no_grad()
    def update(self, pooled: Tensor, labels: Tensor) -> None:
        pooled = pooled.detach().to(self.mean.dtype)
        for k in labels.unique().tolist():
            rows = pooled[labels == k]
            mean, second = rows.mean(0), rows.T @ rows / len(rows)
            rate = 1.0 if self.seen[k] == 0 else _MOMENTUM
            self.mean[k].lerp_(mean, rate)
            self.second[k].lerp_(second, rate)
            self.seen[k] += len(rows)

    def covariance(self, labels: Tensor) -> Tensor:
        mean = self.mean[labels]
        return self.second[labels] - mean[:, :, None] * mean[:, None, :]

    def offset(self, labels: Tensor, drift: float) -> Tensor:
        """(N, C) draws from N(0, s * Sigma_y), s chosen so the RMS per channel is `drift`."""
        values, vectors = torch.linalg.eigh(self.covariance(labels).float())
        values = values.clamp_min(0)
        root = vectors * values.sqrt()[:, None, :]
        noise = torch.randn(values.shape, device=values.device)
        draw = (root @ noise[..., None])[..., 0]
        per_channel = values.mean(-1, keepdim=True).clamp_min(1e-12).sqrt()
        return (drift * draw / per_channel).to(self.mean.dtype)
