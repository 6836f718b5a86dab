"""onnxruntime (CPU) against PyTorch eager on the same weights: latency, throughput, peak memory.

    python benchmarks/onnx_speed.py [--backbone ctrgcn] [--threads 2] [--json out.json]
    python benchmarks/onnx_speed.py --rows eager,ort,ort-basic,ort-noarena,ort-folded,eager-tuned
    python benchmarks/onnx_speed.py --profile          # where the time goes, op by op, at B=1
    python benchmarks/onnx_speed.py --paired --threads 1 --rows eager,ort   # A/B on a shared machine

The model is the published-width network (base 64 channels, NTU's 25 joints, 2 persons, 60
classes) with random "trained-like" weights (`synthetic_model.trained_like`), saved as a real
checkpoint (`benchmarks/synthetic_model.py`) and exported with
`export.onnx.export_onnx(checkpoint, out, verify=True)`, exactly as `python -m export.onnx`
does; the eager rows load the same checkpoint (`cocodiff.checkpoint.build_model`).

Measured for each row, each (row, batch) in a fresh Python process:

- latency: ms for one 2-person 64-frame clip, input (1, 2, 64, 25, 3); the median over `--runs`
  timed forwards after `--warmup` untimed ones;
- throughput: clips/s at batch 16, input (16, 2, 64, 25, 3): 16 / the median over
  `--batch-runs` timed forwards after `--warmup` untimed ones;
- peak MiB: the process's peak resident set size during warm-up and timed runs (Linux VmHWM,
  reset after setup); extra MiB: that peak minus the resident size after setup (model or
  session built, input made). The onnxruntime workers do not import torch, so their memory is
  what a deployment with onnxruntime alone needs;
- setup s: model load (eager) or session creation (onnxruntime, graph optimisation included);
- error: largest absolute logit difference from the eager fp32 row on the same input.

Rows (`--rows`, comma-separated; default `eager,ort`):

    eager        PyTorch eager fp32, torch.inference_mode(), torch.set_num_threads(--threads)
    eager-tuned  the same with glibc told to keep freed memory (cocodiff.training.memory)
    ort          onnxruntime CPU fp32, ORT_ENABLE_ALL, intra_op_num_threads = --threads,
                 sequential execution, default CPU memory arena
    ort-basic    the same at ORT_ENABLE_BASIC (constant folding and redundant-node removal only)
    ort-noopt    the same at ORT_DISABLE_ALL (nothing folded: the merged CTR-GCN weights are
                 recomputed at every run)
    ort-noarena  ORT_ENABLE_ALL without the CPU memory arena (enable_cpu_mem_arena = False)
    ort-nospin   ORT_ENABLE_ALL with session.intra_op.allow_spinning = 0 (idle pool threads sleep
                 at once instead of busy-waiting: matters on a shared, loaded machine)
    ort-folded   ORT_ENABLE_ALL on a file that onnxruntime optimised offline at ORT_ENABLE_BASIC
                 (optimized_model_filepath): the weight expressions that export/graph.py keeps
                 unfolded are constants in the file, so the session has nothing left to fold
    ort-fp16     ORT_ENABLE_ALL on the `--fp16` export (float16 inside, float32 input/outputs)

`--paired` (for a loaded, shared machine, where another job's load moves a row by 2x between
fresh processes): all the rows' models in one process, run in turn, one forward each per round,
for `--runs` rounds at B=1 and `--batch-runs` rounds at the throughput batch; the medians and
the per-round ratios to eager then see the same background load. One thread only (with two,
eager ran ~50 % slower beside onnxruntime's thread pools in the same process), no memory figures,
and no eager-tuned row (its allocator setting is process-wide).

`--workdir DIR` keeps the checkpoint and ONNX files there and reuses them on the next run (the
export takes about a minute); without it they go to a temporary folder that is removed.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.machine import machine  # noqa: E402  (torch-free)
from benchmarks.proc_memory import reset_peak_rss, rss_mb  # noqa: E402  (torch-free)
from benchmarks.synthetic_model import BASE_CHANNELS, CLASSES, LAYOUT, PERSONS, synthetic_checkpoint  # noqa: E402

ROWS = {
    "eager": "PyTorch eager fp32",
    "eager-tuned": "PyTorch eager fp32, tuned malloc",
    "ort": "onnxruntime fp32, ORT_ENABLE_ALL",
    "ort-basic": "onnxruntime fp32, ORT_ENABLE_BASIC",
    "ort-noopt": "onnxruntime fp32, ORT_DISABLE_ALL",
    "ort-noarena": "onnxruntime fp32, no CPU memory arena",
    "ort-nospin": "onnxruntime fp32, no thread spinning",
    "ort-folded": "onnxruntime fp32, offline-folded file",
    "ort-fp16": "onnxruntime fp16 export",
}




# ---- files: checkpoint and exports (parent process) ----------------------------------------------

def files(workdir: Path, backbone: str) -> dict[str, Path]:
    return {"checkpoint": workdir / f"{backbone}.pt", "ort": workdir / f"{backbone}.onnx",
            "ort-fp16": workdir / f"{backbone}_fp16.onnx", "ort-folded": workdir / f"{backbone}_folded.onnx"}


def prepare(workdir: Path, backbone: str, rows: list[str], threads: int) -> dict:
    """Checkpoint and the ONNX files the rows need, made or reused; what was done, for the record."""
    import torch

    from cocodiff.hashing import sha256_of
    from export.metadata import read_metadata
    from export.exporter import export_onnx

    torch.set_num_threads(threads)
    paths, done = files(workdir, backbone), {}
    if not paths["checkpoint"].is_file():
        synthetic_checkpoint(paths["checkpoint"], backbone)
    sha = sha256_of(paths["checkpoint"])
    for key, fp16 in (("ort", False), ("ort-fp16", True)):
        if key == "ort" or key in rows:
            out = paths[key]
            if out.is_file() and read_metadata(out).provenance.get("checkpoint_sha256") == sha:
                done[key] = f"reused {out.name}"
                continue
            start = time.perf_counter()
            result = export_onnx(paths["checkpoint"], out, fp16=fp16, verify=True)
            done[key] = (f"exported {out.name} in {time.perf_counter() - start:.0f} s ({result.exporter}, opset "
                         f"{result.opset}), verified against PyTorch float64 at (B, T) {result.checked_shapes}: "
                         f"max abs error {result.max_abs_error:.1e}")
    if "ort-folded" in rows:
        done["ort-folded"] = fold_offline(paths["ort"], paths["ort-folded"])
    return done


def fold_offline(source: Path, out: Path) -> str:
    """onnxruntime's own basic optimisation (constant folding, redundant nodes) saved to a file."""
    import onnx
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    options.optimized_model_filepath = str(out)
    options.log_severity_level = 3
    ort.InferenceSession(str(source), options, providers=["CPUExecutionProvider"])
    before, after = onnx.load(str(source)), onnx.load(str(out))
    return (f"{source.name}: {len(before.graph.node)} nodes, {len(before.graph.initializer)} initializers -> "
            f"{out.name}: {len(after.graph.node)} nodes, {len(after.graph.initializer)} initializers")


