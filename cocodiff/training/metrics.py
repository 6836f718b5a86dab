"""Training metrics: one JSON line per epoch in `metrics.jsonl`, the same numbers in TensorBoard.

`metrics.jsonl` is the record: each line is a flat dict (epoch, step, lr, train_loss,
train_top1, val_loss, val_top1, val_top5, epoch_time_s, samples_per_s, ...). The last checkpoint
carries the same lines, and a resumed run rewrites the file from them, so a kill between writing
a line and saving the checkpoint never leaves a line twice. TensorBoard event files (scalars per
epoch, plus the training loss and rate every few steps) go to the run directory's `tb/` folder
when the `tensorboard` package is installed; without it, a note says so and the JSONL file is
still written.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from cocodiff.atomic import atomic_write_text

TIMING_KEYS = ("epoch_time_s", "samples_per_s", "eval_time_s")  # differ between identical runs


class MetricsLog:
    """Writes metrics under `run_dir`; a no-op where `enabled` is false (ranks other than 0)."""

    def __init__(self, run_dir: Path, enabled: bool = True, history: list[dict[str, Any]] | None = None):
        self.path = Path(run_dir) / "metrics.jsonl"
        self.enabled = enabled
        self.history: list[dict[str, Any]] = [dict(line) for line in history or []]
        self._writer = None
        if enabled:
            atomic_write_text(self.path, "".join(_line(entry) for entry in self.history))
            self._writer = _tensorboard_writer(Path(run_dir) / "tb")

    def epoch(self, entry: dict[str, Any]) -> None:
        """Record one epoch's metrics (a flat dict with an integer 'epoch')."""
        self.history.append(dict(entry))
        if not self.enabled:
            return
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(_line(entry))
        if self._writer is not None:
            for key, value in entry.items():
                if key != "epoch" and isinstance(value, (int, float)) and not isinstance(value, bool):
                    self._writer.add_scalar(_tag(key), value, entry["epoch"])
            self._writer.flush()

    def step(self, step: int, values: dict[str, float]) -> None:
        """Per-step scalars (TensorBoard only)."""
        if self._writer is not None:
            for key, value in values.items():
                self._writer.add_scalar(f"step/{key}", value, step)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def read_metrics(path: str | Path) -> list[dict[str, Any]]:
    """The lines of a `metrics.jsonl` file."""
    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]


def _line(entry: dict[str, Any]) -> str:
    return json.dumps(entry, sort_keys=False) + "\n"


def _tag(key: str) -> str:
    """train_loss -> train/loss, val_top1 -> val/top1, lr -> lr."""
    head, sep, tail = key.partition("_")
    return f"{head}/{tail}" if sep and head in ("train", "val") else key


def _tensorboard_writer(folder: Path):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        print("note: the tensorboard package is not installed; metrics go to metrics.jsonl only "
              "(pip install tensorboard)", file=sys.stderr)
        return None
    return SummaryWriter(log_dir=str(folder))
