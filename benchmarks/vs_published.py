"""cocodiff against the published CTR-GCN code, side by side in one run on this machine.

    python benchmarks/vs_published.py                       # inference, training, live: the whole report
    python benchmarks/vs_published.py --parts inference --rounds 40 --threads 2 --json out.json
    python benchmarks/vs_published.py --reference PATH      # the published code elsewhere

The published model code (Uason-Chen/CTR-GCN, `model/ctrgcn.py` and `graph/`) is imported from
`../shared/reference/ctrgcn_published` (or `--reference`); where it is absent the benchmark says
so and stops. Both models are the published width (base 64, NTU's 25 joints, 2 persons, 60
classes) with the same "trained-like" random weights (`benchmarks/synthetic_model.py`): ours is
saved as a real checkpoint and exported with `export.exporter.export_onnx` exactly as
`python -m export.onnx` does; the published model loads the same state dict
(`cocodiff.models.ctrgcn.published_state_dict`).

What it prints:

- the processor and the software (the processor differs between machines of one kind, so a
  ratio holds for the machine it was measured on only);
- agreement: the largest logit difference between the published model and ours in float64, and
  between the ONNX file in onnxruntime (float32) and the published model in float64, absolute and
  relative to the largest logit;
- inference at batch 1 (one 2-person 64-frame clip) and batch 16, for each runtime of ours
  (PyTorch eager as trained and in its deploy form, the reference and the deploy ONNX graphs in
  ONNX Runtime through serve's own backend, and with --int8 the int8 deploy graph) against the
  published code in PyTorch eager;
- a training step at batch 16 (forward, cross-entropy, backward, SGD with Nesterov momentum 0.9
  and weight decay 4e-4), ours in fp32 and under bf16 autocast, each with the default allocator
  and with the allocator setting the trainer makes, against the published code in fp32 (and
  beside it the published code with that allocator setting, so the model code's own share shows);
- the roofline: GFLOPs per clip (counted by `torch.utils.flop_counter`), the GFLOP/s each
  runtime reaches, and the machine's fp32 matrix-product rate (a large sgemm in onnxruntime's and
  in PyTorch's BLAS, same threads): the practical ceiling for this arithmetic;
- the live recogniser's cost per update for the embedded default model (benchmarks/live_latency.py,
  run as a command).

Pairing: every runtime lives in its own worker process (so thread pools do not fight within a
process), and the parent has them run in turn, one call each per round, with a pause between
calls (0.2 s) so that no thread pool is still spinning when the next call starts. Each round gives one
ratio per runtime (the published time over ours in that round), so slow drift in the machine's
load cancels; the report gives the median time, the median ratio and a bootstrap 95% interval
of that median.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.machine import machine  # noqa: E402  (torch-free)

DEFAULT_REFERENCE = ROOT.parent / "shared" / "reference" / "ctrgcn_published"
PUBLISHED_GRAPH = {"graph": "graph.ntu_rgb_d.Graph", "graph_args": {"labeling_mode": "spatial"}}
BATCHES = (1, 16)
TRAIN_BATCH = 16
# Between calls. A runtime's worker threads keep spinning for a while after a call; 20 ms was
# measured to be too short here (the deploy graph timed 32.0 ms at batch 1 and 2 threads with
# it, 18.7 ms with 0.2 s), so the call after a spinning one was slowed by it.
PAUSE_S = 0.2


# ---- the models, each built inside its worker ----------------------------------------------------

def published_model(reference: Path, state_dict):
    """The published `Model` with our weights (its own code, imported from `reference`)."""
    if str(reference) not in sys.path:
        sys.path.insert(0, str(reference))
    from model.ctrgcn import Model  # the published code

    model = Model(num_class=60, num_point=25, num_person=2, **PUBLISHED_GRAPH)
    model.load_state_dict(state_dict)
    return model


def our_model(checkpoint: Path):
    from cocodiff.checkpoint import load_recognizer

    return load_recognizer(checkpoint)[1]


def clips(batch: int, seed: int = 1):
    """(B, M, T, V, C) float32: our input layout; the published model reads (B, C, T, V, M)."""
    import numpy as np

    return np.random.default_rng(seed).standard_normal((batch, 2, 64, 25, 3)).astype(np.float32)


def to_published(x):
    return x.permute(0, 4, 2, 3, 1).contiguous()


def inference_call(task: dict):
    """A zero-argument callable that runs one forward of `task`'s runtime on its batch."""
    x = clips(task["batch"])
    if task["runtime"] == "onnxruntime":
        from serve.backends.onnx_runtime import OnnxBackend  # serve's own backend, as served

        backend = OnnxBackend(task["onnx"], device="cpu", threads=task["threads"])
        return lambda: backend.predict(x)
    import torch

    torch.set_num_threads(task["threads"])
    ours = our_model(Path(task["checkpoint"])).eval()
    if task["runtime"] == "published":
        from cocodiff.models.ctrgcn import published_state_dict

        model, tensor = published_model(Path(task["reference"]), published_state_dict(ours)).eval(), \
            to_published(torch.from_numpy(x))
    elif task["runtime"] == "pytorch-deploy":
        from cocodiff.models.ctrgcn_deploy import deploy_recognizer

        model, tensor = deploy_recognizer(ours), torch.from_numpy(x)
    else:
        model, tensor = ours, torch.from_numpy(x)

    def forward():
        with torch.inference_mode():
            return model(tensor)

    return forward


