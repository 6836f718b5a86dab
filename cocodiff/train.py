"""Train a recogniser.

    python -m cocodiff.train                                  # the embedded dataset, a few CPU minutes
    python -m cocodiff.train --config configs/NAME.yaml [key=value ...]
    python -m cocodiff.train optim.epochs=4 model.base_channels=8 name=quick
    python -m cocodiff.train --resume runs/embedded            # continue a run (killed or finished)
    python -m cocodiff.train --config configs/NAME.yaml --resume   # the run that config names
    torchrun --nproc_per_node 2 -m cocodiff.train [...]        # several processes / GPUs / nodes

Settings come from the typed config in `cocodiff.config`: its defaults (the embedded CPU recipe,
also written out in configs/embedded.yaml), then the --config file, then `key=value` overrides
with dotted keys (`optim.lr=0.05`). Unknown keys are refused with the list of valid ones.

The run directory (out_dir/name) receives config.yaml (the resolved config), metrics.jsonl (one
line per epoch), TensorBoard events in tb/, last.pt (every epoch, and every `save_every_steps`
steps) and best.pt (best val top-1), all written atomically. `--resume` continues from last.pt
where it stopped, mid-epoch included, with the same result as an uninterrupted run.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path
from typing import Any, Sequence

from cocodiff.cli import run_cli
from cocodiff.config import TrainConfig, config_to_dict, load_config, save_config
from cocodiff.errors import CocodiffError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m cocodiff.train", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, default=None, help="a YAML config file (see configs/)")
    parser.add_argument("--resume", nargs="?", const=True, default=None, metavar="RUN_DIR",
                        help="continue the run in RUN_DIR, or without RUN_DIR the run the config names")
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides, e.g. optim.lr=0.05")
    return parser


def resolve(args: argparse.Namespace) -> tuple[TrainConfig, Path, dict[str, Any] | None]:
    """The config, the run directory and (with --resume) the checkpoint to continue from."""
    if isinstance(args.resume, str) and "=" in args.resume and not Path(args.resume).is_dir():
        args.overrides.insert(0, args.resume)  # `--resume key=value`: the flag, then an override
        args.resume = True
    if isinstance(args.resume, str):
        if args.config is not None:
            raise CocodiffError("--resume RUN_DIR continues with the run's own config: leave out --config "
                                "(key=value overrides still apply)")
        run_dir = Path(args.resume)
        if not run_dir.is_dir():
            raise CocodiffError(f"{run_dir}: no such run directory to resume")
        checkpoint = _last_checkpoint(run_dir)
        return load_config(overrides=args.overrides, base=checkpoint["config"]), run_dir, checkpoint
    config = load_config(args.config, args.overrides)
    run_dir = config.run_dir
    if args.resume:
        return config, run_dir, _last_checkpoint(run_dir)
    if (run_dir / "last.pt").exists():
        raise CocodiffError(f"{run_dir} already holds a run: add --resume to continue it, or name=OTHER to start "
                            "another")
    return config, run_dir, None


def _last_checkpoint(run_dir: Path) -> dict[str, Any]:
    from cocodiff.checkpoint import load_checkpoint  # imports torch: only where needed

    path = run_dir / "last.pt"
    if not path.exists():
        raise CocodiffError(f"nothing to resume: {path} does not exist (start the run without --resume)")
    checkpoint = load_checkpoint(path)
    if not isinstance(checkpoint.get("config"), dict) or not checkpoint["config"]:
        raise CocodiffError(f"{path}: carries no training config, cannot resume from it")
    return checkpoint


def changed_settings(old: dict[str, Any], new: dict[str, Any], prefix: str = "") -> list[str]:
    changes = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            changes += changed_settings(a, b, f"{prefix}{key}.")
        elif a != b:
            changes.append(f"{prefix}{key} {a!r} -> {b!r}")
    return changes


def next_commands(config: TrainConfig, run_dir: Path, best: Path) -> list[str]:
    data = config.data.dataset
    return [
        f"python -m cocodiff.evaluate {shlex.quote(str(best))} --data {shlex.quote(data)} "
        f"--split {shlex.quote(config.data.val_split)}",
        f"python -m serve.replay {shlex.quote(str(best))} --data {shlex.quote(data)} "
        f"--split {shlex.quote(config.data.val_split)} --index 0   # one clip through the live recogniser",
        f"python -m demo --model {shlex.quote(str(best))}   # live from a webcam, in the browser "
        "(pip install -e '.[demo]')",
        f"tensorboard --logdir {shlex.quote(str(run_dir / 'tb'))}",
        f"python -m cocodiff.train --resume {shlex.quote(str(run_dir))} optim.epochs={config.optim.epochs * 2}"
        "   # to train longer",
    ]


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_intermixed_args(argv)
    config, run_dir, checkpoint = resolve(args)

    from cocodiff.data.dataset import load_data
    from cocodiff.device import configure_threads
    from cocodiff.training.distributed import init_distributed, shutdown
    from cocodiff.training.loop import Trainer, make_progress
    from cocodiff.training.memory import keep_freed_memory

    keep_freed_memory()  # about 30% faster fp32 steps on CPU (docs/benchmarks.md)
    threads = configure_threads(config.threads)
    info, device = init_distributed(config.device)
    try:
        data = load_data(config.data)
        trainer = Trainer(config, data, run_dir, info, device)
        if checkpoint is not None:
            trainer.load_train_state(checkpoint, str(run_dir / "last.pt"))
            changes = changed_settings(checkpoint["config"], config_to_dict(config))
            if changes and info.is_main:
                print(f"note: resuming with changed settings: {'; '.join(changes)}", file=sys.stderr)
        if info.is_main:
            run_dir.mkdir(parents=True, exist_ok=True)
            save_config(config, run_dir / "config.yaml")
            print(_header(config, data, run_dir, info, device, trainer, threads))
        result = trainer.fit(make_progress(info.is_main))
    finally:
        shutdown(info)
    if not info.is_main:
        return 0
    if result.stopped:
        print(f"stopped after step {result.steps} (stop_after_steps={config.stop_after_steps}); continue with:\n"
              f"  python -m cocodiff.train --resume {shlex.quote(str(run_dir))} stop_after_steps=0")
        return 0
    _footer(config, run_dir, result)
    return 0


def _header(config: TrainConfig, data, run_dir: Path, info, device, trainer, threads: int) -> str:
    p = trainer.position
    where = f"resuming at epoch {p.epoch + 1}, batch {p.batch + 1}" if p.step else "starting"
    if p.epoch >= config.optim.epochs:
        where = f"already finished {p.epoch} epochs: nothing left to train"
    processes = f", {info.world_size} processes" if info.enabled else ""
    return (f"{config.model.backbone} (base {config.model.base_channels}) on {data.dataset}: {len(data.train)} train / "
            f"{len(data.val)} val clips, {len(data.classes)} classes, layout {data.layout.name}, "
            f"{config.data.modality}, window {config.data.window}; {device}{processes}, {threads} thread(s), "
            f"{config.precision}, "
            f"{config.optim.epochs} epochs of {trainer.steps_per_epoch} steps; {where}\n"
            f"{_auxiliary_line(config, data.dataset)}\n"
            + "".join(f"note: {note}\n" for note in data.notes) + f"run directory: {run_dir}")


def _auxiliary_line(config: TrainConfig, dataset: str) -> str:
    method = config.method
    if not method.enabled:
        return "CoCoDiff auxiliary: off (method.enabled=true to train with it)"
    if method.text == "none":
        text = "no text"
    else:
        from cocodiff.method.text.corpus import CORPORA_DIR, SHIPPED

        corpus = method.text_file or (f"shipped {CORPORA_DIR.name}/{SHIPPED[dataset]}" if dataset in SHIPPED
                                      else "none shipped for this dataset")
        text = f"{method.text} text from {corpus}, encoder {method.encoder}"
    return (f"CoCoDiff auxiliary: on ({text}; latent {method.latent}, t < {method.t_max} of {method.num_steps}, "
            f"denoiser width {method.width} x {method.depth}); training only, not exported")


def _footer(config: TrainConfig, run_dir: Path, result) -> None:
    best = run_dir / "best.pt"
    if result.last_val is not None:
        print(f"val accuracy ({config.data.val_split}): top-1 {result.last_val['val_top1']:.1f}%, "
              f"top-5 {result.last_val['val_top5']:.1f}% after {result.epochs} epochs; best top-1 "
              f"{result.best_top1:.1f}% at epoch {result.best_epoch}")
    print(f"checkpoint: {best} (best val top-1); {run_dir / 'last.pt'} (last epoch, for --resume)")
    print("next:")
    for command in next_commands(config, run_dir, best):
        print(f"  {command}")


if __name__ == "__main__":
    sys.exit(run_cli(main))
