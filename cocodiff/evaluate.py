"""Evaluate a checkpoint on one split: top-1, top-5, per-class accuracy, confusion matrix, scores.

    python -m cocodiff.evaluate runs/embedded/best.pt                 # its own dataset and val split
    python -m cocodiff.evaluate best.pt --data data/ntu60.pkl --split xsub_val
    python -m cocodiff.evaluate best.pt --data embedded --split val --limit 48   # a quick subset

`--data` is an annotation file or `embedded`; by default, the dataset the checkpoint was trained
on (its saved config), and `--split` defaults to that config's val split. The clips go through
the checkpoint's own deterministic evaluation preprocessing (`eval_pipeline(meta)`), so the
numbers match training's validation. `--limit N` keeps N clips evenly spread over the split.

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
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from cocodiff.cli import run_cli
from cocodiff.errors import CocodiffError, DataError
from cocodiff.scoring import Scores, sha256_of, summarize, summary_lines, write_report

EMBEDDED = "embedded"


@dataclass
class EvalSplit:
    """The clips to evaluate, and what their source says about itself."""

    samples: list[dict[str, Any]]
    source: str  # for messages: the file, or "embedded dataset"
    classes: list[str] | None  # the source's class names, if it names them
    dataset: str  # "embedded" or the resolved file path (recorded in metrics.json)


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
    return parser


def evenly_spread(total: int, count: int | None) -> list[int]:
    """`count` distinct indices spread evenly over range(total) (all of them if count is None)."""
    if count is None or count >= total:
        return list(range(total))
    return [(i * total) // count for i in range(count)]


# ---- data --------------------------------------------------------------------------------------
def embedded_split(split: str, seed: int, limit: int | None) -> EvalSplit:
    """One split of the embedded dataset, in `embedded_annotations` order, generating only the
    clips that are kept."""
    from cocodiff.data.embedded import CLASSES, EmbeddedConfig, embedded_clip
    from cocodiff.data.embedded.dataset import SPLITS
    from cocodiff.data.sample import validate_sample

    if split not in SPLITS:
        raise CocodiffError(f"embedded dataset: no split {split!r}; it has {', '.join(SPLITS)}")
    config = EmbeddedConfig(seed=seed)
    per_class = config.per_class(split)
    keep = evenly_spread(per_class * len(CLASSES), limit)
    samples = [validate_sample(embedded_clip(config, split, i // per_class, i % per_class).sample, "embedded dataset")
               for i in keep]
    return EvalSplit(samples, "embedded dataset", list(CLASSES), EMBEDDED)


def file_split(path: Path, split: str, layout_name: str, limit: int | None) -> EvalSplit:
    """One split of an annotation file, checked against the checkpoint's layout."""
    from cocodiff.data.annotations import load_annotations, split_samples
    from cocodiff.data.layouts import get_layout

    content = load_annotations(path)
    own = content["meta"].get("layout")
    if own is not None and own != layout_name:
        raise DataError(path, f"holds layout {own!r}, but the checkpoint was trained on {layout_name!r}")
    samples = split_samples(content, split, path, get_layout(layout_name))
    classes = content["meta"].get("classes")
    kept = [samples[i] for i in evenly_spread(len(samples), limit)]
    return EvalSplit(kept, str(path), None if classes is None else [str(c) for c in classes], str(path.resolve()))


def load_eval_split(data: str, split: str, checkpoint: dict[str, Any], limit: int | None,
                    from_config: bool) -> EvalSplit:
    meta = checkpoint["meta"]
    if data == EMBEDDED:
        if meta["layout"] != "ntu25":
            raise CocodiffError(f"the embedded dataset is ntu25, but the checkpoint was trained on layout "
                                f"{meta['layout']!r}")
        seed = (checkpoint.get("config") or {}).get("data", {}).get("embedded_seed", 0)
        result = embedded_split(split, int(seed), limit)
    else:
        path = Path(data)
        if from_config and not path.exists():
            raise CocodiffError(f"{path}: the checkpoint's own dataset is not here; name the data with --data FILE")
        result = file_split(path, split, meta["layout"], limit)
    check_compatible(result, split, meta)
    return result


def check_compatible(data: EvalSplit, split: str, meta: dict[str, Any]) -> None:
    """The clips fit the checkpoint: labelled, same coordinates, same classes."""
    if not data.samples:
        raise DataError(data.source, f"split {split!r} is empty")
    unlabelled = next((s for s in data.samples if "label" not in s), None)
    if unlabelled is not None:
        raise DataError(data.source, f"sample {unlabelled.get('frame_dir')!r} has no 'label': cannot score it")
    channels = sorted({s["keypoint"].shape[-1] for s in data.samples})
    coordinates = meta["in_channels"] - (1 if meta.get("use_score") else 0)  # the score is a channel of its own
    if channels != [coordinates]:
        raise DataError(data.source, f"clips have {'/'.join(map(str, channels))} coordinates per joint, the checkpoint "
                                     f"expects {coordinates}")
    classes = meta["classes"]
    if data.classes is not None and len(data.classes) != len(classes):
        raise DataError(data.source, f"names {len(data.classes)} classes, the checkpoint has {len(classes)}")
    highest = max(s["label"] for s in data.samples)
    if highest >= len(classes):
        raise DataError(data.source, f"label {highest} is beyond the checkpoint's {len(classes)} classes")
    if data.classes is not None and list(data.classes) != list(classes):
        differ = next(i for i, (a, b) in enumerate(zip(data.classes, classes)) if a != b)
        print(f"note: class names differ from the checkpoint's (class {differ}: {data.classes[differ]!r} here, "
              f"{classes[differ]!r} there); reporting the checkpoint's names", file=sys.stderr)