def training_call(task: dict):
    """One SGD step at batch 16 (eager) of `task["model"]` (published or ours) in
    `task["precision"]` (fp32, or bf16 autocast), with the default allocator or, where
    `task["allocator"]` is "trainer", the setting `python -m cocodiff.train` makes
    (`cocodiff.training.memory.keep_freed_memory`; process-wide, hence one worker per row)."""
    from contextlib import nullcontext

    import torch
    import torch.nn.functional as F

    from cocodiff.models.ctrgcn import published_state_dict

    if task["allocator"] == "trainer":
        from cocodiff.training.memory import keep_freed_memory

        keep_freed_memory()
    precision = torch.autocast("cpu", dtype=torch.bfloat16) if task["precision"] == "bf16" else nullcontext()
    torch.set_num_threads(task["threads"])
    torch.manual_seed(0)
    ours = our_model(Path(task["checkpoint"]))
    x = torch.from_numpy(clips(TRAIN_BATCH, seed=2))
    if task["model"] == "published":
        model, x = published_model(Path(task["reference"]), published_state_dict(ours)), to_published(x)
    else:
        model = ours
    model.train()
    labels = torch.randint(0, 60, (TRAIN_BATCH,))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True, weight_decay=4e-4)

    def step():
        optimizer.zero_grad(set_to_none=True)
        with precision:
            loss = F.cross_entropy(model(x), labels)
        loss.backward()
        optimizer.step()

    return step


# The training rows: name -> (model, precision, allocator). The first is the reference; the
# second gives the published code the same allocator setting, so that what is left of a ratio
# is the model code's own.
TRAINING_ROWS = {
    "published": ("published", "fp32", "default"),
    "published, the trainer's allocator setting": ("published", "fp32", "trainer"),
    "cocodiff fp32": ("cocodiff", "fp32", "default"),
    "cocodiff fp32, the trainer's allocator setting": ("cocodiff", "fp32", "trainer"),
    "cocodiff bf16 autocast": ("cocodiff", "bf16", "default"),
    "cocodiff bf16, the trainer's allocator setting (precision=bf16)": ("cocodiff", "bf16", "trainer"),
}


def worker(connection, task: dict) -> None:
    """Build the task's callable, warm it up, then time one call per request until told to stop."""
    call = (training_call if task["kind"] == "training" else inference_call)(task)
    for _ in range(task["warmup"]):
        call()
    connection.send("ready")
    while connection.recv() == "run":
        start = time.perf_counter()
        call()
        connection.send(time.perf_counter() - start)
    connection.close()


# ---- pairing ---------------------------------------------------------------------------------------

