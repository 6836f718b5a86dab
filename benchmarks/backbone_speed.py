"""Backbone speed and memory on CPU: training throughput and single-clip eval latency.

    python benchmarks/backbone_speed.py [--backbone ctrgcn] [--threads 2] [--json out.json]

Measured, for each precision (fp32, bf16 autocast) and memory format (contiguous, channels_last):

- train: samples/s of a full SGD step (forward, cross-entropy, backward, Nesterov SGD step) on a
  batch of `--batch` clips (16) of `--frames` frames (64), 2 persons, NTU's 25 joints; the median
  over `--steps` timed steps after `--warmup` untimed ones;
- eval: latency in ms of one clip (batch 1) under `torch.no_grad()`, the median over `--runs`
  timed forwards after `--warmup` untimed ones.

Every measurement runs in a fresh Python process, so its peak memory is its own: `peak_mb` is
the process's peak resident set size during warm-up and timed runs (Linux VmHWM, reset after
setup) and `extra_mb` is how far that peak lies above the resident size after building the
model and the inputs (gradients, optimizer state, activations, allocator caches and library
work space all count; the weights and the Python/torch runtime are in `peak_mb` only).
`max_err` is the largest absolute logit difference from the fp32 contiguous model on the same
weights and input (eval only), against the largest logit magnitude `max_logit`.

The weights are random but "trained-like" (alpha = 0.5, BatchNorm scales near 1, running
statistics measured on random clips) so that every path of the network contributes to the
logits and activations have a trained network's scale.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from benchmarks.machine import machine  # noqa: E402
from benchmarks.proc_memory import reset_peak_rss, rss_mb  # noqa: E402
from benchmarks.synthetic_model import trained_like  # noqa: E402
from cocodiff.models import BACKBONES  # noqa: E402
from cocodiff.training.memory import keep_freed_memory  # noqa: E402

PRECISIONS = ("fp32", "bf16")
FORMATS = ("contiguous", "channels_last")




def build(args, memory_format: str):
    from cocodiff.data.layouts import LAYOUTS
    from cocodiff.models import build_recognizer

    torch.manual_seed(0)
    joints = LAYOUTS[args.layout].num_joints
    model = trained_like(build_recognizer(args.backbone, args.layout, 3, args.classes), joints)
    if memory_format == "channels_last":
        model = model.to(memory_format=torch.channels_last)
    return model, joints


def autocast(precision: str):
    return torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16")


def measure(args, mode: str, precision: str, memory_format: str) -> dict:
    """One measurement; runs inside its own worker process."""
    if args.malloc == "tuned" and not keep_freed_memory():
        raise SystemExit("--malloc tuned needs glibc")
    torch.set_num_threads(args.threads)
    model, joints = build(args, memory_format)
    g = torch.Generator().manual_seed(1)
    if mode == "train":
        x = torch.randn(args.batch, 2, args.frames, joints, 3, generator=g)
        y = torch.randint(0, args.classes, (args.batch,), generator=g)
        opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True, weight_decay=4e-4)
        model.train()
        run = model if not args.compile else torch.compile(model)

        def step():
            opt.zero_grad(set_to_none=True)
            with autocast(precision):
                loss = torch.nn.functional.cross_entropy(run(x), y)
            loss.backward()
            opt.step()

        repeats = args.steps
    else:
        x = torch.randn(1, 2, args.frames, joints, 3, generator=g)
        model.eval()
        run = model if not args.compile else torch.compile(model)

        def step():
            with torch.no_grad(), autocast(precision):
                return run(x)

        repeats = args.runs
    reset_peak_rss()
    base_rss, _ = rss_mb()
    for _ in range(args.warmup):
        step()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    _, peak = rss_mb()
    median = statistics.median(times)
    result = {
        "backbone": args.backbone, "mode": mode, "precision": precision, "format": memory_format,
        "compile": args.compile, "malloc": args.malloc, "threads": args.threads, "median_s": median,
        "min_s": min(times), "max_s": max(times), "repeats": repeats,
        "peak_mb": round(peak, 1), "extra_mb": round(peak - base_rss, 1),
    }
    if mode == "train":
        result["batch"] = args.batch
        result["samples_per_s"] = args.batch / median
    else:
        result["latency_ms"] = 1000 * median
        with torch.no_grad():
            logits = step().float()
            ref_model, _ = build(args, "contiguous")
            ref = ref_model.eval()(x)
        result["max_err"] = (logits - ref).abs().max().item()
        result["max_logit"] = ref.abs().max().item()
    return result


def run_worker(args, mode: str, precision: str, memory_format: str) -> dict:
    cmd = [sys.executable, __file__, "--_worker", f"{mode},{precision},{memory_format}"]
    for key in ("backbone", "threads", "batch", "frames", "layout", "classes", "steps", "runs", "warmup", "malloc"):
        cmd += [f"--{key}", str(getattr(args, key))]
    if args.compile:
        cmd.append("--compile")
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
    out = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if out.returncode:
        raise SystemExit(f"worker {mode}/{precision}/{memory_format} failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def table(results: list[dict]) -> str:
    head = "| mode | precision | format | samples/s or ms | median s | peak MiB | extra MiB | max err / max logit |"
    lines = [head, "|" + "---|" * 8]
    for r in results:
        speed = f"{r['samples_per_s']:.2f} samples/s" if r["mode"] == "train" else f"{r['latency_ms']:.1f} ms"
        err = f"{r['max_err']:.2e} / {r['max_logit']:.2f}" if "max_err" in r else "-"
        lines.append(f"| {r['mode']} | {r['precision']} | {r['format']} | {speed} | {r['median_s']:.4f} | "
                     f"{r['peak_mb']:.0f} | {r['extra_mb']:.0f} | {err} |")
    return "\n".join(lines)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--backbone", default="ctrgcn", choices=list(BACKBONES))
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--batch", type=int, default=16, help="training batch size")
    p.add_argument("--frames", type=int, default=64)
    p.add_argument("--layout", default="ntu25")
    p.add_argument("--classes", type=int, default=60)
    p.add_argument("--steps", type=int, default=5, help="timed training steps")
    p.add_argument("--runs", type=int, default=20, help="timed eval forwards")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--modes", default="train,eval")
    p.add_argument("--precisions", default=",".join(PRECISIONS))
    p.add_argument("--formats", default=",".join(FORMATS))
    p.add_argument("--compile", action="store_true", help="torch.compile the model (slow warm-up)")
    p.add_argument("--malloc", choices=["default", "tuned"], default="default",
                   help="tuned: keep freed memory in the process (cocodiff.training.memory)")
    p.add_argument("--json", type=Path, help="also write the results and the machine here")
    p.add_argument("--_worker", help=argparse.SUPPRESS)
    args = p.parse_args(argv)

    if args._worker:
        print(json.dumps(measure(args, *args._worker.split(","))))
        return
    info = machine()
    print(f"# {args.backbone}, {info['cpu']}, {info['logical_cpus']} CPUs, torch {info['torch']}, "
          f"{args.threads} threads, {args.malloc} malloc, load {info['load_avg'][0]:.2f}", flush=True)
    results = []
    for mode in args.modes.split(","):
        for precision in args.precisions.split(","):
            for memory_format in args.formats.split(","):
                results.append(run_worker(args, mode, precision, memory_format))
                print(f"  {mode} {precision} {memory_format}: done", file=sys.stderr, flush=True)
    print(table(results))
    if args.json:
        info["load_avg_end"] = os.getloadavg()
        args.json.write_text(json.dumps({"machine": info, "args": {k: str(v) for k, v in vars(args).items()},
                                         "results": results}, indent=2))


if __name__ == "__main__":
    main()
