"""Metrics of scores: top-k, per-class accuracy, confusion, score fusion, and their summary lines.

Pure numpy, so `python -m cocodiff.fuse` never imports torch. Accuracies are percentages, as in
training's `metrics.jsonl`.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np


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


def accuracy_lines(metrics: dict[str, Any]) -> list[str]:
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
