"""Evaluate a checkpoint on one split: top-1, top-5, per-class accuracy, confusion matrix, scores.

    python -m cocodiff.evaluate runs/embedded/best.pt                 # its own dataset and val split
    python -m cocodiff.evaluate best.pt --data data/ntu60.pkl --split xsub_val
    python -m cocodiff.evaluate best.pt --data embedded --split val --limit 48   # a quick subset
    python -m cocodiff.evaluate best.pt --data utd.pkl --split all \
        --class-map configs/class_maps/utd_mhad_to_embedded.txt       # another dataset's classes

`--data` is an annotation file or `embedded`; by default, the dataset the checkpoint was trained
on (its saved config), and `--split` defaults to that config's val split. The clips go through
the checkpoint's own deterministic preprocessing (`InferencePipeline(contract)`), so the
numbers match training's validation. `--limit N` keeps N clips evenly spread over the split.

Data of another layout or coordinate frame (UTD-MHAD's Kinect v1 for an NTU-25 model, say) is
retargeted first (`cocodiff.data.retarget`). Data of another class list needs `--class-map FILE`
(`cocodiff.data.class_map`): only mapped classes are evaluated, and metrics.json adds
`per_source_class`, the accuracy of each of the data's classes and what it was taken for.

Written atomically to `--out` (default: eval_<split>/ beside the checkpoint):

    scores.npz     logits float32 (N, K), labels, frame_dir, classes, split (see cocodiff.scoring)
    metrics.json   top1, top5 (top-min(5, K) when K < 5: see top5_k), mean class accuracy,
                   per-class accuracy with names and counts, N, checkpoint path and sha256, data, split
    confusion.png  the row-normalised confusion matrix

Streams evaluated on the same split (joint, bone, motion, ...) fuse with `python -m cocodiff.fuse`.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from cocodiff.checkpoint import load_recognizer
from cocodiff.cli import run_cli
from cocodiff.data.class_map import read_class_map
from cocodiff.data.splits import checkpoint_data, load_split
from cocodiff.device import prepare_device
from cocodiff.errors import CocodiffError
from cocodiff.hashing import sha256_of
from cocodiff.scoring import Scores, per_source_class, summarize, accuracy_lines, write_report


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m cocodiff.evaluate", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint", type=Path, help="a checkpoint (best.pt or last.pt of a run)")
    parser.add_argument("--data", default=None,
                        help="annotation .pkl file, or 'embedded' (default: the checkpoint's own dataset)")
    parser.add_argument("--split", default=None, help="split name (default: the checkpoint config's val split)")
    parser.add_argument("--out", type=Path, default=None, help="output folder (default: CHECKPOINT_DIR/eval_SPLIT)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--device", default="auto", help="auto (CUDA if available), cpu, cuda or cuda:N")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads; 0 = the idle cores (default)")
    parser.add_argument("--workers", type=int, default=0, help="DataLoader worker processes (default 0)")
    parser.add_argument("--limit", type=int, default=None, help="evaluate only N clips, evenly spread over the split")
    parser.add_argument("--class-map", type=Path, default=None,
                        help="text file of 'data class -> model class' lines, to evaluate on data with other classes")
    return parser


def predict(model, samples: list[dict[str, Any]], pipeline, *, batch_size: int, device, workers: int) -> np.ndarray:
    """float32 logits (N, K), in the order of `samples`, each clip through `pipeline`."""
    import torch
    from torch.utils.data import DataLoader
    from tqdm import tqdm

    from cocodiff.data.dataset import SkeletonDataset

    loader = DataLoader(SkeletonDataset(samples, pipeline), batch_size=batch_size, shuffle=False,
                        num_workers=workers)
    model = model.to(device).eval()
    outputs = []
    with torch.inference_mode(), tqdm(total=len(samples), desc="evaluating", file=sys.stderr, leave=False,
                                      disable=not sys.stderr.isatty()) as bar:
        for x, _ in loader:
            outputs.append(model(x.to(device)).float().cpu().numpy())
            bar.update(len(x))
    return np.concatenate(outputs).astype(np.float32)


# ---- the command --------------------------------------------------------------------------------
def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.batch_size < 1 or args.workers < 0 or args.threads < 0 or (args.limit is not None and args.limit < 1):
        raise CocodiffError("--batch-size and --limit must be at least 1, --workers and --threads at least 0")
    checkpoint, model = load_recognizer(args.checkpoint)
    contract = checkpoint["contract"]
    data, split = checkpoint_data(checkpoint, args.checkpoint, args.data, args.split)
    device = prepare_device(args.device, args.threads)
    class_map = read_class_map(args.class_map) if args.class_map is not None else None
    evaluation = load_split(str(data), str(split), checkpoint, args.limit, from_config=args.data is None,
                            class_map=class_map)
    out = args.out or args.checkpoint.parent / f"eval_{str(split).replace('/', '_')}"
    if out.exists() and not out.is_dir():
        raise CocodiffError(f"{out}: exists and is not a directory (--out)")
    classes = list(contract.classes)
    print(f"evaluating {args.checkpoint} ({contract.backbone}, {contract.modality}, {len(classes)} classes) on "
          f"{evaluation.source}, split {split}: {len(evaluation.samples)} clips, {device}")
    if evaluation.skeleton is not None:
        print(f"retargeting the clips from layout {evaluation.skeleton.layout} ({evaluation.skeleton.frame.describe()}) "
              f"to the model's {contract.layout}")

    start = time.perf_counter()
    logits = predict(model, evaluation.samples, evaluation.pipeline(contract), batch_size=args.batch_size, device=device, workers=args.workers)
    seconds = time.perf_counter() - start
    scores = Scores(logits, np.array([s["label"] for s in evaluation.samples], dtype=np.int64),
                    np.array([str(s.get("frame_dir", i)) for i, s in enumerate(evaluation.samples)]),
                    np.array(classes), str(split))
    metrics = summarize(scores.logits, scores.labels, classes)
    metrics.update({
        "checkpoint": str(args.checkpoint.resolve()), "checkpoint_sha256": sha256_of(args.checkpoint),
        "data": evaluation.dataset, "split": str(split), "limit": args.limit, "checkpoint_dataset": contract.dataset,
        "backbone": contract.backbone, "modality": contract.modality, "layout": contract.layout,
        "device": str(device), "eval_time_s": round(seconds, 3),
        "class_map": None if class_map is None else str(args.class_map.resolve()),
        "retargeted_from": None if evaluation.skeleton is None else evaluation.skeleton.layout,
    })
    if class_map is not None:
        metrics["per_source_class"] = per_source_class(scores.logits, scores.labels,
                                                       [s["source_class"] for s in evaluation.samples], classes)
    for long_list in ("per_class", "per_source_class"):  # the long lists last in metrics.json
        if long_list in metrics:
            metrics[long_list] = metrics.pop(long_list)
    title = (f"{args.checkpoint.parent.name}/{args.checkpoint.name} on {Path(evaluation.dataset).name} {split} "
             f"({contract.modality}): top-1 {metrics['top1']:.1f}%, {metrics['N']} clips")
    written = write_report(out, scores, metrics, title)
    for line in accuracy_lines(metrics):
        print(line)
    print(f"wrote {', '.join(str(path) for path in written)}")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