# ---- one measurement (worker process) -------------------------------------------------------------

def clip_batch(batch: int, frames: int):
    import numpy as np

    return np.random.default_rng(1).standard_normal((batch, PERSONS, frames, 25, 3)).astype(np.float32)


def ort_session(path: Path, row: str, threads: int, profile_prefix: str | None = None):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    levels = {"ort-basic": "ORT_ENABLE_BASIC", "ort-noopt": "ORT_DISABLE_ALL"}
    options.graph_optimization_level = getattr(ort.GraphOptimizationLevel, levels.get(row, "ORT_ENABLE_ALL"))
    if row == "ort-noarena":
        options.enable_cpu_mem_arena = False
    if row == "ort-nospin":
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if profile_prefix:
        options.enable_profiling = True
        options.profile_file_prefix = profile_prefix
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def runner(args, row: str, batch: int, profile_prefix: str | None = None):
    """(forward() -> float32 logits, setup seconds), built in this process."""
    paths = files(args.workdir, args.backbone)
    x = clip_batch(batch, args.frames)
    start = time.perf_counter()
    if row.startswith("eager"):
        import torch

        from cocodiff.checkpoint import build_model, load_checkpoint
        from cocodiff.training.memory import keep_freed_memory

        if row == "eager-tuned" and not keep_freed_memory():
            raise SystemExit("eager-tuned needs glibc")
        torch.set_num_threads(args.threads)
        model = build_model(load_checkpoint(paths["checkpoint"])).eval()
        tensor = torch.from_numpy(x)

        def forward():
            with torch.inference_mode():
                return model(tensor).numpy()
    else:
        path = paths[row] if row in ("ort-fp16", "ort-folded") else paths["ort"]
        session = ort_session(path, row, args.threads, profile_prefix)

        def forward():
            return session.run(None, {"skeleton": x})[0]

        forward.session = session
    return forward, time.perf_counter() - start


