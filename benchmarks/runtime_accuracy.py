"""Accuracy of every runtime form of one checkpoint on a real split, against PyTorch fp32.

    python benchmarks/runtime_accuracy.py runs/ucla/best.pt runs/ucla/best.onnx runs/ucla/best.deploy.onnx \\
        runs/ucla/best.int8.onnx --data data/ucla.pkl --split xview_val

Every clip of the split goes through the checkpoint's own evaluation preprocessing, then through
PyTorch (float32, eval mode, the checkpoint as trained) and through each ONNX file in ONNX
Runtime (CPU). Printed per file: top-1 on the split, the share of clips whose top-1 equals
PyTorch's, and the largest logit difference from PyTorch, absolute and relative to the largest
|logit| (issue 15's bar for a float32 runtime: top-1 identical on every clip, logits within 1e-4
relative). `--json` writes the same figures.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def split_clips(checkpoint: Path, data: str | None, split: str | None):
    """(clips (N, M, T, V, C) float32, labels (N,), what they are) through the checkpoint's pipeline."""
    from cocodiff.checkpoint import load_checkpoint
    from cocodiff.data.splits import checkpoint_data, load_split

    content = load_checkpoint(checkpoint)
    source, split_name = checkpoint_data(content, checkpoint, data, split)
    loaded = load_split(source, split_name, content, None, data is None)
    pipeline = loaded.pipeline(content["contract"])
    clips = np.stack([pipeline(sample) for sample in loaded.samples]).astype(np.float32)
    labels = np.asarray([sample["label"] for sample in loaded.samples])
    return clips, labels, f"{len(clips)} clips of {loaded.source}, split {split_name}"


def pytorch_logits(checkpoint: Path, clips: np.ndarray, batch: int = 32) -> np.ndarray:
    import torch

    from cocodiff.checkpoint import load_recognizer

    model = load_recognizer(checkpoint)[1].eval()
    with torch.inference_mode():
        return np.concatenate([model(torch.from_numpy(clips[i:i + batch])).numpy()
                               for i in range(0, len(clips), batch)])


def onnx_logits(path: Path, clips: np.ndarray, batch: int = 32) -> np.ndarray:
    from serve.backends.onnx_runtime import OnnxBackend

    backend = OnnxBackend(path, device="cpu")
    return np.concatenate([backend.predict(clips[i:i + batch]) for i in range(0, len(clips), batch)])


def compare(name: str, logits: np.ndarray, reference: np.ndarray, labels: np.ndarray) -> dict:
    scale = float(np.abs(reference).max())
    difference = float(np.abs(logits - reference).max())
    return {"runtime": name, "top1": float(100 * (logits.argmax(1) == labels).mean()),
            "top1_same_as_pytorch": float((logits.argmax(1) == reference.argmax(1)).mean()),
            "max_abs_difference": difference, "max_rel_difference": difference / scale}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("onnx", nargs="*", type=Path, help="ONNX files exported from that checkpoint")
    parser.add_argument("--data", help="annotation file (default: the checkpoint's own)")
    parser.add_argument("--split", help="split (default: the checkpoint's validation split)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    clips, labels, what = split_clips(args.checkpoint, args.data, args.split)
    reference = pytorch_logits(args.checkpoint, clips)
    rows = [compare("pytorch fp32", reference, reference, labels)]
    rows += [compare(path.name, onnx_logits(path, clips), reference, labels) for path in args.onnx]
    print(f"# {args.checkpoint}: {what}")
    print("| runtime | top-1 % | top-1 same as PyTorch | max abs logit diff | relative |\n|---|---|---|---|---|")
    for row in rows:
        print(f"| {row['runtime']} | {row['top1']:.2f} | {row['top1_same_as_pytorch']:.2%} | "
              f"{row['max_abs_difference']:.2e} | {row['max_rel_difference']:.2e} |")
    if args.json:
        args.json.write_text(json.dumps({"checkpoint": str(args.checkpoint), "clips": what, "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
