"""Convert raw skeleton datasets into the common annotation format.

    python -m cocodiff.data.prepare ntu      SKELETON_DIR --benchmark ntu60 --out ntu60.pkl
    python -m cocodiff.data.prepare ucla     ALL_SQE_DIR  --out ucla.pkl
    python -m cocodiff.data.prepare utd      UTD_MHAD_DIR --out utd.pkl
    python -m cocodiff.data.prepare kinetics --val-dir DIR --val-labels JSON --out k.pkl
    python -m cocodiff.data.prepare embedded --out embedded.pkl

A file that cannot be read is reported (file and reason) and skipped; the summary at the end
counts what was converted, skipped and failed. The output is written atomically.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path
from typing import Sequence

from cocodiff.cli import run_cli
from cocodiff.data.annotations import Annotations, save_annotations
from cocodiff.data.convert import ConversionReport
from cocodiff.errors import CocodiffError


def _ntu(args: argparse.Namespace, report: ConversionReport) -> Annotations:
    from cocodiff.data.readers.ntu import ntu_annotations

    return ntu_annotations(args.folder, args.benchmark, report, missing_list=args.missing, workers=args.workers)


def _ucla(args: argparse.Namespace, report: ConversionReport) -> Annotations:
    from cocodiff.data.readers.ucla import ucla_annotations

    return ucla_annotations(args.folder, report)


def _utd(args: argparse.Namespace, report: ConversionReport) -> Annotations:
    from cocodiff.data.readers.utd import utd_annotations

    return utd_annotations(args.folder, report)


def _kinetics(args: argparse.Namespace, report: ConversionReport) -> Annotations:
    from cocodiff.data.readers.kinetics import kinetics_annotations

    parts = {}
    for split in ("train", "val"):
        folder, labels = getattr(args, f"{split}_dir"), getattr(args, f"{split}_labels")
        if (folder is None) != (labels is None):
            raise CocodiffError(f"--{split}-dir and --{split}-labels go together: give both or neither")
        if folder is not None:
            parts[split] = (folder, labels)
    if not parts:
        raise CocodiffError("give at least one of --train-dir/--train-labels and --val-dir/--val-labels")
    return kinetics_annotations(parts, report, max_persons=args.max_persons, workers=args.workers,
                                class_names=args.class_names)


def _embedded(args: argparse.Namespace, report: ConversionReport) -> Annotations:
    from cocodiff.data.embedded.dataset import EmbeddedConfig, embedded_annotations

    config = EmbeddedConfig(seed=args.seed, train_per_class=args.train_per_class, test_per_class=args.test_per_class)
    content = embedded_annotations(config)
    report.converted += len(content["annotations"])
    return content


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m cocodiff.data.prepare", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)

    ntu = commands.add_parser("ntu", help="NTU RGB+D 60/120 raw .skeleton files")
    ntu.add_argument("folder", type=Path, help="folder of .skeleton files (nturgb+d_skeletons)")
    ntu.add_argument("--benchmark", choices=("ntu60", "ntu120"), default="ntu60",
                     help="ntu60: A001-A060 of setups S001-S017, splits xsub/xview; ntu120: all, splits xsub/xset")
    ntu.add_argument("--missing", type=Path, default=None,
                     help="the official list of samples with missing skeletons (NTU_RGBD*_samples_with_missing_skeletons.txt); "
                          "listed samples are skipped. Without it, only files with no body at all are skipped")
    ntu.set_defaults(handler=_ntu)

    ucla = commands.add_parser("ucla", help="NW-UCLA all_sqe json files")
    ucla.add_argument("folder", type=Path, help="the all_sqe folder")
    ucla.set_defaults(handler=_ucla)

    utd = commands.add_parser("utd", help="UTD-MHAD *_skeleton.mat files (Kinect v1, 27 actions)")
    utd.add_argument("folder", type=Path, help="folder of aA_sS_tT_skeleton.mat files (and Skeleton_joint_order.txt)")
    utd.set_defaults(handler=_utd)

    kinetics = commands.add_parser("kinetics", help="Kinetics-Skeleton json (OpenPose-18)")
    for split in ("train", "val"):
        kinetics.add_argument(f"--{split}-dir", type=Path, help=f"folder of {split} json files")
        kinetics.add_argument(f"--{split}-labels", type=Path, help=f"kinetics_{split}_label.json")
    kinetics.add_argument("--max-persons", type=int, default=2, help="keep this many most confident persons")
    kinetics.add_argument("--class-names", type=Path, default=None,
                          help="label map, one class name a line in label order (e.g. label_map_k400.txt); "
                               "must agree with the names in the label jsons")
    kinetics.set_defaults(handler=_kinetics)

    embedded = commands.add_parser("embedded", help="the built-in procedural dataset (no input files)")
    embedded.add_argument("--seed", type=int, default=0)
    embedded.add_argument("--train-per-class", type=int, default=None)
    embedded.add_argument("--test-per-class", type=int, default=None)
    embedded.set_defaults(handler=_embedded)

    for command in (ntu, ucla, utd, kinetics, embedded):
        command.add_argument("--out", type=Path, required=True, help="output annotation file (.pkl)")
    for command in (ntu, kinetics):
        command.add_argument("--workers", type=int, default=1, help="parallel reader processes")
    return parser


def describe(content: Annotations) -> str:
    meta = content.get("meta", {})
    lines = [f"layout {meta.get('layout', '?')}, {len(meta.get('classes', []))} classes, "
             f"{len(content['annotations'])} samples"]
    for name, members in content["split"].items():
        lines.append(f"  split {name}: {len(members)}")
    labels = Counter(sample["label"] for sample in content["annotations"])
    classes = meta.get("classes") or range(max(labels, default=-1) + 1)
    counts = [labels.get(label, 0) for label in range(len(classes))]
    if counts:
        lines.append(f"  samples per class: min {min(counts)}, max {max(counts)}")
        empty = [str(name) for label, name in enumerate(classes) if labels.get(label, 0) == 0]
        if empty:
            lines.append(f"  classes with no sample: {len(empty)} ({', '.join(empty[:5])}{', ...' if len(empty) > 5 else ''})")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.out.exists() and args.out.is_dir():
        raise CocodiffError(f"{args.out}: is a directory; --out takes a file name")
    report = ConversionReport()
    content = args.handler(args, report)
    print(report.summary(), file=sys.stderr)
    if not content["annotations"]:
        raise CocodiffError("no sample could be converted: nothing written")
    save_annotations(content, args.out)
    print(describe(content))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
