"""Issue 14's protocol: CoCoDiff arms on NW-UCLA folds, many seeds, full records, tests.

    python -m cocodiff.data.prepare ucla ../shared/data/nw_ucla/all_sqe --out data/ucla.pkl
    python benchmarks/ablation_protocol.py run --data data/ucla.pkl --arms sampled gaussian --seeds 0 1 2 3
    python benchmarks/ablation_protocol.py report          # every arm against the baseline

The development fold (`--fold dev`, the default) trains on view 1 and validates on view 2: it
never touches view 3, NW-UCLA's test view, so arms are screened and tuned there. The standard
fold (`--fold standard`) is for one declared comparison. Each run is `python -m cocodiff.train` with the arm's
overrides, one thread, `--jobs` at a time. As soon as a run ends, one JSON line goes to
`--results` (committed as results come in): the commit, the command, per-epoch train and
validation top-1, the auxiliary's loss terms per epoch, last-epoch top-1, the mean of the last
3 epochs (the lower-noise metric, chosen on the baseline's SD alone), and the last epoch's
per-clip logits are kept beside it (`<results stem>_logits/<run>.npz`) for paired tests.
Finished runs are skipped; an interrupted one resumes from its last.pt.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import NamedTuple

import numpy as np

from ablation import COCODIFF as ISSUE4_COCODIFF  # noqa: E402  (a sibling script)
from ablation import OFF, run_and_record  # noqa: E402

from cocodiff.checkpoint import load_checkpoint
from cocodiff.training.significance import bootstrap_interval, holm, mcnemar, paired, variance_ratio, welch

UCLA = "configs/ucla_joint_cpu.yaml"
DEV = ["data.train_split=view1", "data.val_split=view2"]


class Fold(NamedTuple):
    prefix: str  # of the run names
    table: str  # the records' "table": what report groups by
    overrides: list[str]
    config: str = UCLA
    dataset: str = ""  # "": the --data file
    real_people_map: str = ""  # a class map: with --real-people FILE, each model is also measured there


# "standard" (views 1+2 -> view 3) is NW-UCLA's test protocol: run it once, for the comparison
# declared in docs/results.md, never to tune. The regimes ask where feature-space diversity pays:
# with a quarter of the training clips, or with the published width and a longer schedule (for a
# GPU: about 16x a CPU run's compute). "embedded" is the main job (`python -m cocodiff.train`'s
# own recipe, its synthetic validation split), for the decision on the default.
FOLDS = {"dev": Fold("dev_v1_to_v2", "ucla_dev_view1_to_view2", DEV),
         "dev_quarter": Fold("dev_v1_to_v2_quarter", "ucla_dev_view1_to_view2_quarter",
                             DEV + ["data.train_fraction=0.25"]),
         "dev_budget": Fold("dev_v1_to_v2_budget", "ucla_dev_view1_to_view2_budget",
                            DEV + ["model.base_channels=64", "optim.epochs=60", "optim.milestones=[40,50]",
                                   "optim.warmup_epochs=5"]),
         "standard": Fold("std_v12_to_v3", "ucla_xview", ["data.train_split=xview_train", "data.val_split=xview_val"]),
         # UTD-MHAD cross-subject (odd subjects train, even test), with the configuration frozen on
         # NW-UCLA: --data is a `prepare utd` file; nothing is tuned on it.
         "utd_xsub": Fold("utd_xsub", "utd_xsub", ["data.train_split=xsub_train", "data.val_split=xsub_val"]),
         # The embedded models are also measured on real people (issue 11's yardstick: UTD-MHAD's
         # 382 clips of the twelve actions shared with the embedded classes).
         "embedded": Fold("embedded", "embedded", [], "configs/embedded.yaml", dataset="embedded",
                          real_people_map="configs/class_maps/utd_mhad_to_embedded.txt")}
# Every arm names what it relies on (OFF, or ON with where L_sem acts), so that no record changes
# meaning when a default does.
ON = ["method.enabled=true"]
FIRST_DESIGN = ISSUE4_COCODIFF  # one-step estimate, one RMS, no skip path, no warm-up
GENERATED = ["method.semantic=generated", "method.soft_targets=false"]  # L_sem as the first design had it
REAL_SOFT = ["method.semantic=real", "method.soft_targets=true"]
FAR = ["method.t_max=1000"]  # sampling may start from pure noise: class-conditional generation
# arm name -> (row label, overrides). "baseline" is the backbone alone. The controls' noise_drift
# is the drift the matching sampled arm logged (its mean train_drift over epochs 3 to 20).
ARMS = {
    "baseline": ("CTR-GCN baseline", OFF),
    # issue 15: does bf16 autocast train as well as fp32? (the backbone alone, side by side)
    "baseline_bf16": ("CTR-GCN baseline, bf16 autocast", OFF + ["precision=bf16"]),
    "first_design": ("first design (one-step estimate, gradient through the denoiser)", FIRST_DESIGN),
    "sampled": ("sampled generator, L_sem on generated features", ON + GENERATED),
    "sampled_real_soft": ("sampled generator, L_sem on real features, soft targets", ON + REAL_SOFT),
    "real_soft_text_only": ("L_sem on real features, soft targets; no L_gen (the text alone)",
                            ON + REAL_SOFT + ["method.loss_gen=0"]),
    "gaussian_near": ("Gaussian noise at sampled_real_soft's drift, L_sem on real features, soft targets (control)",
                      ON + REAL_SOFT + ["method.generator=gaussian", "method.noise_drift=0.048"]),
    "shuffled_real_soft": ("sampled_real_soft with shuffled text (control)",
                           ON + REAL_SOFT + ["method.text_shuffle=true"]),
    "sampled_far": ("sampled generator from up to t = 1000, L_sem on real features, soft targets",
                    ON + REAL_SOFT + FAR),
    "gaussian_far": ("Gaussian noise at sampled_far's drift, L_sem on real features, soft targets (control)",
                     ON + REAL_SOFT + ["method.generator=gaussian", "method.noise_drift=0.155"]),
    "sampled_no_sem": ("sampled generator, no L_sem", ON + GENERATED + ["method.loss_sem=0"]),
    "gaussian": ("Gaussian feature noise (control)", ON + GENERATED + ["method.generator=gaussian", "method.loss_sem=0"]),
    "class_covariance": ("class-covariance noise, ISDA-style (control)",
                         ON + GENERATED + ["method.generator=class_covariance", "method.loss_sem=0"]),
    "label": ("learned label embedding instead of text (control)", ON + GENERATED + ["method.text=label"]),
    "shuffled": ("shuffled text (control)", ON + GENERATED + ["method.text_shuffle=true"]),
}


def run_name(arm: str, seed: int, fold: str = "dev") -> str:
    return f"{FOLDS[fold].prefix}_{arm}_s{seed}"


def read_records(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def commit(results: Path) -> str:
    """HEAD's hash, "+uncommitted" when tracked files differ from it (the records file itself,
    which every finished run appends to, does not count)."""
    result = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True)
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ".",
                            f":(exclude){results}"], capture_output=True, text=True)
    return result.stdout.strip() + ("+uncommitted" if dirty.stdout.strip() else "")


def record(run_dir: Path, arm: str, seed: int, fold: str, command: list[str], minutes: float,
           results: Path) -> dict:
    history = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line.strip()]
    epochs = [h for h in history if "val_top1" in h and "epoch" in h]
    val = [round(h["val_top1"], 2) for h in epochs]
    terms = {name: [round(h[f"train_{name}"], 4) for h in epochs] for name in ("ce", "diff", "gen", "sem", "drift")
             if f"train_{name}" in epochs[-1]}
    method = load_checkpoint(run_dir / "last.pt")["config"]["method"]  # resolved: defaults may change later
    return {"run": run_name(arm, seed, fold), "table": FOLDS[fold].table, "arm": arm, "row": ARMS[arm][0], "seed": seed,
            "commit": commit(results), "command": " ".join(command), "overrides": ARMS[arm][1], "method": method,
            "last_top1": round(val[-1], 3), "mean_last3_top1": round(statistics.mean(val[-3:]), 3),
            "best_top1": max(val), "last_train_top1": round(epochs[-1]["train_top1"], 3),
            "val_top1_by_epoch": val, "train_top1_by_epoch": [round(h["train_top1"], 2) for h in epochs],
            "auxiliary_terms_by_epoch": terms, "minutes": round(minutes, 2)}


def train_one(args: argparse.Namespace, arm: str, seed: int) -> dict | None:
    out = Path(args.out)
    name = run_name(arm, seed, args.fold)
    run_dir = out / "runs" / name
    fold = FOLDS[args.fold]
    command = ["python", "-m", "cocodiff.train", "--config", fold.config, f"data.dataset={fold.dataset or args.data}", *fold.overrides,
               f"seed={seed}", "threads=1", *ARMS[arm][1], *args.extra]
    launch = [sys.executable, *command[1:], f"name={name}", f"out_dir={out / 'runs'}"]
    if (run_dir / "last.pt").exists():
        launch = [sys.executable, "-m", "cocodiff.train", "--resume", str(run_dir)]
    start = time.time()
    with open(out / "logs" / f"{name}.log", "a") as log:
        code = subprocess.call(launch, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "OMP_NUM_THREADS": "1"})
    if code != 0:
        print(f"FAILED {name} (exit {code}); see {out / 'logs' / (name + '.log')}", flush=True)
        return None
    result = record(run_dir, arm, seed, args.fold, command, (time.time() - start) / 60, Path(args.results))
    if fold.real_people_map and args.real_people:
        result["real_people_top1"] = real_people_top1(run_dir / "best.pt", args.real_people, fold.real_people_map,
                                                      out / "logs" / f"{name}.log")
    logits = Path(args.results).with_name(Path(args.results).stem + "_logits")
    logits.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(run_dir / "val_logits.npz", logits / f"{name}.npz")
    return result


def real_people_top1(checkpoint: Path, data: str, class_map: str, log: Path) -> float | None:
    """Top-1 of a model on the real clips of `data` whose classes `class_map` maps to its own."""
    out = checkpoint.parent / "eval_real_people"
    with open(log, "a") as handle:
        code = subprocess.call([sys.executable, "-m", "cocodiff.evaluate", str(checkpoint), "--data", data,
                                "--split", "all", "--class-map", class_map, "--threads", "1", "--out", str(out)],
                               stdout=handle, stderr=subprocess.STDOUT)
    return round(json.loads((out / "metrics.json").read_text())["top1"], 3) if code == 0 else None


def run(args: argparse.Namespace) -> None:
    unknown = [arm for arm in args.arms if arm not in ARMS]
    if unknown:
        sys.exit(f"unknown arm(s) {', '.join(unknown)}; known: {', '.join(ARMS)}")
    (Path(args.out) / "logs").mkdir(parents=True, exist_ok=True)
    results = Path(args.results)
    done = {r["run"] for r in read_records(results)}
    jobs = [(arm, seed) for seed in args.seeds for arm in args.arms if run_name(arm, seed, args.fold) not in done]
    run_and_record(jobs, lambda job: train_one(args, *job), results, args.jobs,
                   lambda r: f"last {r['last_top1']:.1f} mean-last-3 {r['mean_last3_top1']:.1f}")


def paired_mcnemar(logits_dir: Path, arm: str, base: str, seeds: list[int], fold: str) -> float | None:
    """McNemar on the last epoch's clip-level correctness, pooled over the seeds both arms ran."""
    a, b = [], []
    for seed in seeds:
        paths = [logits_dir / f"{run_name(name, seed, fold)}.npz" for name in (base, arm)]
        if not all(path.exists() for path in paths):
            continue
        for values, path in zip((a, b), paths):
            with np.load(path) as saved:
                values.extend(saved["logits"].argmax(1) == saved["labels"])
    return mcnemar(a, b).p_value if a else None


