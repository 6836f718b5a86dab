"""Fuse the saved scores of several streams (joint, bone, joint motion, bone motion).

    python -m cocodiff.fuse runs/joint/eval_val/scores.npz runs/bone/eval_val/scores.npz \\
        runs/jm/eval_val/scores.npz runs/bm/eval_val/scores.npz --weights 0.6 0.6 0.4 0.4

The fused score of a clip is sum_i w_i * s_i, where s_i are stream i's raw logits (the published
CTR-GCN ensemble) or, with `--softmax`, their softmax. The files must come from
`python -m cocodiff.evaluate` on the same split: same samples in the same order, same labels,
same classes; otherwise one error line names the files that differ. Without `--weights`, every
stream weighs 1.

Prints each stream's top-1 / top-5 and the fused ones, and writes scores.npz (the fused scores,
same format, so fused files fuse again), metrics.json (with every input, its weight and its own
accuracy) and confusion.png to `--out` (default: fused_<split>/ in the folder that holds the
inputs' folders).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from pathlib import Path
from typing import Sequence

import numpy as np

from cocodiff.cli import run_cli
from cocodiff.errors import CocodiffError
from cocodiff.hashing import sha256_of
from cocodiff.scoring import Scores, fuse, load_scores, summarize, accuracy_lines, write_report


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m cocodiff.fuse", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("scores", nargs="+", type=Path, help="scores.npz files written by cocodiff.evaluate")
    parser.add_argument("--weights", nargs="+", type=float, default=None, help="one weight per file (default: all 1)")
    parser.add_argument("--softmax", action="store_true", help="fuse softmax probabilities instead of raw logits")
    parser.add_argument("--out", type=Path, default=None, help="output folder (default: fused_SPLIT beside the inputs)")
    return parser


def check_same_samples(first: Scores, first_path: Path, other: Scores, other_path: Path) -> None:
    """One `CocodiffError` naming both files unless they score the same clips the same way."""
    where = f"{other_path} does not match {first_path}:"
    if list(other.classes) != list(first.classes):
        raise CocodiffError(f"{where} {len(other.classes)} classes vs {len(first.classes)}"
                            if len(other.classes) != len(first.classes) else f"{where} the class names differ")
    if len(other.labels) != len(first.labels):
        raise CocodiffError(f"{where} {len(other.labels)} samples vs {len(first.labels)} (same split? same --limit?)")
    differ = np.flatnonzero(other.frame_dir != first.frame_dir)
    if differ.size:
        i = int(differ[0])
        order = " (same samples, another order)" if sorted(other.frame_dir) == sorted(first.frame_dir) else ""
        raise CocodiffError(f"{where} sample {i} is {other.frame_dir[i]!r} there, {first.frame_dir[i]!r} here; "
                            f"{differ.size} of {len(first.frame_dir)} positions differ{order}")
    differ = np.flatnonzero(other.labels != first.labels)
    if differ.size:
        i = int(differ[0])
        raise CocodiffError(f"{where} {differ.size} sample(s) have other labels, e.g. {first.frame_dir[i]!r}: "
                            f"{other.labels[i]} vs {first.labels[i]}")


def default_out(paths: Sequence[Path], split: str) -> Path:
    parents = [path.resolve().parent.parent for path in paths]
    return Path(os.path.commonpath(parents)) / f"fused_{split.replace('/', '_')}"


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    paths: list[Path] = args.scores
    if len(paths) < 2:
        raise CocodiffError("give at least two scores files to fuse")
    weights = args.weights if args.weights is not None else [1.0] * len(paths)
    if len(weights) != len(paths):
        raise CocodiffError(f"{len(paths)} scores files but {len(weights)} weights: give one weight per file")
    if any(not math.isfinite(w) or w < 0 for w in weights) or not any(weights):
        raise CocodiffError(f"--weights {' '.join(map(str, weights))}: weights must be >= 0 and not all 0")
    streams = [load_scores(path) for path in paths]
    for path, stream in zip(paths[1:], streams[1:]):
        check_same_samples(streams[0], paths[0], stream, path)
    first = streams[0]
    classes = [str(name) for name in first.classes]
    normalize = "softmax" if args.softmax else "none"
    fused = Scores(fuse([s.logits for s in streams], weights, normalize), first.labels, first.frame_dir,
                   first.classes, first.split)

    inputs = []
    for path, stream, weight in zip(paths, streams, weights):
        own = summarize(stream.logits, stream.labels, classes)
        inputs.append({"path": str(path.resolve()), "sha256": sha256_of(path), "weight": weight,
                       "top1": own["top1"], "top5": own["top5"], "split": stream.split})
        print(f"{path}  (weight {weight:g}): top-1 {own['top1']:.2f}%  top-{own['top5_k']} {own['top5']:.2f}%")
    metrics = summarize(fused.logits, fused.labels, classes)
    metrics.update({"fused": inputs, "normalize": normalize, "split": first.split})
    metrics["per_class"] = metrics.pop("per_class")
    splits = sorted({stream.split for stream in streams})
    if len(splits) > 1:
        print(f"note: the files name different splits ({', '.join(splits)}) but hold the same samples",
              file=sys.stderr)
    out = args.out or default_out(paths, first.split)
    title = f"fused ({len(paths)} streams, {first.split}): top-1 {metrics['top1']:.1f}%, {metrics['N']} clips"
    written = write_report(out, fused, metrics, title)
    print("fused" + (" (softmax)" if args.softmax else "") + ":")
    for line in accuracy_lines(metrics):
        print(f"  {line}")
    print(f"wrote {', '.join(str(path) for path in written)}")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
