"""What one training step differentiates: the recogniser's cross-entropy, plus CoCoDiff's losses.

Wrapping both in one module lets DDP see every parameter (backbone, classifier, auxiliary) in
a single forward call.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cocodiff.models.base import Recognizer


class Objective(nn.Module):
    def __init__(self, model: Recognizer, auxiliary: nn.Module | None = None, loss_dtype: torch.dtype = torch.float32):
        super().__init__()
        self.model = model
        self.auxiliary = auxiliary
        self.loss_dtype = loss_dtype  # logits leave autocast in this precision

    def forward(self, x: Tensor, labels: Tensor, ramp: float = 1.0) -> tuple[Tensor, Tensor, dict[str, Tensor]]:
        """(total loss, logits on the real input, the separate loss terms, detached).

        `ramp` is the auxiliary's warm-up factor for this step (see `CoCoDiff.weighted`)."""
        features, logits = self.model.features_and_logits(x)
        ce = F.cross_entropy(logits.to(self.loss_dtype), labels)
        terms = {"ce": ce.detach()}
        if self.auxiliary is None:
            return ce, logits, terms
        losses = self.auxiliary(features, labels, self.model.classifier)
        terms.update({name: value.detach() for name, value in losses.items()})
        return ce + self.auxiliary.weighted(losses, ramp), logits, terms