def measure(args, row: str, batch: int) -> dict:
    import numpy as np

    forward, setup_s = runner(args, row, batch)
    repeats = args.runs if batch == 1 else args.batch_runs
    reset_peak_rss()
    base_rss, _ = rss_mb()
    for _ in range(args.warmup):
        forward()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        logits = forward()
        times.append(time.perf_counter() - start)
    _, peak = rss_mb()
    np.save(args.workdir / f"logits_{args.backbone}_{row}_{batch}.npy", logits)
    median = statistics.median(times)
    return {"backbone": args.backbone, "row": row, "batch": batch, "frames": args.frames, "threads": args.threads,
            "median_s": median, "min_s": min(times), "max_s": max(times), "repeats": repeats,
            "latency_ms": 1000 * median, "clips_per_s": batch / median, "setup_s": setup_s,
            "peak_mb": round(peak, 1), "extra_mb": round(peak - base_rss, 1)}


def profile(args, row: str) -> dict:
    """Time per operator type and forward at B=1: onnxruntime's profiler or torch.profiler."""
    totals: dict[str, float] = defaultdict(float)
    counts: dict[str, int] = defaultdict(int)
    if row.startswith("eager"):
        import torch

        forward, _ = runner(args, row, 1)
        for _ in range(args.warmup):
            forward()
        with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
            for _ in range(args.runs):
                forward()
        for event in prof.key_averages():
            if event.key.startswith("aten::") or event.key.startswith("mkldnn"):
                totals[event.key] += event.self_cpu_time_total / 1000  # us -> ms
                counts[event.key] += event.count
        total_ms = sum(totals.values())
    else:
        forward, _ = runner(args, row, 1, profile_prefix=str(args.workdir / f"profile_{args.backbone}_{row}"))
        for _ in range(args.warmup + args.runs):
            forward()
        trace = json.loads(Path(forward.session.end_profiling()).read_text())
        runs = sorted(e["ts"] for e in trace if e.get("cat") == "Session" and e.get("name") == "model_run")
        first_timed = runs[args.warmup]  # the warm-up runs come first in the trace
        for event in trace:
            if event.get("cat") == "Node" and event["name"].endswith("_kernel_time") and event["ts"] >= first_timed:
                op = event["args"].get("op_name", "?")
                totals[op] += event["dur"] / 1000
                counts[op] += 1
        total_ms = sum(e["dur"] for e in trace if e.get("cat") == "Session" and e.get("name") == "model_run"
                       and e["ts"] >= first_timed) / 1000
    per_run = {op: ms / args.runs for op, ms in totals.items()}
    return {"row": row, "runs": args.runs, "total_ms_per_run": total_ms / args.runs,
            "ops": dict(sorted(per_run.items(), key=lambda item: -item[1])),
            "calls_per_run": {op: counts[op] // args.runs for op in counts}}


def paired(args, rows: list[str]) -> dict:
    """All rows in this process, interleaved round by round; medians and median per-round ratios."""
    out = {}
    for batch, rounds in ((1, args.runs), (args.batch, args.batch_runs)):
        forwards = {row: runner(args, row, batch)[0] for row in rows}
        times: dict[str, list[float]] = {row: [] for row in rows}
        for round_ in range(args.warmup + rounds):
            order = rows if round_ % 2 == 0 else rows[::-1]  # no row always right after another
            for row in order:
                start = time.perf_counter()
                forwards[row]()
                if round_ >= args.warmup:
                    times[row].append(time.perf_counter() - start)
        for row in rows:
            ratio = (statistics.median(e / t for e, t in zip(times["eager"], times[row]))
                     if "eager" in times else float("nan"))
            out[f"{row},{batch}"] = {"row": row, "batch": batch, "median_ms": 1000 * statistics.median(times[row]),
                                     "clips_per_s": batch / statistics.median(times[row]),
                                     "speedup_vs_eager": ratio, "rounds": rounds}
        del forwards
    return out


def paired_table(results: dict) -> str:
    lines = ["| row | B | median ms | clips/s | speed-up vs eager (median per-round ratio) |", "|---|---|---|---|---|"]
    for r in results.values():
        lines.append(f"| {ROWS[r['row']]} | {r['batch']} | {r['median_ms']:.1f} | {r['clips_per_s']:.1f} | "
                     f"{r['speedup_vs_eager']:.2f}x |")
    return "\n".join(lines)


# ---- the parent -------------------------------------------------------------------------------------

def run_worker(args, task: str) -> dict:
    cmd = [sys.executable, __file__, "--_worker", task]
    for key in ("backbone", "threads", "frames", "batch", "runs", "batch_runs", "warmup", "workdir"):
        cmd += [f"--{key.replace('_', '-')}", str(getattr(args, key))]
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "PYTHONPATH": str(ROOT)}
    out = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if out.returncode:
        raise SystemExit(f"worker {task} failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def table(results: list[dict]) -> str:
    by = {(r["row"], r["batch"]): r for r in results}
    rows = list(dict.fromkeys(r["row"] for r in results))
    batches = sorted({r["batch"] for r in results})
    one, many = batches[0], batches[-1]
    head = (f"| row | B={one} latency ms | speed-up | B={many} clips/s | speed-up | peak MiB B={one} / B={many} | "
            f"extra MiB B={one} / B={many} | setup s | max err (B={one}, B={many}) |")
    lines = [head, "|" + "---|" * 9]
    for row in rows:
        a, b = by.get((row, one)), by.get((row, many))
        ea, eb = by.get(("eager", one)), by.get(("eager", many))
        lat = f"{a['latency_ms']:.1f}" if a else "-"
        up1 = f"{ea['median_s'] / a['median_s']:.2f}x" if a and ea else "-"
        thr = f"{b['clips_per_s']:.1f}" if b else "-"
        up2 = f"{b['clips_per_s'] / eb['clips_per_s']:.2f}x" if b and eb else "-"
        peak = " / ".join(f"{r['peak_mb']:.0f}" if r else "-" for r in (a, b))
        extra = " / ".join(f"{r['extra_mb']:.0f}" if r else "-" for r in (a, b))
        setup = f"{(a or b)['setup_s']:.2f}"
        err = ", ".join(f"{r['max_err']:.1e}" if r and "max_err" in r else "-" for r in (a, b))
        lines.append(f"| {ROWS[row]} | {lat} | {up1} | {thr} | {up2} | {peak} | {extra} | {setup} | {err} |")
    return "\n".join(lines)


def profile_table(profiles: list[dict], top: int = 12) -> str:
    out = []
    for p in profiles:
        out.append(f"\n{ROWS[p['row']]}: {p['total_ms_per_run']:.1f} ms per forward (profiled, B=1); "
                   f"top operators, ms per forward (calls):")
        for op, ms in list(p["ops"].items())[:top]:
            out.append(f"  {op:32s} {ms:7.2f}  ({p['calls_per_run'].get(op, 0)})")
    return "\n".join(out)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--backbone", default="ctrgcn", help="a name in cocodiff.models.BACKBONES")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--frames", type=int, default=64)
    p.add_argument("--batch", type=int, default=16, help="throughput batch size")
    p.add_argument("--runs", type=int, default=20, help="timed forwards at B=1")
    p.add_argument("--batch-runs", type=int, default=5, help="timed forwards at the throughput batch")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--rows", default="eager,ort", help=f"comma-separated, of: {', '.join(ROWS)}")
    p.add_argument("--profile", action="store_true", help="also: time per operator type at B=1 (eager, ort)")
    p.add_argument("--paired", action="store_true",
                   help="instead: all rows in one process, interleaved (A/B on a loaded machine)")
    p.add_argument("--workdir", type=Path, help="keep (and reuse) the checkpoint and ONNX files here")
    p.add_argument("--json", type=Path, help="also write the results and the machine here")
    p.add_argument("--_worker", help=argparse.SUPPRESS)
    args = p.parse_args(argv)

    if args._worker:
        kind, row, *rest = args._worker.split(",")
        if kind == "paired":
            result = paired(args, [row, *rest])
        else:
            result = profile(args, row) if kind == "profile" else measure(args, row, int(rest[0]))
        print(json.dumps(result))
        return
    rows = args.rows.split(",")
    unknown = [row for row in rows if row not in ROWS]
    if unknown:
        raise SystemExit(f"unknown rows {unknown}; choose from {', '.join(ROWS)}")
    if args.paired and args.threads != 1:  # measured: eager ran 50 % slower beside onnxruntime's thread pools
        raise SystemExit("--paired needs --threads 1: with more, the runtimes' thread pools slow each other down")
    if args.paired and "eager-tuned" in rows:  # its malloc setting would apply to every row of the process
        raise SystemExit("--paired cannot take eager-tuned: the allocator setting is process-wide")
    temporary = None
    if args.workdir is None:
        temporary = tempfile.TemporaryDirectory(prefix="onnx_speed_")
        args.workdir = Path(temporary.name)
    args.workdir.mkdir(parents=True, exist_ok=True)
    try:
        run(args, rows)
    finally:
        if temporary is not None:
            temporary.cleanup()


def run(args, rows: list[str]) -> None:
    import numpy as np

    info = machine()
    print(f"# {args.backbone} (base {BASE_CHANNELS}, {LAYOUT}, {PERSONS} persons, {CLASSES} classes), {info['cpu']}, "
          f"{info['logical_cpus']} CPUs, torch {info['torch']}, onnxruntime {info['onnxruntime']}, "
          f"{args.threads} threads, load {info['load_avg'][0]:.2f}", flush=True)
    prepared = prepare(args.workdir, args.backbone, rows, args.threads)
    for line in prepared.values():
        print(f"  {line}", file=sys.stderr, flush=True)
    if args.paired:
        results = run_worker(args, "paired," + ",".join(rows))
        print(paired_table(results))
        if args.json:
            info["load_avg_end"] = os.getloadavg()
            args.json.write_text(json.dumps({"machine": info, "prepared": prepared, "paired": results,
                                             "args": {k: str(v) for k, v in vars(args).items()}}, indent=2))
        return
    results = []
    for row in rows:
        for batch in (1, args.batch):
            results.append(run_worker(args, f"measure,{row},{batch}"))
            print(f"  {row} B={batch}: {results[-1]['latency_ms']:.1f} ms", file=sys.stderr, flush=True)
    for r in results:
        eager = args.workdir / f"logits_{args.backbone}_eager_{r['batch']}.npy"
        if "eager" in rows and eager.is_file():  # this run's eager logits, never a stale file
            mine = np.load(args.workdir / f"logits_{args.backbone}_{r['row']}_{r['batch']}.npy")
            ref = np.load(eager)
            r["max_err"] = float(np.abs(mine.astype(np.float64) - ref).max())
            r["max_logit"] = float(np.abs(ref).max())
    print(table(results))
    profiles = []
    if args.profile:
        for row in dict.fromkeys(["eager", "ort"] + [r for r in rows if r.startswith("ort-")]):
            if row in ("eager", "ort") or row in rows:
                profiles.append(run_worker(args, f"profile,{row}"))
        print(profile_table(profiles))
    if args.json:
        info["load_avg_end"] = os.getloadavg()
        args.json.write_text(json.dumps({"machine": info, "prepared": prepared,
                                         "args": {k: str(v) for k, v in vars(args).items()},
                                         "results": results, "profiles": profiles}, indent=2))


if __name__ == "__main__":
    main()
