"""What the CoCoDiff auxiliary costs per training step on CPU, against the backbone alone.

    python benchmarks/cocodiff_overhead.py [--threads 2] [--steps 20] [--json out.json]
    python benchmarks/cocodiff_overhead.py --paired --steps 60 --shapes embedded,ucla   # noisy machine

One training step is what `cocodiff.train` does per batch (`training/objective.py`): forward,
cross-entropy (+ the auxiliary's weighted losses), backward, Nesterov SGD on the recogniser and,
with the auxiliary, AdamW on it. Batch 16, random clips, the allocator setting that
`cocodiff.train` applies. Each row runs in a fresh process; the figure is the median step time
over `--steps` timed steps after `--warmup` untimed ones; peak MiB is the process's peak
resident set size during the steps (VmHWM, reset after setup).

Shapes (the recipes in configs/): `embedded` = CTR-GCN base 16, 1 person, 32 frames, NTU-25,
12 classes (the default run); `ucla` = CTR-GCN base 16, 1 person, 32 frames, Kinect-20, 10 classes
(the ablation recipe); `published` = CTR-GCN base 64, 2 persons, 64 frames, NTU-25, 60 classes.
Inference is not measured here: the exported model has no auxiliary (tests prove it), so its
cost is the backbone's (docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.proc_memory import reset_peak_rss, rss_mb  # noqa: E402

SHAPES = {  # layout, persons, frames, classes, base channels, backbone
    "embedded": ("ntu25", 1, 32, 12, 16, "ctrgcn"),
    "ucla": ("kinect20", 1, 32, 10, 16, "ctrgcn"),
    "ucla-stgcn": ("kinect20", 1, 32, 10, 16, "stgcn"),
    "published": ("ntu25", 2, 64, 60, 64, "ctrgcn"),
}
VARIANTS = {  # name: (label, method overrides or None for the backbone alone)
    "alone": ("backbone alone", None),
    "default": ("+ CoCoDiff (parts latent, width 128, both texts)", {}),
    "width64": ("+ CoCoDiff, denoiser width 64", {"width": 64}),
    "width256": ("+ CoCoDiff, denoiser width 256", {"width": 256}),
    "joints": ("+ CoCoDiff, joints latent", {"latent": "joints"}),
    "notext": ("+ CoCoDiff, no text", {"text": "none"}),
}


def build_step(shape: str, variant: str):
    """(one training step as a closure, auxiliary parameter count, model parameter count)."""
    import numpy as np
    import torch

    from cocodiff.config import MethodConfig
    from cocodiff.data.layouts import LAYOUTS
    from cocodiff.method.auxiliary import CoCoDiff
    from cocodiff.method.text.embeddings import TextEmbeddings
    from cocodiff.models import build_recognizer, supported_options
    from cocodiff.training.objective import Objective

    torch.manual_seed(0)
    layout_name, persons, frames, classes, base, backbone = SHAPES[shape]
    layout = LAYOUTS[layout_name]
    options = supported_options(backbone, base_channels=base, num_persons=persons)
    model = build_recognizer(backbone, layout, 3, classes, **options)
    auxiliary = None
    overrides = VARIANTS[variant][1]
    if overrides is not None:
        rng = np.random.default_rng(0)
        unit = lambda *s: (v := rng.normal(size=(*s, 384)).astype(np.float32)) / np.linalg.norm(v, axis=-1, keepdims=True)
        text = TextEmbeddings(classes=[str(i) for i in range(classes)], coarse=unit(classes, 5),
                              coarse_count=np.full(classes, 5), fine=unit(classes, 6), encoder="random")
        config = MethodConfig(enabled=True, **overrides)
        auxiliary = CoCoDiff(config, layout, feature_dim=model.encoder.out_channels, num_classes=classes, text=text)
    objective = Objective(model, auxiliary).train()
    optimizers = [torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True, weight_decay=4e-4)]
    if auxiliary is not None:
        optimizers.append(torch.optim.AdamW(auxiliary.parameters(), lr=1e-4))
    x = torch.randn(16, persons, frames, layout.num_joints, 3)
    y = torch.randint(0, classes, (16,))

    def step():
        loss, _, _ = objective(x, y)
        for optimizer in optimizers:
            optimizer.zero_grad(set_to_none=True)
        loss.backward()
        for optimizer in optimizers:
            optimizer.step()

    aux_params = sum(p.numel() for p in auxiliary.parameters()) if auxiliary is not None else 0
    return step, aux_params, sum(p.numel() for p in model.parameters())


def measure(shape: str, variant: str, threads: int, steps: int, warmup: int) -> dict:
    """One row, in this process."""
    import torch

    from cocodiff.training.memory import keep_freed_memory

    keep_freed_memory()
    torch.set_num_threads(threads)
    step, aux_params, model_params = build_step(shape, variant)
    for _ in range(warmup):
        step()
    reset_peak_rss()
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return {"shape": shape, "variant": variant, "step_ms": 1000 * statistics.median(times),
            "peak_mb": rss_mb()[1], "aux_params": aux_params,
            "model_params": model_params}


def paired(shape: str, variants: list[str], threads: int, rounds: int, warmup: int) -> list[dict]:
    """Every variant built in this process and stepped in turn, one step each per round, so
    that a noisy machine's slow spells hit all of them alike; the overhead is the median over
    rounds of (variant's step / the backbone's step in the same round) - 1."""
    import torch

    from cocodiff.training.memory import keep_freed_memory

    keep_freed_memory()
    torch.set_num_threads(threads)
    built = {variant: build_step(shape, variant) for variant in ["alone", *[v for v in variants if v != "alone"]]}
    for _ in range(warmup):
        for step, _, _ in built.values():
            step()
    times = {variant: [] for variant in built}
    for _ in range(rounds):
        for variant, (step, _, _) in built.items():
            start = time.perf_counter()
            step()
            times[variant].append(time.perf_counter() - start)
    rows = []
    for variant, (_, aux_params, model_params) in built.items():
        ratios = [mine / alone for mine, alone in zip(times[variant], times["alone"])]
        rows.append({"shape": shape, "variant": variant, "step_ms": 1000 * statistics.median(times[variant]),
                     "overhead_pct": 100 * (statistics.median(ratios) - 1), "aux_params": aux_params,
                     "model_params": model_params})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shapes", default="embedded,ucla,ucla-stgcn,published")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--paired", action="store_true",
                        help="all variants of a shape in one process, stepped in turn (for a noisy machine)")
    parser.add_argument("--one", nargs=2, metavar=("SHAPE", "VARIANT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(*args.one, args.threads, args.steps, args.warmup)))
        return
    if args.paired:
        rows = [row for shape in args.shapes.split(",")
                for row in paired(shape, args.variants.split(","), args.threads, args.steps, args.warmup)]
        print("| shape | variant | step (ms) | overhead (paired median) | auxiliary params |\n|---|---|---|---|---|")
        for row in rows:
            overhead = "" if row["variant"] == "alone" else f"{row['overhead_pct']:+.0f}%"
            print(f"| {row['shape']} | {VARIANTS[row['variant']][0]} | {row['step_ms']:.0f} | {overhead} | "
                  f"{row['aux_params']:,} |")
        write_json(args, rows)
        return
    rows = []
    for shape in args.shapes.split(","):
        for variant in args.variants.split(","):
            command = [sys.executable, __file__, "--one", shape, variant, "--threads", str(args.threads),
                       "--steps", str(args.steps), "--warmup", str(args.warmup)]
            rows.append(json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout))
            print(f"{shape:>10} | {variant:<10} | {rows[-1]['step_ms']:7.1f} ms", file=sys.stderr, flush=True)
    print("| shape | variant | step (ms) | overhead | peak MiB | auxiliary params |\n|---|---|---|---|---|---|")
    for row in rows:
        alone = next(r for r in rows if r["shape"] == row["shape"] and r["variant"] == "alone")
        overhead = 100 * (row["step_ms"] / alone["step_ms"] - 1)
        print(f"| {row['shape']} | {VARIANTS[row['variant']][0]} | {row['step_ms']:.0f} | "
              f"{'' if row is alone else f'{overhead:+.0f}%'} | {row['peak_mb']:.0f} | {row['aux_params']:,} |")
    write_json(args, rows)


def write_json(args: argparse.Namespace, rows: list[dict]) -> None:
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"machine": platform.processor() or platform.machine(), "threads": args.threads,
                       "paired": args.paired, "load_average": Path("/proc/loadavg").read_text().split()[:3],
                       "rows": rows}, handle, indent=2)


if __name__ == "__main__":
    main()
