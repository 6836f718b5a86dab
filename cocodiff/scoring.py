"""Scores and their metrics: top-k, per-class accuracy, confusion, fusion, and the files.

Pure numpy (matplotlib only when a confusion PNG is drawn), so `python -m cocodiff.fuse` never
imports torch. Accuracies are percentages, as in training's `metrics.jsonl`.

A scores file (`scores.npz`, read with `allow_pickle=False`) holds:

- `logits`: float32 (N, K), the model's raw outputs (for a fused file, the fused scores);
- `labels`: int64 (N,), the true class of each sample;
- `frame_dir`: str (N,), the sample names, in the split's order;
- `classes`: str (K,), the class names;
- `split`: str (), the split they come from.
"""

from __future__ import annotations

import io
import json
import math
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from cocodiff.atomic import atomic_open, atomic_write_bytes, atomic_write_text
from cocodiff.errors import CocodiffError, first_line

SCORE_KEYS = ("logits", "labels", "frame_dir", "classes", "split")
FILES = ("scores.npz", "metrics.json", "confusion.png")


# ---- metrics ---------------------------------------------------------------------------------
def ranking(logits: np.ndarray) -> np.ndarray:
    """Class indices per sample, best first (ties: the lower index first)."""
    return np.argsort(-np.asarray(logits, dtype=np.float64), axis=1, kind="stable")


def topk_accuracy(logits: np.ndarray, labels: np.ndarray, k: int) -> float:
    """Percentage of samples whose label is among their k best classes (k is capped at K)."""
    labels = np.asarray(labels)
    if len(labels) == 0:
        return math.nan
    top = ranking(logits)[:, :min(k, logits.shape[1])]
    return 100.0 * float((top == labels[:, None]).any(axis=1).mean())


def confusion_matrix(labels: np.ndarray, predictions: np.ndarray, num_classes: int) -> np.ndarray:
    """int64 (K, K): row = true class, column = predicted class."""
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (np.asarray(labels, dtype=np.int64), np.asarray(predictions, dtype=np.int64)), 1)
    return matrix


def summarize(logits: np.ndarray, labels: np.ndarray, classes: Sequence[str]) -> dict[str, Any]:
    """top-1, top-5 (top-min(5, K)), mean class accuracy and per-class accuracy with counts."""
    logits, labels = np.asarray(logits), np.asarray(labels, dtype=np.int64)
    num_classes = len(classes)
    predictions = ranking(logits)[:, 0]
    matrix = confusion_matrix(labels, predictions, num_classes)
    counts, correct = matrix.sum(axis=1), np.diag(matrix)
    per_class = [{"index": i, "name": str(name), "count": int(counts[i]), "correct": int(correct[i]),
                  "accuracy": 100.0 * float(correct[i]) / counts[i] if counts[i] else None}
                 for i, name in enumerate(classes)]
    seen = [entry["accuracy"] for entry in per_class if entry["accuracy"] is not None]
    return {
        "N": int(len(labels)),
        "num_classes": num_classes,
        "top1": topk_accuracy(logits, labels, 1),
        "top5": topk_accuracy(logits, labels, 5),
        "top5_k": min(5, num_classes),
        "mean_class_accuracy": float(np.mean(seen)) if seen else math.nan,
        "per_class": per_class,
    }


def per_source_class(logits: np.ndarray, labels: np.ndarray, source_classes: Sequence[str],
                     classes: Sequence[str]) -> list[dict[str, Any]]:
    """Accuracy per class of the *data* when a class map relabelled it (several data classes may
    share a model class): count, correct, accuracy and the most frequent predictions."""
    predictions = ranking(logits)[:, 0]
    source_classes = np.asarray(source_classes)
    result = []
    for name in dict.fromkeys(source_classes.tolist()):  # first-seen order
        rows = source_classes == name
        target = int(labels[rows][0])
        predicted, counts = np.unique(predictions[rows], return_counts=True)
        order = np.argsort(-counts, kind="stable")
        result.append({"name": str(name), "model_class": str(classes[target]), "count": int(rows.sum()),
                       "correct": int((predictions[rows] == target).sum()),
                       "accuracy": 100.0 * float((predictions[rows] == target).mean()),
                       "predicted": [{"name": str(classes[predicted[i]]), "count": int(counts[i])} for i in order[:3]]})
    return result


