"""Upgrade a checkpoint saved before the deployment contract (format 1) to the current format.

    python -m cocodiff.upgrade runs/old/best.pt                        # in place; the old file kept as best.format1.pt
    python -m cocodiff.upgrade best.pt --out best.v2.pt --fps 30 --clip-seconds 2.5

Format 1 recorded part of the contract in its `meta`; `cocodiff.contract.upgrade_format1`
states the rule for the rest. Two facts were never recorded: the training clips' frame rate and
their median duration. By default they are measured on the checkpoint's own training data (its
saved config names it; the embedded dataset is always at hand), or they are given with `--fps`
and `--clip-seconds`. Weights, config and training state are copied unchanged, so an upgraded
`last.pt` still resumes.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Sequence

from cocodiff.atomic import atomic_write_bytes
from cocodiff.checkpoint import CHECKPOINT_FORMAT, read_checkpoint_file, save_checkpoint
from cocodiff.cli import run_cli
from cocodiff.contract import upgrade_format1
from cocodiff.errors import CocodiffError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m cocodiff.upgrade", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint", type=Path, help="a format-1 checkpoint")
    parser.add_argument("--out", type=Path, help="where to write it (default: in place, keeping NAME.format1.pt)")
    parser.add_argument("--fps", type=float, help="the training clips' frame rate (default: measured on its data)")
    parser.add_argument("--clip-seconds", type=float,
                        help="the training clips' median duration in seconds (default: measured on its data)")
    return parser


def measured_timing(content: dict[str, Any], source: Path) -> tuple[float, float]:
    """(fps, median clip seconds) of the training data the checkpoint's config names."""
    from cocodiff.config import load_config
    from cocodiff.data.dataset import load_data

    config = content.get("config") or {}
    if not config:
        raise CocodiffError(f"{source}: carries no training config to find its data; pass --fps and --clip-seconds")
    data = load_data(load_config(base=config).data)
    return data.fps, data.clip_seconds


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    for name in ("fps", "clip_seconds"):
        value = getattr(args, name)
        if value is not None and not value > 0:
            raise CocodiffError(f"--{name.replace('_', '-')} must be positive, got {value}")
    content = read_checkpoint_file(args.checkpoint)
    if content["format"] == CHECKPOINT_FORMAT:
        print(f"{args.checkpoint} is already format {CHECKPOINT_FORMAT}: nothing to do")
        return 0
    if content["format"] != 1 or not isinstance(content.get("meta"), dict):
        raise CocodiffError(f"{args.checkpoint}: checkpoint format {content['format']!r}, not one this command upgrades")
    meta = content["meta"]
    fps, clip_seconds = args.fps, args.clip_seconds
    if fps is None or clip_seconds is None:
        measured_fps, measured_seconds = measured_timing(content, args.checkpoint)
        fps = fps if fps is not None else measured_fps
        clip_seconds = clip_seconds if clip_seconds is not None else measured_seconds
    trained_with = str(meta.get("cocodiff_version") or "unknown")
    contract = upgrade_format1(meta, fps=fps, clip_seconds=round(clip_seconds, 4), source=str(args.checkpoint),
                               versions={"cocodiff": trained_with})
    out = args.out or args.checkpoint
    if out.resolve() == args.checkpoint.resolve():
        kept = args.checkpoint.with_name(f"{args.checkpoint.stem}.format1{args.checkpoint.suffix}")
        atomic_write_bytes(kept, args.checkpoint.read_bytes())
        print(f"kept the original as {kept}")
    save_checkpoint(out, model=content["model"], contract=contract, config=content.get("config") or {},
                    auxiliary=content.get("auxiliary") or {}, train_state=content.get("train_state") or {})
    print(f"wrote {out} (format {CHECKPOINT_FORMAT}): {contract.describe()}")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
