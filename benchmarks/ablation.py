"""The CoCoDiff ablation: every row of docs/results.md, several seeds, one recipe per dataset.

    python benchmarks/ablation.py run --jobs 2 --seeds 0 1 2          # resumable: skips finished runs
    python benchmarks/ablation.py report                              # the markdown tables

Each run is `python -m cocodiff.train` with the row's overrides, one thread per job (2 jobs on
2 cores). A finished run's result (last-epoch and best-epoch top-1, time) is appended to
`results.jsonl` in the output folder as soon as it ends, so an interrupted ablation loses at most
the runs in flight; `run` again picks up where it stopped (unfinished runs resume from last.pt).
Runs go seed by seed, so a partial ablation still has every row.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

UCLA = "configs/ucla_joint_cpu.yaml"
EMBEDDED = "configs/embedded.yaml"
# Issue 4's rows measured the first design of the auxiliary; these switches keep them that design
# now that the defaults follow issue 14's redesign (benchmarks/ablation_protocol.py).
COCODIFF = ["method.enabled=true", "method.generator=one_step", "method.standardise=global", "method.skip=false",
            "method.warmup_epochs=0", "method.semantic=generated", "method.soft_targets=false"]
OFF = ["method.enabled=false"]
# (table, row label, config, overrides)
ROWS = [
    ("ucla", "CTR-GCN baseline", UCLA, OFF),
    ("ucla", "+ diffusion, no text", UCLA, COCODIFF + ["method.text=none"]),
    ("ucla", "+ coarse text", UCLA, COCODIFF + ["method.text=coarse"]),
    ("ucla", "+ fine text", UCLA, COCODIFF + ["method.text=fine"]),
    ("ucla", "+ coarse and fine (CoCoDiff)", UCLA, COCODIFF + ["method.text=both"]),
    ("ucla", "ST-GCN baseline", UCLA, OFF + ["model.backbone=stgcn"]),
    ("ucla", "ST-GCN + CoCoDiff", UCLA, ["model.backbone=stgcn"] + COCODIFF),
    ("embedded", "CTR-GCN baseline", EMBEDDED, OFF),
    ("embedded", "CTR-GCN + CoCoDiff", EMBEDDED, COCODIFF),
    # Investigation around the full model (coarse and fine text) on NW-UCLA: one knob at a time.
    ("ucla_tuning", "t_max 100", UCLA, COCODIFF + ["method.t_max=100"]),
    ("ucla_tuning", "t_max 800", UCLA, COCODIFF + ["method.t_max=800"]),
    ("ucla_tuning", "loss_gen 0.1, loss_sem 0.1", UCLA, COCODIFF + ["method.loss_gen=0.1", "method.loss_sem=0.1"]),
    ("ucla_tuning", "no gradient to the backbone", UCLA, COCODIFF + ["method.grad_to_backbone=false"]),
    ("ucla_tuning", "pooled latent", UCLA, COCODIFF + ["method.latent=pooled"]),
]


def run_name(table: str, label: str, seed: int) -> str:
    slug = "".join(ch if ch.isalnum() else "_" for ch in label.lower()).strip("_")
    while "__" in slug:
        slug = slug.replace("__", "_")
    return f"{table}_{slug}_s{seed}"


def finished(results: Path) -> set[str]:
    if not results.exists():
        return set()
    return {json.loads(line)["run"] for line in results.read_text().splitlines() if line.strip()}


def train_one(out: Path, table: str, label: str, config: str, overrides: list[str], seed: int,
              extra: list[str]) -> dict | None:
    name = run_name(table, label, seed)
    run_dir = out / "runs" / name
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    if (run_dir / "last.pt").exists():
        command = [sys.executable, "-m", "cocodiff.train", "--resume", str(run_dir)]
    else:
        command = [sys.executable, "-m", "cocodiff.train", "--config", config, f"seed={seed}", f"name={name}",
                   f"out_dir={out / 'runs'}", "threads=1", *overrides, *extra]
    start = time.time()
    with open(out / "logs" / f"{name}.log", "a") as log:
        code = subprocess.call(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    if code != 0:
        print(f"FAILED {name} (exit {code}); see {out / 'logs' / (name + '.log')}", flush=True)
        return None
    history = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line.strip()]
    evaluated = [h for h in history if "val_top1" in h]
    return {"run": name, "table": table, "row": label, "seed": seed, "overrides": overrides,
            "last_top1": evaluated[-1]["val_top1"], "best_top1": max(h["val_top1"] for h in evaluated),
            "epochs": history[-1]["epoch"], "minutes": round((time.time() - start) / 60, 2),
            "train_s_per_epoch": round(statistics.mean(h["epoch_time_s"] for h in history), 2)}


def run(args: argparse.Namespace) -> None:
    out = Path(args.out)
    (out / "logs").mkdir(parents=True, exist_ok=True)
    results = out / "results.jsonl"
    done = finished(results)
    jobs = [(table, label, config, overrides, seed) for seed in args.seeds
            for table, label, config, overrides in ROWS
            if (not args.tables or table in args.tables) and run_name(table, label, seed) not in done]
    run_and_record(jobs, lambda job: train_one(out, *job, args.extra), results, args.jobs,
                   lambda r: f"last {r['last_top1']:.1f} best {r['best_top1']:.1f}")


def run_and_record(jobs: list, train, results: Path, workers: int, summary) -> None:
    """`train(job)` for every job, `workers` at a time; each finished run's record (a dict, None
    when it failed) is appended to `results` as one JSON line at once, and `summary(record)` printed."""
    print(f"{len(jobs)} run(s) to go, {workers} at a time", flush=True)

    def one(job):
        result = train(job)
        if result:
            with open(results, "a") as handle:
                handle.write(json.dumps(result) + "\n")
            print(f"{result['run']}: {summary(result)} ({result['minutes']:.1f} min)", flush=True)

    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(one, jobs))


def report(args: argparse.Namespace) -> None:
    """Markdown tables: mean ± std of the last epoch's top-1 over seeds, then each seed's value.
    Runs recorded without a best epoch or a duration (a "source" note says why) count in the
    last-epoch column only, and their per-seed value is starred."""
    results = [json.loads(line) for line in Path(args.out, "results.jsonl").read_text().splitlines() if line.strip()]

    def spread(xs: list[float]) -> str:
        if not xs:
            return "-"
        return f"{statistics.mean(xs):.1f} ± {statistics.stdev(xs):.1f}" if len(xs) > 1 else f"{xs[0]:.1f}"

    for table in dict.fromkeys(r["table"] for r in results):
        print(f"\n{table}\n\n| row | top-1, last epoch | per seed | best epoch | seeds | min/run |\n"
              "|---|---|---|---|---|---|")
        for _, label, _, _ in (row for row in ROWS if row[0] == table):
            rows = sorted((r for r in results if r["table"] == table and r["row"] == label), key=lambda r: r["seed"])
            if not rows:
                continue
            per_seed = ", ".join(f"{r['last_top1']:.1f}{'*' if r.get('source') else ''}" for r in rows)
            best = [r["best_top1"] for r in rows if r.get("best_top1") is not None]
            minutes = [r["minutes"] for r in rows if r.get("minutes") is not None]
            print(f"| {label} | {spread([r['last_top1'] for r in rows])} | {per_seed} | {spread(best)} | "
                  f"{','.join(str(r['seed']) for r in rows)} | "
                  f"{f'{statistics.mean(minutes):.1f}' if minutes else '-'} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=("run", "report"))
    parser.add_argument("--out", default="runs/ablation", help="folder for runs, logs and results.jsonl")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--tables", nargs="*", default=[], help="only these tables (ucla, embedded)")
    parser.add_argument("--extra", nargs="*", default=[], help="overrides added to every run")
    args = parser.parse_args()
    run(args) if args.command == "run" else report(args)


if __name__ == "__main__":
    main()