def paired_times(tasks: dict[str, dict], rounds: int, pause: float = PAUSE_S) -> dict[str, list[float]]:
    """Seconds per call for every task, the tasks taking turns within each round."""
    context = mp.get_context("spawn")
    pipes, processes = {}, []
    for name, task in tasks.items():
        parent, child = context.Pipe()
        process = context.Process(target=worker, args=(child, task), daemon=True)
        process.start()
        pipes[name], processes = parent, processes + [process]
    for pipe in pipes.values():
        if pipe.recv() != "ready":
            raise RuntimeError("a benchmark worker failed to start")
    times: dict[str, list[float]] = {name: [] for name in tasks}
    names = list(tasks)
    for round_index in range(rounds):
        order = names[round_index % len(names):] + names[:round_index % len(names)]  # rotate who goes first
        for name in order:
            time.sleep(pause)
            pipes[name].send("run")
            times[name].append(pipes[name].recv())
    for pipe in pipes.values():
        pipe.send("stop")
    for process in processes:
        process.join(timeout=30)
    return times


def ratio_summary(reference: list[float], ours: list[float], seed: int = 0) -> dict:
    """Median per-round ratio reference / ours and a bootstrap 95% interval of that median."""
    import numpy as np

    ratios = np.asarray(reference) / np.asarray(ours)
    rng = np.random.default_rng(seed)
    boot = np.median(rng.choice(ratios, size=(2000, len(ratios)), replace=True), axis=1)
    return {"ratio": float(np.median(ratios)), "ci95": [float(np.quantile(boot, 0.025)),
                                                         float(np.quantile(boot, 0.975))]}


# ---- agreement and arithmetic (in the parent) ------------------------------------------------------

def agreement(checkpoint: Path, onnx_files: dict[str, str], reference: Path) -> dict:
    """Published against ours in float64, and each ONNX file (in onnxruntime) against the
    published model in float64: the largest difference, absolute and relative to the largest
    logit, and whether every top-1 is the same."""
    import numpy as np
    import torch

    from cocodiff.models.ctrgcn import published_state_dict
    from serve.backends.onnx_runtime import OnnxBackend

    ours = our_model(checkpoint).eval().double()
    published = published_model(reference, published_state_dict(ours)).eval().double()
    x = clips(4, seed=3)
    with torch.inference_mode():
        reference_logits = published(to_published(torch.from_numpy(x).double())).numpy()
        our_logits = ours(torch.from_numpy(x).double()).numpy()
    scale = float(np.abs(reference_logits).max())
    result = {"float64_max_abs": float(np.abs(our_logits - reference_logits).max()), "logit_scale": scale}
    for name, path in onnx_files.items():
        logits = OnnxBackend(path, device="cpu").predict(x)
        difference = float(np.abs(logits - reference_logits).max())
        result[name] = {"max_abs": difference, "max_rel": difference / scale,
                        "top1_equal": bool((logits.argmax(1) == reference_logits.argmax(1)).all())}
    return result


def gflops_per_clip(checkpoint: Path, reference: Path) -> dict:
    """Multiply-adds x 2 of one forward of one 2-person 64-frame clip: the published model, ours
    and its deploy form (which skips the strided frames a strided 1x1 convolution drops)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from cocodiff.models.ctrgcn import published_state_dict
    from cocodiff.models.ctrgcn_deploy import deploy_recognizer

    ours = our_model(checkpoint).eval()
    published = published_model(reference, published_state_dict(ours)).eval()
    x = torch.from_numpy(clips(1))
    counted = {}
    for name, model, tensor in (("published", published, to_published(x)), ("cocodiff", ours, x),
                                ("cocodiff deploy", deploy_recognizer(ours), x)):
        with FlopCounterMode(display=False) as counter:  # needs grad mode on: its module hooks do
            model(tensor)
        counted[name] = counter.get_total_flops() / 1e9
    return counted


def sgemm_rate(threads: int, size: int = 2048, repeats: int = 10) -> dict:
    """GFLOP/s of one large fp32 matrix product in onnxruntime's MLAS and in PyTorch's BLAS."""
    import numpy as np
    import onnxruntime as ort
    import torch
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal((size, size)).astype(np.float32) for _ in range(2))
    graph = helper.make_graph([helper.make_node("MatMul", ["a", "b"], ["c"])], "sgemm",
                              [helper.make_tensor_value_info("a", TensorProto.FLOAT, [size, size])],
                              [helper.make_tensor_value_info("c", TensorProto.FLOAT, [size, size])],
                              [numpy_helper.from_array(b, "b")])
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    session = ort.InferenceSession(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
                                   .SerializeToString(), options, providers=["CPUExecutionProvider"])
    torch.set_num_threads(threads)
    ta, tb = torch.from_numpy(a), torch.from_numpy(b)
    rates = {}
    for name, call in (("onnxruntime", lambda: session.run(None, {"a": a})), ("pytorch", lambda: ta @ tb)):
        call()
        best = min(_timed(call) for _ in range(repeats))
        rates[name] = 2 * size ** 3 / best / 1e9
    return rates


def _timed(call) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def live_updates(workdir: Path, threads: int) -> list[dict]:
    """The live recogniser's per-update cost for the embedded default model (live_latency.py)."""
    import subprocess

    out = workdir / "live.json"
    subprocess.run([sys.executable, str(ROOT / "benchmarks" / "live_latency.py"), "--models", "embedded",
                    "--threads", str(threads), "--workdir", str(workdir), "--json", str(out)],
                   check=True, capture_output=True, text=True)
    return json.loads(out.read_text())["rows"]


