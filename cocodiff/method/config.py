"""The `method` section of the training config: the CoCoDiff auxiliary and its ablation switches.

Read by `cocodiff.method.build.build_auxiliary` and `cocodiff.method.auxiliary.CoCoDiff`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass
class MethodConfig:
    """The CoCoDiff auxiliary (training only); `enabled: false` trains the backbone alone.

    The defaults are the configuration frozen by issue 14's development fold (docs/results.md):
    the sampled generator, L_sem on the real features with soft targets from the texts."""

    enabled: bool = True
    # which text conditions the denoiser; "label" = a learned class embedding instead (a control)
    text: Literal["none", "coarse", "fine", "both", "label"] = "both"
    text_file: str = ""  # a corpus (.json, or GAP-style .txt); "" = the text shipped for the dataset
    text_shuffle: bool = False  # every class gets another class's text (a control)
    encoder: str = "minilm"  # text encoder: minilm, or clip:/local/folder
    latent: Literal["parts", "joints", "pooled"] = "parts"  # tokens the diffusion works on
    # what the classifier learns from (see cocodiff.method.auxiliary): stochastic samples of the
    # diffusion model, its one-step estimate (the first design), or a control's offset
    generator: Literal["sampled", "one_step", "gaussian", "class_covariance"] = "sampled"
    sample_steps: int = 2  # sampled: DDPM steps from a random level below t_max down to 0
    noise_drift: float = 0.3  # gaussian / class_covariance: RMS offset per channel, standardised units
    standardise: Literal["channel", "global"] = "channel"  # latent units: per-channel z-score, or one RMS
    skip: bool = True  # the denoiser predicts a correction to sqrt(abar) x_t (a skip path)
    semantic: Literal["real", "generated"] = "real"  # which features L_sem ties to the text
    soft_targets: bool = True  # L_sem's targets from the texts' own similarities, not one-hot
    grad_to_backbone: bool = True  # one_step only: L_diff, L_gen and L_sem reach the backbone through x_t
    schedule: Literal["linear", "cosine"] = "cosine"
    num_steps: int = 1000
    t_max: int = 400  # training noise levels t in [0, t_max): how far generated features drift
    width: int = 128  # denoiser transformer width (METHOD.md's full size: 256)
    depth: int = 2
    heads: int = 4
    p_uncond: float = 0.1  # condition dropout: a sample's text tokens dropped with this probability
    loss_diff: float = 1.0
    loss_gen: float = 0.5
    loss_sem: float = 0.5
    warmup_epochs: float = 2.0  # L_gen and L_sem ramp from 0 to full weight over these epochs
    temperature: float = 0.1  # of the semantic loss's cosine similarities
    lr: float = 1e-3  # AdamW for the auxiliary, following the backbone's warm-up and steps
    weight_decay: float = 0.01

    def rules(self) -> list[tuple[str, bool, str]]:
        """(field, whether its value is in range, the requirement) for this section's fields;
        `cocodiff.config.check_config` turns the first broken one into a one-line error."""
        return [
            ("num_steps", self.num_steps >= 1, "must be at least 1"),
            ("t_max", 1 <= self.t_max <= self.num_steps, "must be in 1..method.num_steps"),
            ("heads", self.heads >= 1, "must be at least 1"),
            ("width", self.width >= 8 and self.width % self.heads == 0, "must be at least 8 and a multiple of method.heads"),
            ("depth", self.depth >= 1, "must be at least 1"),
            ("p_uncond", 0 <= self.p_uncond < 1, "must be in [0, 1)"),
            ("loss_diff", self.loss_diff >= 0, "must be >= 0"),
            ("loss_gen", self.loss_gen >= 0, "must be >= 0"),
            ("loss_sem", self.loss_sem >= 0, "must be >= 0"),
            ("temperature", self.temperature > 0, "must be > 0"),
            ("lr", self.lr > 0, "must be > 0"),
            ("sample_steps", self.sample_steps >= 1, "must be at least 1"),
            ("t_max", self.generator != "sampled" or self.t_max >= 2, "must be at least 2 for method.generator=sampled"),
            ("noise_drift", self.noise_drift >= 0, "must be >= 0"),
            ("warmup_epochs", self.warmup_epochs >= 0, "must be >= 0"),
        ]
