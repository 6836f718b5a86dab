"""The live recogniser's cost per update: preprocessing + model, PyTorch and ONNX Runtime, batch 1.

    python benchmarks/live_latency.py [--threads 2] [--frames 300] [--json out.json]
    python benchmarks/live_latency.py --models embedded --backends onnxruntime

Models (random "trained-like" weights, benchmarks/synthetic_model.py, saved as real checkpoints
and exported with `export.exporter.export_onnx` exactly as `python -m export.onnx` does):

    embedded    the embedded default: CTR-GCN base 16, 12 classes, 1 person, window 32, clips of 3 s
    published   CTR-GCN at the published width: base 64, 60 classes, 2 persons, window 64, clips of 3 s

A stream of real frames (the NTU RGB+D A001 sample from ../shared/data, looped; a synthetic
person where that is absent) is pushed at 30 fps into a `LiveRecognizer` that predicts on every
frame (`stride_frames=1`), so every update runs the whole path: frame intake, tracker, buffer,
resampling to the training rate, the contract's inference pipeline, the model. Each (model,
backend) runs in a fresh process, after `--warmup` updates:

- update ms: median and 90th percentile of `push()` over `--frames` updates;
- model ms: the backend's `predict` alone (median), so preprocessing ms = update - model;
- peak MiB: the process's peak resident set size while streaming (Linux VmHWM, reset after
  setup): the whole process, Python and the runtime included; the ONNX Runtime worker never
  imports torch, as a deployment with onnxruntime alone would not; setup s: loading the model
  (and creating the ONNX Runtime session);
- per stream KiB: the memory one more stream holds (its buffer of `clip_seconds` of frames, the
  tracker, the smoothing state), measured with tracemalloc over 8 streams fed the same frames.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.proc_memory import reset_peak_rss, rss_mb  # noqa: E402
from benchmarks.synthetic_model import model_files  # noqa: E402  (torch imported inside)

MODELS = {
    "embedded": {"base_channels": 16, "persons": 1, "classes": 12, "window": 32},
    "published": {"base_channels": 64, "persons": 2, "classes": 60, "window": 64},
}
BACKENDS = ("pytorch", "onnxruntime")
SAMPLE = ROOT.parent / "shared" / "data" / "ntu" / "skeleton" / "S001C001P001R001A001.skeleton"


def stream_frames(count: int):
    """`count` (timestamp, persons) at 30 fps: the real NTU clip looped, else a swaying stick figure."""
    import numpy as np

    if SAMPLE.is_file():
        from cocodiff.data.readers.ntu import read_ntu_skeleton  # numpy only: the ONNX worker stays torch-free

        clip = read_ntu_skeleton(SAMPLE)["keypoint"][0]
    else:
        t = np.arange(90)[:, None] / 30.0
        clip = np.zeros((90, 25, 3), np.float32)
        clip[..., 1] = np.linspace(0.0, 1.7, 25)
        clip[..., 0] = 0.2 * np.sin(2 * np.pi * t)
        clip[..., 2] = 3.0
    return [(i / 30.0, clip[i % len(clip)][None]) for i in range(count)]


class TimedBackend:
    """The backend, with the time of each `predict` kept."""

    def __init__(self, backend):
        self.backend, self.contract, self.times = backend, backend.contract, []

    def predict(self, batch):
        start = time.perf_counter()
        out = self.backend.predict(batch)
        self.times.append(time.perf_counter() - start)
        return out


def worker(model_path: Path, backend_name: str, threads: int, warmup: int, frames: int) -> dict:
    import tracemalloc

    from serve.backends import open_backend
    from serve.recognizer import LiveConfig, LiveRecognizer

    start = time.perf_counter()
    backend = open_backend(model_path, device="cpu", threads=threads)
    setup = time.perf_counter() - start
    timed = TimedBackend(backend)
    config = LiveConfig(stride_frames=1, warmup_seconds=0.0)
    recognizer = LiveRecognizer(timed, config=config)
    stream = stream_frames(warmup + frames)
    for t, persons in stream[:warmup]:
        recognizer.push(t, persons)
    timed.times.clear()
    reset_peak_rss()
    updates = []
    for t, persons in stream[warmup:]:
        begin = time.perf_counter()
        recognizer.push(t, persons)
        updates.append(time.perf_counter() - begin)
    _, peak = rss_mb()
    # memory held by a stream: 8 more recognisers fed a buffer's worth of frames, against none
    holding = int(recognizer.seconds * 30) + 5
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    streams = [LiveRecognizer(backend, config=LiveConfig(stride_frames=10 ** 9)) for _ in range(8)]
    for t, persons in stream[:holding]:
        for other in streams:
            other.push(t, persons)
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    held = sum(stat.size_diff for stat in after.compare_to(before, "filename")) / len(streams)
    ms = [1000 * value for value in updates]
    return {"update_ms": statistics.median(ms), "update_p90_ms": statistics.quantiles(ms, n=10)[-1],
            "model_ms": 1000 * statistics.median(timed.times), "peak_mb": peak, "setup_s": setup,
            "stream_kib": held / 1024, "device": backend.device}


def machine() -> str:
    from benchmarks.machine import machine as describe

    info = describe()
    return (f"{info['cpu']}, {info['logical_cpus']} CPUs{', AMX' if info['amx_bf16'] else ''}, torch "
            f"{info.get('torch', '-')}, onnxruntime {info.get('onnxruntime', '-')}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="embedded,published")
    parser.add_argument("--backends", default=",".join(BACKENDS))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "cocodiff_live_bench")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(Path(args.worker[0]), args.worker[1], args.threads, args.warmup, args.frames)))
        return 0
    args.workdir.mkdir(parents=True, exist_ok=True)
    print(f"# live recogniser, one stream predicting on every frame; {machine()}; {args.threads} thread(s)")
    print(f"{'model':10s} {'backend':12s} {'update ms':>10s} {'p90 ms':>7s} {'model ms':>9s} {'prep ms':>8s} "
          f"{'peak MiB':>9s} {'setup s':>8s} {'stream KiB':>10s}")
    results = []
    for model in args.models.split(","):
        checkpoint, onnx_file = model_files(args.workdir, model, **MODELS[model], clip_seconds=3.0)
        for backend in args.backends.split(","):
            path = checkpoint if backend == "pytorch" else onnx_file
            command = [sys.executable, __file__, "--worker", str(path), backend, "--threads", str(args.threads),
                       "--warmup", str(args.warmup), "--frames", str(args.frames)]
            row = json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)
            row.update(model=model, backend=backend)
            results.append(row)
            print(f"{model:10s} {backend:12s} {row['update_ms']:10.2f} {row['update_p90_ms']:7.2f} "
                  f"{row['model_ms']:9.2f} {row['update_ms'] - row['model_ms']:8.2f} {row['peak_mb']:9.0f} "
                  f"{row['setup_s']:8.2f} {row['stream_kib']:10.1f}")
    if args.json:
        args.json.write_text(json.dumps({"machine": machine(), "threads": args.threads, "rows": results}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
