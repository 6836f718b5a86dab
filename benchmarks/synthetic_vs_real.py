"""Where the embedded clips differ from real recordings of the same actions: one table.

    python benchmarks/synthetic_vs_real.py --data data/utd.pkl --split xsub_train \
        --class-map configs/class_maps/utd_mhad_to_embedded.txt

For every mapped pair (a real action -> an embedded class) it measures the same quantities on
the real clips and on the embedded training clips of that class, after the same retargeting to
ntu25 and the same pre-normalisation (spine up, shoulders level, centred), and prints medians
over clips as a markdown table:

- seconds: the clip's duration;
- jitter mm: the median frame-to-frame second difference of the joints, in the camera frame;
- still hand m/s: the median speed of the hand that moves less (a sensor's noise shows here);
- lean deg: the spine's tilt towards the camera (camera height and tilt show here);
- hand range m: the x / y / z extent of the hand that moves more;
- hands apart m: the median distance between the hands;
- hip drop m, knee drop m: how far the pelvis and the right knee go down.

This is what the generator was tuned with (docs/results.md). Use the train split of the real
data, never the split you report.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cocodiff.data.annotations import file_layout, load_annotations, split_samples  # noqa: E402
from cocodiff.data.class_map import read_class_map  # noqa: E402
from cocodiff.data.embedded import CLASSES, EmbeddedConfig, embedded_clip  # noqa: E402
from cocodiff.data.layouts import NTU25  # noqa: E402
from cocodiff.data.retarget import retarget  # noqa: E402
from cocodiff.data.transforms import pre_normalize  # noqa: E402

J = NTU25.index
COLUMNS = ("seconds", "jitter mm", "still hand m/s", "lean deg", "hand range m", "hands apart m", "hip drop m",
           "knee drop m")


def measure(keypoint: np.ndarray, fps: float) -> dict[str, object]:
    """The quantities of one clip: keypoint (T, 25, 3), ntu25, camera frame."""
    points = keypoint[np.abs(keypoint).sum(axis=(1, 2)) > 0].astype(np.float64)
    body = pre_normalize({"keypoint": points[None]}, layout=NTU25)["keypoint"][0]
    hands = {side: body[:, J(f"{side}_hand")] for side in ("left", "right")}
    travel = {side: np.linalg.norm(np.diff(hand, axis=0), axis=-1) for side, hand in hands.items()}
    busy = max(travel, key=lambda side: travel[side].sum())
    still = "left" if busy == "right" else "right"
    spine = points[:, J("spine_shoulder")] - points[:, J("spine_base")]
    return {
        "seconds": len(points) / fps,
        "jitter mm": 1000 * float(np.median(np.linalg.norm(np.diff(points, 2, axis=0), axis=-1))),
        "still hand m/s": float(np.median(travel[still])) * fps,
        "lean deg": float(np.degrees(np.median(np.arctan2(-spine[:, 2], spine[:, 1])))),
        "hand range m": np.ptp(hands[busy], axis=0),
        "hands apart m": float(np.median(np.linalg.norm(hands["left"] - hands["right"], axis=-1))),
        "hip drop m": float(np.ptp(body[:, J("spine_base"), 1])),
        "knee drop m": float(np.ptp(body[:, J("right_knee"), 1])),
    }


def medians(rows: list[dict[str, object]]) -> list[str]:
    cells = []
    for column in COLUMNS:
        values = np.array([row[column] for row in rows], dtype=np.float64)
        middle = np.median(values, axis=0)
        cells.append(" / ".join(f"{v:.2f}" for v in middle) if values.ndim > 1 else f"{middle:.2f}")
    return cells


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="a prepared annotation file of real clips")
    parser.add_argument("--split", required=True, help="its split to measure (a train split)")
    parser.add_argument("--class-map", type=Path, required=True, help="'real class -> embedded class' lines")
    parser.add_argument("--clips", type=int, default=32, help="embedded training clips measured per class")
    args = parser.parse_args(argv)
    content = load_annotations(args.data)
    layout = file_layout(content, args.data)
    fps = float(content["meta"].get("fps", 30.0))
    names = content["meta"]["classes"]
    class_map = read_class_map(args.class_map)
    class_map.check(names, CLASSES)
    real = split_samples(content, args.split, args.data, layout)
    config = EmbeddedConfig()
    step = max(1, config.per_class("train") // args.clips)
    print("| action | source | " + " | ".join(COLUMNS) + " |")
    print("|---|---|" + "---|" * len(COLUMNS))
    for real_name, embedded_name in class_map.pairs:
        clips = [retarget(s, layout, NTU25)["keypoint"][0] for s in real if names[s["label"]] == real_name]
        label = CLASSES.index(embedded_name)
        made = [embedded_clip(config, "train", label, i).sample["keypoint"][0]
                for i in range(0, config.per_class("train"), step)]
        for source, keypoints, rate in ((f"real ({len(clips)})", clips, fps), (f"embedded ({len(made)})", made, config.fps)):
            print(f"| {real_name} -> {embedded_name} | {source} | "
                  + " | ".join(medians([measure(k, rate) for k in keypoints])) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
