"""The auxiliary's three losses, as plain functions of tensors.

L_diff: the denoiser's x0 estimate against the (detached) real latent.
L_gen:  the shared classifier on the generated latent's pooled vector, against the true class.
L_sem:  a generated vector must be nearer (in cosine) to its own class's text prototype than to
        any other class's: cross-entropy over similarities / temperature.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor


def diffusion_loss(x0_pred: Tensor, x0: Tensor) -> Tensor:
    """Mean squared error to the clean latent; the target never passes gradient back."""
    return F.mse_loss(x0_pred, x0.detach())


def generation_loss(logits: Tensor, labels: Tensor) -> Tensor:
    return F.cross_entropy(logits, labels)


def semantic_loss(vectors: Tensor, prototypes: Tensor, labels: Tensor, temperature: float) -> Tensor:
    """Cross-entropy over cosine similarities to every class's prototype.

    vectors (N, D) with prototypes (K, D), or per part: vectors (N, P, D) with prototypes
    (K, P, D), one classification per part, averaged.
    """
    vectors = F.normalize(vectors, dim=-1)
    prototypes = F.normalize(prototypes, dim=-1)
    if vectors.dim() == 2:
        logits = vectors @ prototypes.T
        return F.cross_entropy(logits / temperature, labels)
    logits = (vectors.transpose(0, 1) @ prototypes.permute(1, 2, 0))  # (P, N, K)
    parts = logits.shape[0]
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]) / temperature, labels.repeat(parts))
