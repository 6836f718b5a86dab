"""The scatter of real (dots) and generated (crosses) features, one colour per class, as PNG."""

from __future__ import annotations

import io
from typing import Sequence

import numpy as np


def class_colours(count: int) -> list:
    import matplotlib

    if count <= 10:
        return [matplotlib.colormaps["tab10"](i) for i in range(count)]
    if count <= 20:
        return [matplotlib.colormaps["tab20"](i) for i in range(count)]
    return [matplotlib.colormaps["turbo"](i / max(count - 1, 1)) for i in range(count)]


def render(real_2d: np.ndarray, real_labels: np.ndarray, generated_2d: np.ndarray, generated_labels: np.ndarray,
           shown: Sequence[int], names: Sequence[str], title: str, axis_labels: tuple[str, str]) -> bytes:
    """The scatter as PNG bytes: colour = class, dots = real, crosses = generated."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    colours = class_colours(len(shown))
    figure = Figure(figsize=(10.5, 7.0), layout="constrained")
    axes = figure.add_subplot()
    handles = []
    for colour, c in zip(colours, shown):
        r, g = real_labels == c, generated_labels == c
        axes.scatter(real_2d[r, 0], real_2d[r, 1], s=18, marker="o", color=colour, alpha=0.75, linewidths=0)
        axes.scatter(generated_2d[g, 0], generated_2d[g, 1], s=26, marker="x", color=colour, alpha=0.9,
                     linewidths=1.1)
        label = names[c] if len(names[c]) <= 32 else names[c][:31] + "…"
        handles.append(Line2D([], [], linestyle="", marker="s", markersize=8, color=colour, label=label))
    handles += [Line2D([], [], linestyle="", marker="o", markersize=6, color="0.35", label="real (dot)"),
                Line2D([], [], linestyle="", marker="x", markersize=7, color="0.35", label="generated (cross)")]
    axes.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False,
                ncols=1 if len(handles) <= 32 else 2)
    axes.set_xlabel(axis_labels[0])
    axes.set_ylabel(axis_labels[1])
    axes.set_title(title, fontsize=10)
    axes.grid(alpha=0.25)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()
