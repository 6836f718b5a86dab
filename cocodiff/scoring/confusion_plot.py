"""The row-normalised confusion matrix as a PNG (matplotlib, imported only when drawing)."""

from __future__ import annotations

import os
from typing import Sequence

import numpy as np

from cocodiff.atomic import atomic_open


def plot_confusion(matrix: np.ndarray, classes: Sequence[str], path: str | os.PathLike, title: str) -> None:
    """Row-normalised confusion matrix as a PNG, sized so 10-60 class names stay legible.

    Cells hold the share of each true class predicted as each class; a class with no sample is
    a grey row. Up to 20 classes, each cell also prints its percentage.
    """
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    k = len(classes)
    counts = matrix.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(counts > 0, matrix / np.maximum(counts, 1), np.nan)
    names = [_short(name) + f" ({int(n)})" for name, n in zip(classes, counts[:, 0])]
    side = float(np.clip(0.2 * k + 4.5, 7.0, 18.0))
    font = 9 if k <= 20 else 8 if k <= 40 else 7
    figure = Figure(figsize=(side + 1.5, side), layout="constrained")
    axes = figure.add_subplot()
    cmap = matplotlib.colormaps["Blues"].with_extremes(bad="0.85")
    image = axes.imshow(np.ma.masked_invalid(share), cmap=cmap, vmin=0.0, vmax=1.0, interpolation="nearest")
    axes.set_xticks(range(k), [_short(name) for name in classes], rotation=60, ha="right",
                    rotation_mode="anchor", fontsize=font)
    axes.set_yticks(range(k), names, fontsize=font)
    axes.set_xlabel("predicted class", fontsize=font + 2)
    axes.set_ylabel("true class (clips)", fontsize=font + 2)
    axes.set_title(title, fontsize=font + 3)
    axes.set_xticks(np.arange(k + 1) - 0.5, minor=True)
    axes.set_yticks(np.arange(k + 1) - 0.5, minor=True)
    axes.grid(which="minor", color="white", linewidth=0.5)
    axes.tick_params(which="minor", length=0)
    if k <= 20:
        for (row, column), value in np.ndenumerate(share):
            if np.isfinite(value) and value > 0:
                axes.text(column, row, f"{100 * value:.0f}", ha="center", va="center", fontsize=font - 1,
                          color="white" if value > 0.6 else "black")
    figure.colorbar(image, ax=axes, fraction=0.04, pad=0.02, label="share of the true class")
    with atomic_open(path, "wb") as handle:
        figure.savefig(handle, format="png", dpi=100)


def _short(name: str, limit: int = 28) -> str:
    return name if len(name) <= limit else name[:limit - 1] + "…"
