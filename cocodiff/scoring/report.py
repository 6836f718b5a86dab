"""An evaluation's folder: scores.npz, metrics.json and confusion.png, each written atomically."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

from cocodiff.atomic import atomic_write_text
from cocodiff.errors import CocodiffError
from cocodiff.scoring.confusion_plot import plot_confusion
from cocodiff.scoring.metrics import confusion_matrix, ranking
from cocodiff.scoring.scores_file import Scores, save_scores

FILES = ("scores.npz", "metrics.json", "confusion.png")


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
