"""Measures of generated features against real ones, for the generator diagnostics.

All take pooled vectors (N, C) in one space (the classifier's input) with class labels:

- `class_geometry`: the real within-class radius (mean distance to the class centre), and where
  generated vectors sit: their drift from the real vector they came from, their distance to the
  real class centre and their own spread, each in units of that radius;
- `knn_precision_recall` (Kynkäänniemi et al., 2019): precision is the share of generated
  vectors inside the k-NN ball of some real vector (fidelity), recall the share of real vectors
  inside the k-NN ball of some generated vector (coverage), per class and averaged;
- `probe_accuracy`: a softmax-regression probe trained on real vectors only, scored on others.
  The recogniser's own classifier is no judge of generated features: it was trained on them.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def _centres(vectors: Tensor, labels: Tensor, num_classes: int) -> Tensor:
    centres = torch.zeros(num_classes, vectors.shape[1], dtype=vectors.dtype)
    centres.index_add_(0, labels, vectors)
    return centres / torch.bincount(labels, minlength=num_classes).clamp_min(1)[:, None].to(vectors.dtype)


def class_geometry(real: Tensor, generated: Tensor, labels: Tensor, num_classes: int) -> dict[str, float]:
    """`generated[i]` was made from `real[i]`, conditioned on `labels[i]`."""
    real_centres = _centres(real, labels, num_classes)
    generated_centres = _centres(generated, labels, num_classes)
    radius = (real - real_centres[labels]).norm(dim=1).mean()
    return {
        "real_radius": float(radius),
        "drift": float((generated - real).norm(dim=1).mean() / radius),
        "real_to_centre": 1.0,
        "generated_to_real_centre": float((generated - real_centres[labels]).norm(dim=1).mean() / radius),
        "generated_spread": float((generated - generated_centres[labels]).norm(dim=1).mean() / radius),
    }


def _knn_radii(points: Tensor, k: int) -> Tensor:
    distances = torch.cdist(points, points)
    return distances.topk(min(k + 1, len(points)), largest=False).values[:, -1]  # the k-th neighbour, not itself


def _covered(queries: Tensor, support: Tensor, radii: Tensor) -> Tensor:
    return (torch.cdist(queries, support) <= radii[None, :]).any(dim=1)


def knn_precision_recall(real: Tensor, generated: Tensor, labels: Tensor, k: int = 3) -> tuple[float, float]:
    precisions, recalls = [], []
    for c in labels.unique().tolist():
        r, g = real[labels == c], generated[labels == c]
        if len(r) <= k or len(g) <= k:
            continue
        precisions.append(_covered(g, r, _knn_radii(r, k)).float().mean())
        recalls.append(_covered(r, g, _knn_radii(g, k)).float().mean())
    if not precisions:
        raise ValueError(f"every class has at most k={k} vectors")
    return float(torch.stack(precisions).mean()), float(torch.stack(recalls).mean())


def probe_accuracy(train: Tensor, train_labels: Tensor, tests: dict[str, tuple[Tensor, Tensor]], *,
                   num_classes: int, steps: int = 500, weight_decay: float = 1e-3) -> dict[str, float]:
    """Top-1 (%) of a linear probe fitted on standardised `train` vectors, on each test set."""
    mean, std = train.mean(0), train.std(0).clamp_min(1e-6)
    x = (train - mean) / std
    probe = torch.nn.Linear(train.shape[1], num_classes, dtype=train.dtype)
    optimizer = torch.optim.LBFGS(probe.parameters(), max_iter=steps, line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        loss = F.cross_entropy(probe(x), train_labels) + weight_decay * probe.weight.pow(2).sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    with torch.no_grad():
        return {name: 100.0 * float((probe((v - mean) / std).argmax(1) == y).float().mean())
                for name, (v, y) in tests.items()}