# ---- the runtimes ----------------------------------------------------------------------------------

def inference_runtimes(args, onnx_file: Path, checkpoint: Path) -> dict[str, tuple[str, str | None, str]]:
    """name -> (runtime kind, ONNX file, which FLOP count applies), the deploy graph (and with
    --int8 its int8 form, calibrated on random clips: for speed only) made beside the export."""
    from export.exporter import deploy_path, export_onnx

    deploy = deploy_path(onnx_file)
    if not deploy.is_file() or deploy.stat().st_mtime < onnx_file.stat().st_mtime:
        export_onnx(checkpoint, deploy, deploy=True)
    runtimes = {"published": ("published", None, "published"),
                "cocodiff pytorch": ("pytorch", None, "cocodiff"),
                "cocodiff pytorch, deploy form": ("pytorch-deploy", None, "cocodiff deploy"),
                "cocodiff onnxruntime, reference graph": ("onnxruntime", str(onnx_file), "cocodiff"),
                "cocodiff onnxruntime, deploy graph (served)": ("onnxruntime", str(deploy), "cocodiff deploy")}
    if args.int8:
        from export.quantize import int8_path, write_int8

        int8 = int8_path(onnx_file)
        if not int8.is_file() or int8.stat().st_mtime < deploy.stat().st_mtime:
            write_int8(deploy, int8, clips(64, seed=5))
        runtimes["cocodiff onnxruntime, int8 deploy graph"] = ("onnxruntime", str(int8), "cocodiff deploy")
    for item in args.onnx:
        name, _, path = item.partition("=")
        runtimes[f"cocodiff onnxruntime, {name}"] = ("onnxruntime", path, "cocodiff")
    return runtimes


# ---- the report --------------------------------------------------------------------------------------

def timing_rows(times: dict[str, list[float]]) -> list[dict]:
    reference = times["published"]
    rows = []
    for name, values in times.items():
        row = {"runtime": name, "median_ms": 1000 * statistics.median(values), "calls": len(values)}
        if name != "published":
            row.update(ratio_summary(reference, values))
        rows.append(row)
    return rows


