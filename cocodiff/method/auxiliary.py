"""CoCoDiff as a plug-in: everything training adds around a backbone's feature map.

    auxiliary = CoCoDiff(config.method, layout, feature_dim=encoder.out_channels,
                         num_classes=K, text=embeddings)
    features, logits = recognizer.features_and_logits(x)
    losses = auxiliary(features, labels, recognizer.classifier)   # {"diff", "gen", "sem"}

One training call: the real features become a latent x_0 (`latent`), normalised by a running
RMS so the noise schedule means the same for every backbone; a noise level t < t_max and noise
give x_t; the denoiser, conditioned on the class's text, estimates x_0. That estimate is a new,
*generated* feature: L_gen classifies it with the recogniser's own classifier and L_sem ties it
to the class's text prototypes. The recogniser never calls this module, so inference and export
are untouched: the method costs nothing once training is done.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from cocodiff.config import MethodConfig
from cocodiff.data.layouts import Layout
from cocodiff.method.condition import NUM_ROLES, ClassCondition
from cocodiff.method.denoiser import Denoiser
from cocodiff.method.latent import Latent
from cocodiff.method.losses import diffusion_loss, generation_loss, semantic_loss
from cocodiff.method.schedule import NoiseSchedule
from cocodiff.models.base import Classifier

_SCALE_MOMENTUM = 0.01


class CoCoDiff(nn.Module):
    def __init__(self, config: MethodConfig, layout: Layout, *, feature_dim: int, num_classes: int, text=None):
        super().__init__()
        self.config = config
        self.num_classes = num_classes
        self.latent = Latent(config.latent, layout)
        self.schedule = NoiseSchedule(config.schedule, config.num_steps)
        self.condition = ClassCondition(text if config.text != "none" else None, config.text)
        if text is not None and config.text != "none" and len(text.classes) != num_classes:
            raise ValueError(f"text covers {len(text.classes)} classes, the model has {num_classes}")
        self.denoiser = Denoiser(feature_dim, self.condition.text_dim, self.latent.num_slots, NUM_ROLES,
                                 width=config.width, depth=config.depth, heads=config.heads)
        text_dim = self.condition.text_dim
        self.coarse_head = nn.Linear(feature_dim, text_dim) if self.uses_coarse_semantics else None
        self.part_head = nn.Linear(feature_dim, text_dim) if self.uses_part_semantics else None
        # Running RMS of the real latent (a buffer, saved for resume); 0 until the first batch.
        self.register_buffer("scale", torch.zeros(()))

    @property
    def uses_coarse_semantics(self) -> bool:
        return self.condition.uses_coarse

    @property
    def uses_part_semantics(self) -> bool:
        return self.condition.uses_fine and self.latent.has_parts

    # ---- pieces -----------------------------------------------------------------------------
    def _update_scale(self, x0: Tensor) -> None:
        rms = x0.detach().float().pow(2).mean().sqrt().clamp_min(1e-6).to(self.scale.dtype)
        if self.scale == 0:
            self.scale.copy_(rms)
        else:
            self.scale.lerp_(rms, _SCALE_MOMENTUM)

    def _scale_for(self, x0: Tensor) -> Tensor:
        """The running RMS; before any training step, this batch's own RMS."""
        scale = self.scale if self.scale > 0 else x0.detach().pow(2).mean().sqrt()
        return scale.to(x0.dtype).clamp_min(1e-6)

    def _condition(self, labels: Tensor, training: bool) -> tuple[Tensor, Tensor, Tensor]:
        text, roles = self.condition.tokens(labels, random_sentence=training)
        keep = torch.ones(text.shape[:2], dtype=torch.bool, device=labels.device)
        if training and self.config.p_uncond > 0 and text.shape[1]:
            dropped = torch.rand(labels.shape[0], device=labels.device) < self.config.p_uncond
            keep = keep & ~dropped[:, None]
        return text, roles, keep

    def denoise(self, x_t: Tensor, t: Tensor, labels: Tensor, *, training: bool) -> Tensor:
        """The denoiser's x0 estimate, in normalised latent units."""
        text, roles, keep = self._condition(labels, training)
        return self.denoiser(x_t, t, text.to(x_t.dtype), roles, keep)

    # ---- training ---------------------------------------------------------------------------
    def forward(self, features: Tensor, labels: Tensor, classifier: Classifier) -> dict[str, Tensor]:
        """The unweighted auxiliary losses for one batch of real features (N, M, C', T', V)."""
        x0 = self.latent(features)
        if self.training:
            self._update_scale(x0)
        scale = self._scale_for(x0)
        x0 = x0 / scale
        source = x0 if self.config.grad_to_backbone else x0.detach()
        t = self.schedule.sample_timesteps(x0.shape[0], self.config.t_max, device=x0.device)
        x_t = self.schedule.add_noise(source, torch.randn_like(source), t)
        generated = self.denoise(x_t, t, labels, training=self.training)
        losses = {"diff": diffusion_loss(generated, x0),
                  "gen": generation_loss(classifier.head(self.latent.pool(generated * scale)), labels)}
        sem = []
        if self.coarse_head is not None:
            pooled = self.coarse_head(self.latent.pool(generated))
            sem.append(semantic_loss(pooled, self.condition.coarse_prototypes, labels, self.config.temperature))
        if self.part_head is not None:
            parts = self.part_head(self.latent.part_pool(generated))
            sem.append(semantic_loss(parts, self.condition.part_prototypes, labels, self.config.temperature))
        losses["sem"] = sum(sem) / len(sem) if sem else x0.new_zeros(())
        return losses

    def weighted(self, losses: dict[str, Tensor]) -> Tensor:
        c = self.config
        return c.loss_diff * losses["diff"] + c.loss_gen * losses["gen"] + c.loss_sem * losses["sem"]

    # ---- generation -------------------------------------------------------------------------
    @torch.no_grad()
    def generate(self, features: Tensor, labels: Tensor, *, start: int | None = None, steps: int = 10,
                 eta: float = 1.0, generator: torch.Generator | None = None) -> Tensor:
        """Generated latents (N, T', S, C') in feature units, varied from real `features`.

        Each real latent is noised to `start` (default t_max - 1) and stepped back to t = 0 in
        `steps` steps; eta = 1 samples DDPM's posterior (diverse), eta = 0 is deterministic DDIM.
        """
        x0 = self.latent(features)
        scale = self._scale_for(x0)
        start = self.config.t_max - 1 if start is None else start
        timesteps = self.schedule.set_timesteps(steps, start=start)
        t0 = torch.full((x0.shape[0],), int(timesteps[0]), device=x0.device)
        noise = torch.randn(x0.shape, generator=generator, dtype=x0.dtype, device=x0.device)
        x = self.schedule.add_noise(x0 / scale, noise, t0)
        for t in timesteps.tolist():
            estimate = self.denoise(x, torch.full_like(t0, t), labels, training=False)
            x = self.schedule.step(estimate, t, x, eta=eta, generator=generator)
        return x * scale