# ---- the model ----------------------------------------------------------------------------------
def pick_device(name: str):
    import torch

    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError):
        raise CocodiffError(f"--device {name!r}: use auto, cpu, cuda or cuda:N") from None
    if device.type not in ("cpu", "cuda"):
        raise CocodiffError(f"--device {name!r}: use auto, cpu, cuda or cuda:N")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise CocodiffError(f"--device {name!r} but this machine has no usable CUDA GPU; use --device cpu")
    return device


def load_model(path: Path):
    """The checkpoint (checked) and its Recognizer in eval mode."""
    from cocodiff.checkpoint import build_model, load_checkpoint

    checkpoint = load_checkpoint(path)
    meta = checkpoint["meta"]
    if not isinstance(meta["classes"], list) or not meta["classes"]:
        raise CocodiffError(f"{path}: checkpoint meta has no class names")
    try:
        model = build_model(checkpoint)
    except (RuntimeError, ValueError, KeyError, TypeError) as error:
        first = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise CocodiffError(f"{path}: its weights do not fit the model its meta describes ({first})") from None
    return checkpoint, model


def predict(model, samples: list[dict[str, Any]], meta: dict[str, Any], *, batch_size: int, device,
            workers: int) -> np.ndarray:
    """float32 logits (N, K), in the order of `samples`."""
    import torch
    from torch.utils.data import DataLoader
    from tqdm import tqdm

    from cocodiff.data.dataset import SkeletonDataset
    from cocodiff.data.pipelines import eval_pipeline

    loader = DataLoader(SkeletonDataset(samples, eval_pipeline(meta)), batch_size=batch_size, shuffle=False,
                        num_workers=workers)
    model = model.to(device).eval()
    outputs = []
    with torch.inference_mode(), tqdm(total=len(samples), desc="evaluating", file=sys.stderr, leave=False,
                                      disable=not sys.stderr.isatty()) as bar:
        for x, _ in loader:
            outputs.append(model(x.to(device)).float().cpu().numpy())
            bar.update(len(x))
    return np.concatenate(outputs).astype(np.float32)


def data_and_split(checkpoint: dict, source, data: str | None, split: str | None) -> tuple[str, str]:
    """The data and split to use: those given, else the ones the checkpoint trained with."""
    saved = (checkpoint.get("config") or {}).get("data") or {}
    data, split = data or saved.get("dataset"), split or saved.get("val_split")
    if data is None or split is None:
        raise CocodiffError(f"{source}: carries no training config to take the data from; "
                            "pass --data FILE (or embedded) and --split NAME")
    return str(data), str(split)


def prepare_device(name: str, threads: int):
    from cocodiff.training.distributed import configure_threads

    device = pick_device(name)
    configure_threads(threads)
    return device


# ---- the command --------------------------------------------------------------------------------
def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.batch_size < 1 or args.workers < 0 or args.threads < 0 or (args.limit is not None and args.limit < 1):
        raise CocodiffError("--batch-size and --limit must be at least 1, --workers and --threads at least 0")
    checkpoint, model = load_model(args.checkpoint)
    meta = checkpoint["meta"]
    data, split = data_and_split(checkpoint, args.checkpoint, args.data, args.split)
    device = prepare_device(args.device, args.threads)
    evaluation = load_eval_split(str(data), str(split), checkpoint, args.limit, from_config=args.data is None)
    out = args.out or args.checkpoint.parent / f"eval_{str(split).replace('/', '_')}"
    if out.exists() and not out.is_dir():
        raise CocodiffError(f"{out}: exists and is not a directory (--out)")
    classes = [str(name) for name in meta["classes"]]
    print(f"evaluating {args.checkpoint} ({meta['backbone']}, {meta['modality']}, {len(classes)} classes) on "
          f"{evaluation.source}, split {split}: {len(evaluation.samples)} clips, {device}")

    start = time.perf_counter()
    logits = predict(model, evaluation.samples, meta, batch_size=args.batch_size, device=device, workers=args.workers)
    seconds = time.perf_counter() - start
    scores = Scores(logits, np.array([s["label"] for s in evaluation.samples], dtype=np.int64),
                    np.array([str(s.get("frame_dir", i)) for i, s in enumerate(evaluation.samples)]),
                    np.array(classes), str(split))
    metrics = summarize(scores.logits, scores.labels, classes)
    metrics.update({
        "checkpoint": str(args.checkpoint.resolve()), "checkpoint_sha256": sha256_of(args.checkpoint),
        "data": evaluation.dataset, "split": str(split), "limit": args.limit, "checkpoint_dataset": meta.get("dataset"),
        "backbone": meta["backbone"], "modality": meta["modality"], "layout": meta["layout"],
        "device": str(device), "eval_time_s": round(seconds, 3),
    })
    metrics["per_class"] = metrics.pop("per_class")  # the long list last in metrics.json
    title = (f"{args.checkpoint.parent.name}/{args.checkpoint.name} on {Path(evaluation.dataset).name} {split} "
             f"({meta['modality']}): top-1 {metrics['top1']:.1f}%, {metrics['N']} clips")
    written = write_report(out, scores, metrics, title)
    for line in summary_lines(metrics):
        print(line)
    print(f"wrote {', '.join(str(path) for path in written)}")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