def markdown(rows: list[dict], unit: str) -> str:
    lines = [f"| runtime | {unit} | vs published (median of paired ratios, 95% CI) | GFLOP/s |", "|---|---|---|---|"]
    for row in rows:
        ratio = "1 (reference)" if "ratio" not in row else \
            f"**{row['ratio']:.2f}x** [{row['ci95'][0]:.2f}, {row['ci95'][1]:.2f}]"
        lines.append(f"| {row['runtime']} | {row['value']:.1f} | {ratio} | {row.get('gflop_s', float('nan')):.0f} |")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reference", type=Path, default=DEFAULT_REFERENCE, help="the published code's folder")
    parser.add_argument("--parts", default="inference,training,live")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=30, help="paired rounds at batch 1 (a third at batch 16)")
    parser.add_argument("--train-rounds", type=int, default=8)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--pause", type=float, default=PAUSE_S, help=f"seconds between calls (default {PAUSE_S})")
    parser.add_argument("--int8", action="store_true", help="also time the deploy graph quantized to int8")
    parser.add_argument("--onnx", nargs="*", default=[], metavar="NAME=FILE",
                        help="more ONNX files of the same checkpoint to time in onnxruntime (e.g. a deploy graph)")
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "cocodiff_vs_published",
                        help="keeps the checkpoint and its ONNX export between runs")
    parser.add_argument("--json", type=Path)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if not (args.reference / "model" / "ctrgcn.py").is_file():
        print(f"skipped: the published CTR-GCN code is not at {args.reference} (it is kept in "
              f"../shared/reference/ctrgcn_published; pass --reference FOLDER)")
        return 0
    parts = set(args.parts.split(","))
    args.workdir.mkdir(parents=True, exist_ok=True)
    from benchmarks.synthetic_model import model_files

    checkpoint, onnx_file = model_files(args.workdir, "published")
    info = machine()
    print(f"# cocodiff vs the published CTR-GCN code: {info['cpu']}, {info['logical_cpus']} CPUs, torch "
          f"{info.get('torch')}, onnxruntime {info.get('onnxruntime')}, {args.threads} thread(s), load "
          f"{' '.join(f'{x:.2f}' for x in info['load_avg'])}")
    report: dict = {"machine": info, "threads": args.threads}
    runtimes = inference_runtimes(args, onnx_file, checkpoint)
    files = {name: path for name, (kind, path, _) in runtimes.items() if path}
    a = report["agreement"] = agreement(checkpoint, files, args.reference)
    print(f"agreement with the published model in float64: cocodiff float64 max |diff| {a['float64_max_abs']:.1e}")
    for name in files:
        print(f"  {name}: max |diff| {a[name]['max_abs']:.1e} ({a[name]['max_rel']:.1e} of the largest logit), "
              f"top-1 equal: {a[name]['top1_equal']}")
    flops = report["gflops_per_clip"] = gflops_per_clip(checkpoint, args.reference)
    rates = report["sgemm_gflop_s"] = sgemm_rate(args.threads)
    print(f"GFLOPs per 2-person 64-frame clip: published {flops['published']:.2f}, cocodiff {flops['cocodiff']:.2f}, "
          f"its deploy form {flops['cocodiff deploy']:.2f}; "
          f"fp32 sgemm 2048^3 at {args.threads} thread(s): onnxruntime {rates['onnxruntime']:.0f} GFLOP/s, "
          f"pytorch {rates['pytorch']:.0f} GFLOP/s")
    base = {"checkpoint": str(checkpoint), "reference": str(args.reference), "threads": args.threads,
            "warmup": args.warmup}
    if "inference" in parts:
        for batch in BATCHES:
            tasks = {name: {**base, "kind": "inference", "runtime": kind, "batch": batch, "onnx": path}
                     for name, (kind, path, _) in runtimes.items()}
            rows = timing_rows(paired_times(tasks, args.rounds if batch == 1 else max(3, args.rounds // 3), args.pause))
            for row in rows:
                row["gflop_s"] = flops[runtimes[row["runtime"]][2]] * batch / (row["median_ms"] / 1000)
                row["value"] = row["median_ms"]
            report[f"inference_batch{batch}"] = rows
            print(f"\ninference, batch {batch} ({batch} x 2 persons x 64 frames), ms per call:\n"
                  + markdown(rows, "ms"))
    if "training" in parts:
        tasks = {name: {**base, "kind": "training", "model": model, "precision": precision, "allocator": allocator}
                 for name, (model, precision, allocator) in TRAINING_ROWS.items()}
        rows = timing_rows(paired_times(tasks, args.train_rounds, args.pause))
        for row in rows:
            row["samples_s"] = row["value"] = TRAIN_BATCH / (row["median_ms"] / 1000)
            own = flops[TRAINING_ROWS[row["runtime"]][0]]
            row["gflop_s"] = 3 * own * TRAIN_BATCH / (row["median_ms"] / 1000)  # backward ~ 2x forward
        report["training_batch16"] = rows
        print(f"\ntraining step, batch {TRAIN_BATCH}, samples/s (GFLOP/s counts backward as 2x forward):\n"
              + markdown(rows, "samples/s"))
    if "live" in parts:
        report["live_embedded"] = live_updates(args.workdir, args.threads)
        print("\nlive recogniser, embedded default model, one stream predicting on every frame:")
        for row in report["live_embedded"]:
            print(f"  {row['backend']:12s} update {row['update_ms']:.2f} ms (p90 {row['update_p90_ms']:.2f}), "
                  f"model {row['model_ms']:.2f} ms")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