def report(args: argparse.Namespace) -> None:
    """A markdown table: each arm's mean ± SD, its difference from the reference arm (`--against`,
    the baseline by default) with Welch's p (Holm-adjusted over the arms shown), a 95% bootstrap
    interval, a variance-ratio p, the paired t-test's p over the seeds both arms ran (seed s is the
    same initialisation and batch order in every arm), and McNemar's p on clip-level correctness
    where both arms' logits were kept."""
    records = [r for r in read_records(Path(args.results)) if r["table"] == FOLDS[args.fold].table]
    logits_dir = Path(args.results).with_name(Path(args.results).stem + "_logits")
    metric, reference = args.metric, args.against
    by_arm: dict[str, list[dict]] = {}
    for r in records:
        by_arm.setdefault(r.get("arm", "baseline"), []).append(r)
    base = [r[metric] for r in by_arm.get(reference, [])]
    arms = [arm for arm in ARMS if arm != reference and len(by_arm.get(arm, [])) >= 2
            and (not args.arms_shown or arm in args.arms_shown)]
    tests = {arm: welch(base, [r[metric] for r in by_arm[arm]]) for arm in arms} if len(base) >= 2 else {}
    adjusted = dict(zip(tests, holm([t.p_value for t in tests.values()]))) if tests else {}
    print(f"metric: {metric}; differences against: {ARMS[reference][0]}\n\n"
          "| arm | seeds | mean ± SD | train top-1 | drift | difference [95% CI] | Welch p (Holm) | "
          "variance p | paired p | McNemar p |\n|---|---|---|---|---|---|---|---|---|---|")
    for arm in [reference, *arms]:
        rows = sorted(by_arm.get(arm, []), key=lambda r: r["seed"])
        if not rows:
            continue
        values = [r[metric] for r in rows]
        train = statistics.mean(r["last_train_top1"] for r in rows)
        drifts = [statistics.mean(r["auxiliary_terms_by_epoch"]["drift"][2:]) for r in rows
                  if "drift" in r.get("auxiliary_terms_by_epoch", {})]
        drift = f"{statistics.mean(drifts):.3f}" if drifts else "-"
        spread = f" ± {statistics.stdev(values):.2f}" if len(values) > 1 else ""
        line = f"| {ARMS[arm][0]} | {len(rows)} | {statistics.mean(values):.2f}{spread} | {train:.1f} | {drift} |"
        if arm not in tests:
            print(line + " | | | | |")
            continue
        low, high = bootstrap_interval(base, values)
        variance = variance_ratio(base, values).p_value
        base_by_seed = {r["seed"]: r[metric] for r in by_arm[reference]}
        shared = [r for r in rows if r["seed"] in base_by_seed]
        seed_pairs = (paired([base_by_seed[r["seed"]] for r in shared], [r[metric] for r in shared]).p_value
                      if len(shared) >= 2 else None)
        clips = paired_mcnemar(logits_dir, arm, reference, [r["seed"] for r in rows], args.fold)
        print(f"{line} {tests[arm].difference:+.2f} [{low:+.2f}, {high:+.2f}] | {tests[arm].p_value:.3f} "
              f"({adjusted[arm]:.3f}) | {variance:.3f} | {'-' if seed_pairs is None else f'{seed_pairs:.3f}'} | "
              f"{'-' if clips is None else f'{clips:.3f}'} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=("run", "report"))
    parser.add_argument("--data", default="data/ucla.pkl", help="the prepared NW-UCLA file (with per-view splits)")
    parser.add_argument("--fold", default="dev", choices=list(FOLDS))
    parser.add_argument("--arms", nargs="+", default=["baseline", "sampled"], choices=list(ARMS))
    parser.add_argument("--seeds", type=int, nargs="+", default=list(range(10)))
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--out", default="runs/ablation_dev", help="folder for runs and logs")
    parser.add_argument("--results", default="docs/ablation_dev_results.jsonl")
    parser.add_argument("--against", default="baseline", choices=list(ARMS), help="report: the reference arm")
    parser.add_argument("--arms-shown", nargs="*", default=[], help="report: only these arms (and the reference)")
    parser.add_argument("--metric", default="mean_last3_top1", choices=("mean_last3_top1", "last_top1", "real_people_top1"))
    parser.add_argument("--real-people", default="", help="folds with a real-people class map (embedded): a `prepare utd` file to measure on")
    parser.add_argument("--extra", nargs="*", default=[], help="overrides added to every run")
    args = parser.parse_args()
    run(args) if args.command == "run" else report(args)


if __name__ == "__main__":
    main()
