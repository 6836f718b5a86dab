"""CoCoDiff as a plug-in: everything training adds around a backbone's feature map.

    auxiliary = CoCoDiff(config.method, layout, feature_dim=encoder.out_channels,
                         num_classes=K, text=embeddings)
    features, logits = recognizer.features_and_logits(x)
    losses = auxiliary(features, labels, recognizer.classifier)   # {"diff", "gen", "sem", "drift"}

One training call:

1. The real features become a latent x_0 (`latent`), standardised (`standardise`) so the noise
   schedule means the same for every channel and backbone.
2. L_diff: the denoiser, conditioned on the class's text, learns to estimate x_0 from x_t.
3. A *generated* feature for the classifier (`config.generator`):
   - `sampled`: x_0 is noised to a random level below t_max and stepped back to 0 with a few
     stochastic (DDPM) steps of the denoiser, without gradient. The classifier sees
     x_0 + stop_grad(x_gen - x_0): ordinary cross-entropy, through the backbone, at a point the
     diffusion model moved along the class's own feature distribution.
   - `one_step` (the first design, kept to measure against): the denoiser's one-step estimate,
     with gradient into the denoiser. It cannot diversify: the MSE-optimal one-step output is
     E[x_0 | x_t, y], and L_gen teaches the denoiser to write the label into it.
   - `gaussian`, `class_covariance`: the controls of `feature_noise`, at `noise_drift`.
   L_gen classifies it with the recogniser's own classifier.
4. L_sem ties pooled vectors to the class's text prototypes: the real features' (`semantic:
   real`, where the text can shape the backbone) or the generated ones'.

`drift` is not a loss: the RMS per channel of pooled(generated) - pooled(real), in standardised
units, logged so a control can be run at the generator's drift. The recogniser never calls this
module, so inference and export are untouched: the method costs nothing once training is done.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from cocodiff.method.config import MethodConfig
from cocodiff.data.layouts import Layout
from cocodiff.method.condition import NUM_ROLES, ClassCondition
from cocodiff.method.denoiser import Denoiser
from cocodiff.method.feature_noise import ClassCovariance, gaussian_offset
from cocodiff.method.latent import Latent
from cocodiff.method.losses import diffusion_loss, generation_loss, semantic_loss
from cocodiff.method.schedule import NoiseSchedule
from cocodiff.method.standardise import Standardiser
from cocodiff.models.base import Classifier

GENERATORS = ("sampled", "one_step", "gaussian", "class_covariance")


class CoCoDiff(nn.Module):
    def __init__(self, config: MethodConfig, layout: Layout, *, feature_dim: int, num_classes: int, text=None):
        super().__init__()
        if config.generator not in GENERATORS:
            raise ValueError(f"unknown generator {config.generator!r} ({', '.join(GENERATORS)})")
        if text is not None and config.text not in ("none", "label") and len(text.classes) != num_classes:
            raise ValueError(f"text covers {len(text.classes)} classes, the model has {num_classes}")
        self.config = config
        self.num_classes = num_classes
        self.latent = Latent(config.latent, layout)
        self.standardiser = Standardiser(feature_dim, config.standardise)
        self.schedule = NoiseSchedule(config.schedule, config.num_steps)
        self.condition = ClassCondition(text if config.text not in ("none", "label") else None, config.text,
                                        num_classes=num_classes, shuffle=config.text_shuffle)
        self.denoiser = Denoiser(feature_dim, self.condition.text_dim, self.latent.num_slots, NUM_ROLES,
                                 width=config.width, depth=config.depth, heads=config.heads)
        text_dim = self.condition.text_dim
        self.coarse_head = nn.Linear(feature_dim, text_dim) if self.uses_coarse_semantics else None
        self.part_head = nn.Linear(feature_dim, text_dim) if self.uses_part_semantics else None
        self.class_covariance = (ClassCovariance(num_classes, feature_dim)
                                 if config.generator == "class_covariance" else None)

    @property
    def uses_coarse_semantics(self) -> bool:
        return self.condition.uses_coarse

    @property
    def uses_part_semantics(self) -> bool:
        return self.condition.uses_fine and self.latent.has_parts

    # ---- pieces -----------------------------------------------------------------------------
    def _condition(self, labels: Tensor, training: bool) -> tuple[Tensor, Tensor, Tensor]:
        text, roles = self.condition.tokens(labels, random_sentence=training)
        keep = torch.ones(text.shape[:2], dtype=torch.bool, device=labels.device)
        if training and self.config.p_uncond > 0 and text.shape[1]:
            dropped = torch.rand(labels.shape[0], device=labels.device) < self.config.p_uncond
            keep = keep & ~dropped[:, None]
        return text, roles, keep

    def denoise(self, x_t: Tensor, t: Tensor, labels: Tensor, *, training: bool) -> Tensor:
        """The denoiser's x0 estimate, in standardised latent units.

        With `config.skip` the network predicts only a correction: x0 = sqrt(abar_t) x_t +
        sqrt(1 - abar_t) F(x_t), the x0 estimate that is optimal for unit-variance data with
        F = 0, so at low noise the estimate starts from the input instead of from nothing.
        """
        text, roles, keep = self._condition(labels, training)
        output = self.denoiser(x_t, t, text.to(x_t.dtype), roles, keep)
        if not self.config.skip:
            return output
        signal, noise = self.schedule.coefficients(t, x_t)
        return signal * x_t + noise * output

    @torch.no_grad()
    def sample(self, z0: Tensor, labels: Tensor, *, start: int, steps: int, eta: float = 1.0,
               generator: torch.Generator | None = None, training: bool = False) -> Tensor:
        """Standardised latents varied from `z0`: noised to `start`, stepped back to t = 0."""
        timesteps = self.schedule.set_timesteps(steps, start=start)
        t0 = torch.full((z0.shape[0],), int(timesteps[0]), device=z0.device)
        noise = torch.randn(z0.shape, generator=generator, dtype=z0.dtype, device=z0.device)
        x = self.schedule.add_noise(z0, noise, t0)
        for t in timesteps.tolist():
            estimate = self.denoise(x, torch.full_like(t0, t), labels, training=training)
            x = self.schedule.step(estimate, t, x, eta=eta, generator=generator)
        return x

    def _pooled_offset(self, z0: Tensor, labels: Tensor) -> Tensor:
        """A control's offset (N, C), added to every token of z0."""
        pooled = self.latent.pool(z0.detach())
        if self.class_covariance is None:
            return gaussian_offset(pooled, self.config.noise_drift)
        if self.training:
            self.class_covariance.update(pooled, labels)
        return self.class_covariance.offset(labels, self.config.noise_drift).to(z0.dtype)

    def _generated(self, z0: Tensor, estimate: Tensor, labels: Tensor) -> Tensor:
        generator = self.config.generator
        if generator == "one_step":
            return estimate
        if generator == "sampled":
            start = int(torch.randint(1, self.config.t_max, ()))
            varied = self.sample(z0.detach(), labels, start=start, steps=self.config.sample_steps,
                                 training=self.training)
            return z0 + (varied - z0.detach())
        return z0 + self._pooled_offset(z0, labels)[:, None, None, :]

    def _semantic(self, latent: Tensor, labels: Tensor) -> Tensor:
        c, sem = self.config, []
        if self.coarse_head is not None:
            pooled = self.coarse_head(self.latent.pool(latent))
            sem.append(semantic_loss(pooled, self.condition.coarse_prototypes, labels, c.temperature,
                                     soft=c.soft_targets))
        if self.part_head is not None:
            parts = self.part_head(self.latent.part_pool(latent))
            sem.append(semantic_loss(parts, self.condition.part_prototypes, labels, c.temperature,
                                     soft=c.soft_targets))
        return sum(sem) / len(sem) if sem else latent.new_zeros(())

    # ---- training ---------------------------------------------------------------------------
    def training_path(self, features: Tensor, labels: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """(x0 in feature units; then z0, the denoiser's estimate at a random t and the generated
        latent, in standardised units).

        What one training step makes of real features (N, M, C', T', V); `forward` turns it into
        losses, and the diagnostics measure it on saved checkpoints.
        """
        c = self.config
        x0 = self.latent(features)
        if self.training:
            self.standardiser.update(x0)
        z0 = self.standardiser(x0)
        # Only the first design lets L_diff's input carry gradient to the backbone.
        source = z0 if c.generator == "one_step" and c.grad_to_backbone else z0.detach()
        t = self.schedule.sample_timesteps(z0.shape[0], c.t_max, device=z0.device)
        x_t = self.schedule.add_noise(source, torch.randn_like(source), t)
        estimate = self.denoise(x_t, t, labels, training=self.training)
        return x0, z0, estimate, self._generated(z0, estimate, labels)

    def forward(self, features: Tensor, labels: Tensor, classifier: Classifier) -> dict[str, Tensor]:
        """The unweighted auxiliary losses for one batch of real features (N, M, C', T', V)."""
        x0, z0, estimate, generated = self.training_path(features, labels)
        pooled = self.latent.pool(self.standardiser.inverse(generated, like=x0))
        drift = (self.latent.pool(generated) - self.latent.pool(z0)).detach().pow(2).mean().sqrt()
        semantic_source = z0 if self.config.semantic == "real" else generated
        return {"diff": diffusion_loss(estimate, z0), "gen": generation_loss(classifier.head(pooled), labels),
                "sem": self._semantic(semantic_source, labels), "drift": drift}

    def weighted(self, losses: dict[str, Tensor], ramp: float = 1.0) -> Tensor:
        """The auxiliary's share of the loss; `ramp` (0 to 1, the warm-up) scales L_gen and L_sem."""
        c = self.config
        return c.loss_diff * losses["diff"] + ramp * (c.loss_gen * losses["gen"] + c.loss_sem * losses["sem"])

    # ---- generation -------------------------------------------------------------------------
    @torch.no_grad()
    def generate(self, features: Tensor, labels: Tensor, *, start: int | None = None, steps: int = 10,
                 eta: float = 1.0, generator: torch.Generator | None = None) -> Tensor:
        """Generated latents (N, T', S, C') in feature units, varied from real `features`.

        Each real latent is noised to `start` (default t_max - 1) and stepped back to t = 0 in
        `steps` steps; eta = 1 samples DDPM's posterior (diverse), eta = 0 is deterministic DDIM.
        """
        x0 = self.latent(features)
        start = self.config.t_max - 1 if start is None else start
        varied = self.sample(self.standardiser(x0), labels, start=start, steps=steps, eta=eta, generator=generator)
        return self.standardiser.inverse(varied, like=x0)
