"""The contract every backbone meets, so training, the method and export see one interface.

An *encoder* maps a skeleton batch x of shape (N, M, T, V, C) to a feature map F of shape
(N, M, C', T', V) and says how wide it is (`out_channels`). The *classifier* pools F globally
(mean over persons, frames and joints) and applies one linear layer. A `Recognizer` is exactly
these two modules: it is what inference and export keep, and everything the CoCoDiff auxiliary
adds during training lives outside it.

Only global means are used over T' and V, so the same graph serves any number of frames (ONNX
export uses a dynamic T); no adaptive pooling to sizes > 1, no einsum.
"""

from __future__ import annotations

import math
from typing import Protocol, runtime_checkable

import torch
from torch import Tensor, nn


@runtime_checkable
class Encoder(Protocol):
    """What a backbone provides: features (N, M, C', T', V) and their width C'."""

    out_channels: int

    def forward_features(self, x: Tensor) -> Tensor: ...


class Classifier(nn.Module):
    """Global mean over (M, T', V), optional dropout, then a linear layer named `fc`.

    `pool` and `head` are exposed separately so the method can classify generated features
    that are already pooled (or pooled differently) with the very same weights.
    """

    def __init__(self, in_channels: int, num_classes: int, dropout: float = 0.0):
        super().__init__()
        self.in_channels = in_channels
        self.num_classes = num_classes
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.fc = nn.Linear(in_channels, num_classes)
        # CTR-GCN's initialisation of its classifier (the bias keeps PyTorch's default).
        nn.init.normal_(self.fc.weight, 0.0, math.sqrt(2.0 / num_classes))

    @staticmethod
    def pool(features: Tensor) -> Tensor:
        """(N, M, C', T', V) -> (N, C'): the mean over persons, frames and joints."""
        return features.mean(dim=(1, 3, 4))

    def head(self, pooled: Tensor) -> Tensor:
        """(..., C') -> (..., num_classes)."""
        return self.fc(self.dropout(pooled))

    def forward(self, features: Tensor) -> Tensor:
        return self.head(self.pool(features))


class Recognizer(nn.Module):
    """Encoder + classifier: `forward(x) -> logits`, `features_and_logits(x) -> (F, logits)`."""

    def __init__(self, encoder: nn.Module, classifier: Classifier):
        super().__init__()
        if not isinstance(encoder, Encoder):
            raise TypeError(f"{type(encoder).__name__} does not provide forward_features/out_channels")
        if encoder.out_channels != classifier.in_channels:
            raise ValueError(
                f"encoder gives {encoder.out_channels} channels, classifier expects {classifier.in_channels}"
            )
        self.encoder = encoder
        self.classifier = classifier

    @property
    def num_classes(self) -> int:
        return self.classifier.num_classes

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.encoder.forward_features(x))

    def features_and_logits(self, x: Tensor) -> tuple[Tensor, Tensor]:
        features = self.encoder.forward_features(x)
        return features, self.classifier(features)


def check_input(x: Tensor, *, num_joints: int, in_channels: int, num_persons: int | None = None) -> None:
    """Fail with a readable message instead of a shape error deep inside a convolution.

    Only static dimensions are checked (M, V, C), so this costs nothing in an exported graph.
    """
    if x.dim() != 5:
        raise ValueError(f"expected x of shape (N, M, T, V, C), got {tuple(x.shape)}")
    _, persons, _, joints, channels = x.shape
    if joints != num_joints or channels != in_channels:
        raise ValueError(f"expected V={num_joints}, C={in_channels}; got x of shape {tuple(x.shape)}")
    if num_persons is not None and persons != num_persons:
        raise ValueError(
            f"this encoder normalises {num_persons} persons jointly (data BN over M*V*C); "
            f"got M={persons}: pad or drop persons to {num_persons}"
        )


def as_adjacency(adjacency) -> Tensor:
    """A (K, V, V) float32 tensor from a numpy array or tensor; A[k, i, j]: j sends to i."""
    a = torch.as_tensor(adjacency, dtype=torch.float32).clone()
    if a.dim() != 3 or a.shape[1] != a.shape[2]:
        raise ValueError(f"adjacency must have shape (K, V, V), got {tuple(a.shape)}")
    return a
