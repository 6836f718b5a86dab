"""The auxiliary's three losses, as plain functions of tensors.

L_diff: the denoiser's x0 estimate against the (detached) real latent.
L_gen:  the shared classifier on the generated latent's pooled vector, against the true class.
L_sem:  a vector must be nearer (in cosine) to its own class's text prototype than to any other
        class's: cross-entropy over similarities / temperature. With soft targets, the target is
        not one-hot but how alike the texts themselves are: where two classes' texts for a body
        part say nearly the same thing (donning and doffing, feet), the loss stops asking that
        part to tell them apart.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor


def diffusion_loss(x0_pred: Tensor, x0: Tensor) -> Tensor:
    """Mean squared error to the clean latent; the target never passes gradient back."""
    return F.mse_loss(x0_pred, x0.detach())


def generation_loss(logits: Tensor, labels: Tensor) -> Tensor:
    return F.cross_entropy(logits, labels)


def text_similarity_targets(prototypes: Tensor, labels: Tensor, temperature: float) -> Tensor:
    """Soft targets softmax(cos(text_y, text_k) / temperature) over classes k.

    prototypes (K, D) -> (N, K); per part, prototypes (K, P, D) -> (P, N, K).
    """
    prototypes = F.normalize(prototypes, dim=-1)
    if prototypes.dim() == 2:
        return (prototypes[labels] @ prototypes.T / temperature).softmax(-1)
    per_part = prototypes.transpose(0, 1)  # (P, K, D)
    similarity = per_part[:, labels] @ per_part.transpose(1, 2)  # (P, N, K)
    return (similarity / temperature).softmax(-1)


def semantic_loss(vectors: Tensor, prototypes: Tensor, labels: Tensor, temperature: float, *,
                  soft: bool = False) -> Tensor:
    """Cross-entropy over cosine similarities to every class's prototype.

    vectors (N, D) with prototypes (K, D), or per part: vectors (N, P, D) with prototypes
    (K, P, D), one classification per part, averaged. `soft` uses `text_similarity_targets`
    (at the same temperature) in place of the one-hot class.
    """
    targets = text_similarity_targets(prototypes, labels, temperature) if soft else None
    vectors = F.normalize(vectors, dim=-1)
    prototypes = F.normalize(prototypes, dim=-1)
    if vectors.dim() == 2:
        logits = vectors @ prototypes.T / temperature
        return F.cross_entropy(logits, labels if targets is None else targets)
    logits = (vectors.transpose(0, 1) @ prototypes.permute(1, 2, 0)) / temperature  # (P, N, K)
    parts, classes = logits.shape[0], logits.shape[-1]
    target = labels.repeat(parts) if targets is None else targets.reshape(-1, classes)
    return F.cross_entropy(logits.reshape(-1, classes), target)