def worst_classes(metrics: dict[str, Any], count: int = 5) -> list[dict[str, Any]]:
    """The `count` classes with the lowest accuracy among those with samples."""
    seen = [entry for entry in metrics["per_class"] if entry["count"]]
    return sorted(seen, key=lambda entry: (entry["accuracy"], entry["index"]))[:count]


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.asarray(logits, dtype=np.float64) - np.max(logits, axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


def fuse(logits: Sequence[np.ndarray], weights: Sequence[float], normalize: str = "none") -> np.ndarray:
    """sum_i w_i * s_i, with s_i the raw logits ("none", the published CTR-GCN ensemble) or their
    softmax ("softmax")."""
    if len(logits) != len(weights):
        raise ValueError(f"{len(logits)} score arrays but {len(weights)} weights")
    if normalize not in ("none", "softmax"):
        raise ValueError(f"normalize must be 'none' or 'softmax', got {normalize!r}")
    total = np.zeros(np.shape(logits[0]), dtype=np.float64)
    for scores, weight in zip(logits, weights):
        total += float(weight) * (softmax(scores) if normalize == "softmax" else np.asarray(scores, dtype=np.float64))
    return total.astype(np.float32)


def summary_lines(metrics: dict[str, Any]) -> list[str]:
    """top-1 / top-5 / mean class accuracy, then the 5 worst classes, for the terminal."""
    k = metrics["top5_k"]
    note = f" (only {metrics['num_classes']} classes)" if k < 5 else ""
    lines = [f"top-1 {metrics['top1']:.2f}%  top-{k} {metrics['top5']:.2f}%{note}  "
             f"mean class accuracy {metrics['mean_class_accuracy']:.2f}%  ({metrics['N']} clips)"]
    worst = worst_classes(metrics)
    if worst:
        lines.append("worst classes: " + "; ".join(
            f"{entry['name']} {entry['accuracy']:.1f}% ({entry['correct']}/{entry['count']})" for entry in worst))
    for entry in metrics.get("per_source_class", []):
        mistaken = [f"{p['name']} {p['count']}" for p in entry["predicted"] if p["name"] != entry["model_class"]]
        lines.append(f"  {entry['name']} -> {entry['model_class']}: {entry['accuracy']:.1f}% "
                     f"({entry['correct']}/{entry['count']})" + (f"; also {', '.join(mistaken)}" if mistaken else ""))
    return lines


# ---- files -----------------------------------------------------------------------------------
@dataclass
class Scores:
    logits: np.ndarray  # float32 (N, K)
    labels: np.ndarray  # int64 (N,)
    frame_dir: np.ndarray  # str (N,)
    classes: np.ndarray  # str (K,)
    split: str


def save_scores(path: str | os.PathLike, scores: Scores) -> None:
    buffer = io.BytesIO()
    np.savez(buffer, logits=np.asarray(scores.logits, dtype=np.float32),
             labels=np.asarray(scores.labels, dtype=np.int64), frame_dir=np.asarray(scores.frame_dir, dtype=str),
             classes=np.asarray(scores.classes, dtype=str), split=np.asarray(str(scores.split)))
    atomic_write_bytes(path, buffer.getvalue())


def load_scores(path: str | os.PathLike) -> Scores:
    """Read and check a scores file; any problem is one `CocodiffError` naming it."""
    path = Path(path)
    if not path.is_file():
        raise CocodiffError(f"{path}: no such scores file" + (" (it is a directory)" if path.is_dir() else ""))
    try:
        with np.load(path, allow_pickle=False) as content:
            missing = [key for key in SCORE_KEYS if key not in content.files]
            if missing:
                raise CocodiffError(f"{path}: not a cocodiff scores file (lacks {', '.join(missing)})")
            arrays = {key: content[key] for key in SCORE_KEYS}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as error:
        raise CocodiffError(f"{path}: not a readable scores file ({first_line(error)})") from None
    logits, labels = arrays["logits"], arrays["labels"]
    n = len(labels) if labels.ndim == 1 else -1
    if (logits.ndim != 2 or n != logits.shape[0] or arrays["frame_dir"].shape != (n,)
            or arrays["classes"].shape != (logits.shape[1],) or not np.issubdtype(labels.dtype, np.integer)):
        raise CocodiffError(f"{path}: inconsistent scores file (logits {logits.shape}, labels {labels.shape}, "
                            f"frame_dir {arrays['frame_dir'].shape}, classes {arrays['classes'].shape})")
    if n and (labels.min() < 0 or labels.max() >= logits.shape[1]):
        raise CocodiffError(f"{path}: labels outside the {logits.shape[1]} classes")
    if not np.isfinite(logits).all():
        raise CocodiffError(f"{path}: NaN or infinite scores")
    return Scores(logits.astype(np.float32), labels.astype(np.int64), arrays["frame_dir"].astype(str),
                  arrays["classes"].astype(str), str(arrays["split"]))


def write_report(out_dir: str | os.PathLike, scores: Scores, metrics: dict[str, Any], title: str) -> list[Path]:
    """scores.npz, metrics.json and confusion.png in `out_dir`, each written atomically."""
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise CocodiffError(f"{out_dir}: exists and is not a directory (--out)")
    predictions = ranking(scores.logits)[:, 0]
    matrix = confusion_matrix(scores.labels, predictions, len(scores.classes))
    try:
        save_scores(out_dir / "scores.npz", scores)
        atomic_write_text(out_dir / "metrics.json", json.dumps(_json_safe(metrics), indent=2) + "\n")
        plot_confusion(matrix, [str(name) for name in scores.classes], out_dir / "confusion.png", title)
    except OSError as error:
        raise CocodiffError(f"{out_dir}: cannot write the results ({error.strerror or error}); "
                            "choose another folder with --out") from None
    return [out_dir / name for name in FILES]


def _json_safe(value: Any) -> Any:
    """NaN (a split with no samples of a kind) becomes null: strict JSON has no NaN."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(item) for item in value]
    return value


# ---- the confusion plot ----------------------------------------------------------------------
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
