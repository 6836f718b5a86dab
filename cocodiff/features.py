"""Picture what CoCoDiff generates: real and generated features of a trained run, in 2-D.

    python -m cocodiff.features runs/embedded_cocodiff/best.pt            # its own val split, PCA
    python -m cocodiff.features best.pt --method tsne --start 200 --samples 3 --out drift.png
    python -m cocodiff.features best.pt --data data/ntu60.pkl --split xsub_val --classes "drink water,sit down"

The checkpoint must come from a run trained with the method (`method.enabled: true`): its
auxiliary is rebuilt from the saved config and contract and loaded strictly. Up to `--per-class`
clips of each shown class go through the checkpoint's evaluation preprocessing and the
recogniser's encoder (eval mode); each clip's features are noised to `--start` (default
t_max - 1, the strongest noise training used) and denoised in `--steps` steps, `--samples` times,
conditioned on the clip's own class, with a seeded generator.

Every point is the classifier's pooled vector (`latent.pool`): dots for real clips, crosses for
generated ones, one colour per class. `--method pca` fits the axes on the real points alone (so
generated points are placed in the real features' frame); `--method tsne` embeds both together
(needs scikit-learn). `--classes` picks the classes shown, the first N (default 10) or names.

The numbers beside the picture describe exactly its points, in feature units (C'-dimensional,
before projection): the classifier's top-1 on real and on generated vectors (K-way, all classes'
logits); the mean distance of each point to its own class's real centroid and to the nearest
other shown class's real centroid; how often that own centroid is the nearest one; the average
per-class spread (RMS distance to the set's own class mean); and how far each generated vector
lies from the real clip it was made from. They are printed and written to OUT with .json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Sequence

import numpy as np

from cocodiff.atomic import atomic_write_bytes, atomic_write_text
from cocodiff.checkpoint import load_recognizer
from cocodiff.cli import run_cli
from cocodiff.config import load_config
from cocodiff.data.splits import EMBEDDED, checkpoint_data, load_split
from cocodiff.device import prepare_device
from cocodiff.errors import CocodiffError
from cocodiff.hashing import sha256_of
from cocodiff.method.feature_plot import render
from cocodiff.method.generated_features import (
    feature_space_lines, feature_stats, per_class_subset, real_and_generated, require_auxiliary, trained_auxiliary,
)
from cocodiff.method.projection import project_both

DEFAULT_CLASSES = 10


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m cocodiff.features", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint", type=Path, help="a checkpoint of a run trained with method.enabled: true")
    parser.add_argument("--data", default=None,
                        help="annotation .pkl file, or 'embedded' (default: the checkpoint's own dataset)")
    parser.add_argument("--split", default=None, help="split name (default: the checkpoint config's val split)")
    parser.add_argument("--per-class", type=int, default=40, help="clips per class, at most (default 40)")
    parser.add_argument("--classes", default=str(DEFAULT_CLASSES),
                        help="classes shown: the first N, 'all', or comma-separated names (default 10)")
    parser.add_argument("--method", choices=("pca", "tsne"), default="pca",
                        help="2-D projection: pca (fitted on the real points) or tsne (both; needs scikit-learn)")
    parser.add_argument("--start", type=int, default=None,
                        help="noise level the real features are noised to (default: the run's method.t_max - 1)")
    parser.add_argument("--steps", type=int, default=10, help="denoising steps (default 10)")
    parser.add_argument("--eta", type=float, default=1.0, help="1 = DDPM sampling (diverse), 0 = DDIM (default 1)")
    parser.add_argument("--samples", type=int, default=1, help="generated draws per clip (default 1)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the generation noise and of t-SNE (default 0)")
    parser.add_argument("--out", type=Path, default=Path("features.png"),
                        help="the figure, a .png (default features.png); the numbers go to the same name .json")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--device", default="auto", help="auto (CUDA if available), cpu, cuda or cuda:N")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads; 0 = the idle cores (default)")
    return parser


def choose_classes(spec: str, classes: Sequence[str]) -> list[int]:
    """Label indices shown: the first N, 'all', or comma-separated class names (in the given order)."""
    spec = spec.strip()
    if spec.lower() == "all":
        return list(range(len(classes)))
    if spec.isdigit():
        count = int(spec)
        if count < 1:
            raise CocodiffError("--classes N must be at least 1")
        return list(range(min(count, len(classes))))
    names = [name.strip() for name in spec.split(",") if name.strip()]
    index = {str(name): i for i, name in enumerate(classes)}
    unknown = [name for name in names if name not in index]
    if unknown or not names:
        shown = ", ".join(map(str, classes[:8])) + (", ..." if len(classes) > 8 else "")
        raise CocodiffError(f"--classes: no class named {', '.join(map(repr, unknown)) or repr(spec)}; "
                            f"the checkpoint's classes are {shown}")
    return list(dict.fromkeys(index[name] for name in names))


# ---- the command --------------------------------------------------------------------------------
def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.per_class < 1 or args.samples < 1 or args.steps < 1 or args.batch_size < 1 or args.threads < 0:
        raise CocodiffError("--per-class, --samples, --steps and --batch-size must be at least 1, --threads at least 0")
    if not 0 <= args.eta <= 1:
        raise CocodiffError(f"--eta {args.eta}: must be in [0, 1]")
    if args.out.suffix.lower() != ".png":
        raise CocodiffError(f"--out {args.out}: the figure is a PNG, name it *.png")
    checkpoint, model = load_recognizer(args.checkpoint)
    require_auxiliary(checkpoint, args.checkpoint)  # before its config is validated: the clearer message
    method = load_config(base=checkpoint.get("config") or {}).method
    auxiliary = trained_auxiliary(checkpoint, args.checkpoint, model.encoder.out_channels, method)
    contract = checkpoint["contract"]
    classes = list(contract.classes)
    method_config = auxiliary.config
    start = method_config.t_max - 1 if args.start is None else args.start
    if not 0 <= start < method_config.num_steps:
        raise CocodiffError(f"--start {start}: must be in 0..{method_config.num_steps - 1} (the run's "
                            f"method.num_steps; it trained with t < {method_config.t_max})")
    shown = choose_classes(args.classes, classes)
    data, split = checkpoint_data(checkpoint, args.checkpoint, args.data, args.split)
    device = prepare_device(args.device, args.threads)
    # The embedded split is class-major with equal classes, so an even spread of per-class x K
    # clips is per-class clips of every class: only those are generated.
    limit = args.per_class * len(classes) if str(data) == EMBEDDED else None
    evaluation = load_split(str(data), str(split), checkpoint, limit, from_config=args.data is None)
    samples = per_class_subset(evaluation.samples, shown, args.per_class)
    present = sorted({s["label"] for s in samples}, key=shown.index)
    if len(samples) < 2:
        raise CocodiffError(f"{evaluation.source}, split {split}: {len(samples)} clip(s) of the chosen classes; "
                            "need at least 2 (raise --per-class or --classes)")
    missing = [classes[c] for c in shown if c not in present]
    if missing:
        print(f"note: no clips of {', '.join(missing)} in split {split}", file=sys.stderr)
    shown = present
    print(f"features of {args.checkpoint} ({contract.backbone}, latent {method_config.latent}) on {evaluation.source}, "
          f"split {split}: {len(samples)} clips of {len(shown)} classes, {args.samples} generated each "
          f"(start t={start}, {args.steps} steps, eta {args.eta:g}, seed {args.seed}); {device}")

    began = time.perf_counter()
    vectors = real_and_generated(model, auxiliary, samples, evaluation.pipeline(contract), device=device, batch_size=args.batch_size,
                                 start=start, steps=args.steps, eta=args.eta, draws=args.samples, seed=args.seed)
    feature_seconds = time.perf_counter() - began
    real_labels = np.array([s["label"] for s in samples], dtype=np.int64)
    source = np.repeat(np.arange(len(samples)), args.samples)
    generated_labels = real_labels[source]
    stats = feature_stats(vectors["real"], real_labels, vectors["real_logits"], vectors["generated"],
                          generated_labels, vectors["generated_logits"], source, shown, classes)

    began = time.perf_counter()
    real_2d, generated_2d, axis_labels, projection = project_both(vectors["real"], vectors["generated"],
                                                                  args.method, args.seed)
    projection_seconds = time.perf_counter() - began

    real_top1, generated_top1 = stats["real"]["top1"], stats["generated"]["top1"]
    projection_name = {"pca": "PCA", "tsne": "t-SNE"}[args.method]
    title = (f"{args.checkpoint.parent.name}/{args.checkpoint.name}: {projection_name} of pooled features, "
             f"{Path(evaluation.dataset).name} {split}\nreal (dots) top-1 {real_top1:.1f}%, generated (crosses, "
             f"start t={start}, {args.steps} steps, eta {args.eta:g}) top-1 {generated_top1:.1f}%")
    image = render(real_2d, real_labels, generated_2d, generated_labels, shown, classes, title, axis_labels)
    report = {
        "checkpoint": str(args.checkpoint.resolve()), "checkpoint_sha256": sha256_of(args.checkpoint),
        "data": evaluation.dataset, "split": str(split), "projection": projection,
        "start": start, "steps": args.steps, "eta": args.eta, "samples": args.samples, "seed": args.seed,
        "per_class_limit": args.per_class, "t_max": method_config.t_max, "num_steps": method_config.num_steps,
        "latent": method_config.latent, "classes": [classes[c] for c in shown], "units": "feature (pooled, C')",
        "feature_dim": int(vectors["real"].shape[1]),
        "real": stats["real"], "generated": stats["generated"], "per_class": stats["per_class"],
    }
    numbers = args.out.with_suffix(".json")
    try:
        atomic_write_bytes(args.out, image)
        atomic_write_text(numbers, json.dumps(report, indent=2) + "\n")
    except OSError as error:
        raise CocodiffError(f"{args.out}: cannot write the figure ({error.strerror or error}); "
                            "choose another place with --out") from None
    for line in feature_space_lines(stats):
        print(line)
    print(f"features {feature_seconds:.1f}s, {args.method} {projection_seconds:.1f}s; wrote {args.out}, {numbers}")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
