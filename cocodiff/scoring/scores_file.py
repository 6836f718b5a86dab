"""The scores file, `scores.npz` (read with `allow_pickle=False`):

- `logits`: float32 (N, K), the model's raw outputs (for a fused file, the fused scores);
- `labels`: int64 (N,), the true class of each sample;
- `frame_dir`: str (N,), the sample names, in the split's order;
- `classes`: str (K,), the class names;
- `split`: str (), the split they come from.
"""

from __future__ import annotations

import io
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cocodiff.atomic import atomic_write_bytes
from cocodiff.errors import CocodiffError, first_line

SCORE_KEYS = ("logits", "labels", "frame_dir", "classes", "split")


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
