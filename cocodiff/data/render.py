"""Draw skeleton clips so a person can look at them: an animated GIF or a PNG contact sheet.

    python -m cocodiff.data.render embedded --class "wave right hand" --out wave.gif
    python -m cocodiff.data.render embedded --class 3 --split val --index 5 --side --out squat.png
    python -m cocodiff.data.render embedded --grid --out classes.png
    python -m cocodiff.data.render file ntu60.pkl --split xsub_val --index 3 --out clip.gif
    python -m cocodiff.data.render file ntu60.pkl --split xsub_val --frame-dir S001C001P001R001A001 --out a.png
    python -m cocodiff.data.render file ntu60.pkl --split xsub_val --grid --out classes.png

The output's suffix picks the kind: .gif animates the clip, .png draws a strip of evenly spaced
frames (the front view, and with --side a side view under it), and --grid draws one strip per
class in a single PNG. Bones are coloured by side (subject's right red, left blue, centre grey),
so a left/right swap shows at once. The front view is what the camera saw: for Kinect data
(+x to the camera's left) x is flipped; for image coordinates (y down) y is flipped.
"""

from __future__ import annotations

import argparse
import io
import sys
import textwrap
from pathlib import Path
from typing import Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure

from cocodiff.atomic import atomic_write_bytes
from cocodiff.cli import run_cli
from cocodiff.data.annotations import file_layout, load_annotations, split_samples
from cocodiff.data.layouts import Layout
from cocodiff.data.sample import Sample
from cocodiff.errors import CocodiffError

KINECT_LAYOUTS = ("ntu25", "kinect20")  # camera-space metres, +y up, +x to the camera's left
COLOURS = {"right": "#d62728", "left": "#1f77b4", "centre": "#555555"}


def joint_sides(layout: Layout) -> list[str]:
    return ["right" if n.startswith("right_") else "left" if n.startswith("left_") else "centre"
            for n in layout.joints]


def project(keypoint: np.ndarray, layout: Layout, view: str) -> np.ndarray:
    """(..., C) coordinates -> (..., 2) drawing coordinates (right, up) for the front or side view."""
    kinect = layout.name in KINECT_LAYOUTS
    x, y = keypoint[..., 0], keypoint[..., 1]
    if view == "side":  # seen from the camera's right: depth grows to the right
        return np.stack([keypoint[..., 2], y if kinect else -y], axis=-1)
    return np.stack([-x, y] if kinect else [x, -y], axis=-1)


def visible(sample: Sample) -> np.ndarray:
    """(M, T, V) bool: the joint was seen (not all zeros, and a positive score where scores exist)."""
    seen = np.any(sample["keypoint"] != 0, axis=-1)
    if sample.get("keypoint_score") is not None:
        seen &= sample["keypoint_score"] > 0
    return seen


class ClipDrawer:
    """Draws frames of one clip with fixed axis limits, so motion and position stay visible."""

    def __init__(self, sample: Sample, layout: Layout, views: Sequence[str]):
        self.layout, self.views, self.sides = layout, tuple(views), joint_sides(layout)
        self.seen = visible(sample)
        self.points = {view: project(sample["keypoint"], layout, view) for view in self.views}
        self.limits = {view: self._limits(self.points[view]) for view in self.views}

    def _limits(self, points: np.ndarray) -> tuple[tuple[float, float], tuple[float, float]]:
        valid = points[self.seen]
        if len(valid) == 0:
            return (-1.0, 1.0), (-1.0, 1.0)
        low, high = valid.min(axis=0), valid.max(axis=0)
        centre, half = (low + high) / 2, max(float((high - low).max()) / 2, 1e-3) * 1.1
        return (centre[0] - half, centre[0] + half), (centre[1] - half, centre[1] + half)

    def nearest_seen(self, frame: int) -> int:
        """The frame closest to `frame` in which someone is visible (`frame` if nobody ever is)."""
        seen = np.flatnonzero(self.seen.any(axis=(0, 2)))
        return int(seen[np.argmin(np.abs(seen - frame))]) if len(seen) else frame

    def draw(self, ax, frame: int, view: str = "front") -> None:
        ax.set_xlim(*self.limits[view][0])
        ax.set_ylim(*self.limits[view][1])
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])
        drawn = False
        for person in range(self.points[view].shape[0]):
            seen, points = self.seen[person, frame], self.points[view][person, frame]
            if not seen.any():
                continue
            drawn = True
            bones = [(c, p) for c, p in self.layout.bones if seen[c] and seen[p]]
            ax.add_collection(LineCollection([points[[c, p]] for c, p in bones], linewidths=2.2,
                                             colors=[COLOURS[self.sides[c]] for c, _ in bones]))
            joints = np.flatnonzero(seen)
            ax.scatter(points[joints, 0], points[joints, 1], s=9, zorder=3,
                       c=[COLOURS[self.sides[j]] for j in joints])
        if not drawn:
            ax.text(0.5, 0.5, "nobody visible\n(dropped frame?)", ha="center", va="center", transform=ax.transAxes,
                    fontsize=7, color="#888888")


def _figure_bytes(figure: Figure, fmt: str = "png", dpi: int = 100) -> bytes:
    buffer = io.BytesIO()
    FigureCanvasAgg(figure)
    figure.savefig(buffer, format=fmt, dpi=dpi)
    return buffer.getvalue()


def spaced_frames(total: int, count: int) -> list[int]:
    return sorted(set(np.linspace(0, total - 1, min(count, total)).round().astype(int).tolist()))


def contact_sheet(sample: Sample, layout: Layout, title: str, frames: int = 8, side: bool = False) -> bytes:
    """PNG bytes: `frames` evenly spaced frames in a row; a side view row under them if asked."""
    views = ("front", "side") if side and sample["keypoint"].shape[-1] == 3 else ("front",)
    drawer = ClipDrawer(sample, layout, views)
    chosen = spaced_frames(sample["keypoint"].shape[1], frames)
    figure = Figure(figsize=(1.7 * len(chosen), 2.0 * len(views) + 0.5))
    axes = figure.subplots(len(views), len(chosen), squeeze=False)
    for row, view in enumerate(views):
        for column, frame in enumerate(chosen):
            drawer.draw(axes[row, column], frame, view)
            axes[row, column].set_title(f"{view} t={frame}", fontsize=7)
    figure.suptitle(title, fontsize=9)
    figure.tight_layout()
    return _figure_bytes(figure)


def class_grid(rows: Sequence[tuple[str, Sample]], layout: Layout, frames: int = 6) -> bytes:
    """PNG bytes: one row of evenly spaced frames per (label, sample)."""
    width, height = 1.5 * frames + 2.0, 1.7 * len(rows) + 0.2
    figure = Figure(figsize=(width, height))
    axes = figure.subplots(len(rows), frames, squeeze=False)
    figure.subplots_adjust(left=1.9 / width, right=0.99, bottom=0.1 / height, top=1 - 0.25 / height,
                           wspace=0.08, hspace=0.3)
    for row, (label, sample) in enumerate(rows):
        drawer = ClipDrawer(sample, layout, ("front",))
        chosen = spaced_frames(sample["keypoint"].shape[1], frames)
        for column in range(frames):
            ax = axes[row, column]
            if column < len(chosen):
                frame = drawer.nearest_seen(chosen[column])  # skip drop-outs: the grid is an overview
                drawer.draw(ax, frame)
                ax.set_title(f"t={frame}", fontsize=6, pad=2)
            else:
                ax.set_axis_off()
        axes[row, 0].set_ylabel(f"{textwrap.fill(str(label), 20)}\n{sample['frame_dir']}", fontsize=7,
                                rotation=0, ha="right", va="center")
    return _figure_bytes(figure, dpi=90)


def animation(sample: Sample, layout: Layout, title: str, fps: float = 30.0, side: bool = False,
              stride: int = 1) -> bytes:
    """GIF bytes, looping, one image per `stride` frames at the clip's speed."""
    from PIL import Image

    views = ("front", "side") if side and sample["keypoint"].shape[-1] == 3 else ("front",)
    drawer = ClipDrawer(sample, layout, views)
    figure = Figure(figsize=(3.0 * len(views), 3.4), dpi=80)
    canvas = FigureCanvasAgg(figure)
    axes = figure.subplots(1, len(views), squeeze=False)[0]
    images = []
    for frame in range(0, sample["keypoint"].shape[1], stride):
        for ax, view in zip(axes, views):
            ax.clear()
            drawer.draw(ax, frame, view)
            ax.set_title(view, fontsize=8)
        figure.suptitle(f"{title}  t={frame}", fontsize=8)
        canvas.draw()
        images.append(Image.fromarray(np.asarray(canvas.buffer_rgba())[..., :3]).convert("P", palette=Image.ADAPTIVE))
    buffer = io.BytesIO()
    images[0].save(buffer, format="GIF", save_all=True, append_images=images[1:], loop=0,
                   duration=max(int(round(1000 * stride / fps)), 20))
    return buffer.getvalue()


# --- command line --------------------------------------------------------------------------------

def _embedded_clips(args) -> tuple[list[tuple[str, Sample]], Layout, dict]:
    from cocodiff.data.embedded.actions import CLASSES
    from cocodiff.data.embedded.dataset import LAYOUT, EmbeddedConfig, embedded_clip, find_action

    config = EmbeddedConfig(seed=args.seed)
    if args.grid:
        labels = list(range(len(CLASSES)))
    elif args.class_ is None:
        raise CocodiffError("give --class NAME_OR_INDEX (or --grid for every class)")
    else:
        action = find_action(int(args.class_) if args.class_.isdigit() else args.class_)
        labels = [CLASSES.index(action.name)]
    rows = [(CLASSES[label], embedded_clip(config, args.split, label, args.index).sample) for label in labels]
    return rows, LAYOUT, {"fps": config.fps}


def _file_clips(args) -> tuple[list[tuple[str, Sample]], Layout, dict]:
    content = load_annotations(args.path)
    layout = file_layout(content, args.path, args.layout)
    meta = content["meta"]
    split = args.split or next(iter(content["split"]), None)
    if split is None:
        raise CocodiffError(f"{args.path}: the file has no splits")
    samples = split_samples(content, split, args.path, layout)
    if not samples:
        raise CocodiffError(f"{args.path}: split {split!r} is empty")
    classes = list(meta.get("classes", []))

    def name(sample: Sample) -> str:
        label = sample.get("label")
        return classes[label] if label is not None and label < len(classes) else f"label {label}"

    if args.grid:
        first: dict[int, list[Sample]] = {}
        for sample in samples:
            first.setdefault(sample.get("label", -1), []).append(sample)
        rows = [(name(group[min(args.index, len(group) - 1)]), group[min(args.index, len(group) - 1)])
                for _, group in sorted(first.items())]
    elif args.frame_dir is not None:
        match = [s for s in samples if str(s["frame_dir"]) == args.frame_dir]
        if not match:
            raise CocodiffError(f"{args.path}: split {split!r} has no sample {args.frame_dir!r}")
        rows = [(name(match[0]), match[0])]
    else:
        if not 0 <= args.index < len(samples):
            raise CocodiffError(f"index {args.index} is out of range: split {split!r} has {len(samples)} samples (0..{len(samples) - 1})")
        rows = [(name(samples[args.index]), samples[args.index])]
    return rows, layout, {"fps": float(meta.get("fps", 30.0))}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m cocodiff.data.render", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sources = parser.add_subparsers(dest="source", required=True)
    embedded = sources.add_parser("embedded", help="a clip of the built-in procedural dataset")
    embedded.add_argument("--class", dest="class_", help="class name (quoted) or 0-based index")
    embedded.add_argument("--split", default="train", help="train or val (default train)")
    embedded.add_argument("--seed", type=int, default=0)
    embedded.set_defaults(clips=_embedded_clips)
    file = sources.add_parser("file", help="a clip of an annotation .pkl file")
    file.add_argument("path", type=Path)
    file.add_argument("--split", default=None, help="split name (default: the file's first split)")
    file.add_argument("--frame-dir", default=None, help="the sample's name (instead of --index)")
    file.add_argument("--layout", default=None, help="joint layout, if the file does not say")
    file.set_defaults(clips=_file_clips)
    for sub in (embedded, file):
        sub.add_argument("--index", type=int, default=0,
                         help="which clip: per class for embedded, in the split for a file (with --grid: per class)")
        sub.add_argument("--grid", action="store_true", help="one row per class in one PNG")
        sub.add_argument("--out", type=Path, required=True, help="output .gif (animation) or .png (frame strip)")
        sub.add_argument("--frames", type=int, default=8, help="frames per strip in a PNG (default 8; 6 with --grid)")
        sub.add_argument("--side", action="store_true", help="also draw a side view (3D data)")
        sub.add_argument("--fps", type=float, default=None, help="GIF speed (default: the data's rate, else 30)")
        sub.add_argument("--stride", type=int, default=1, help="GIF: draw every n-th frame")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    kind = args.out.suffix.lower()
    if kind not in (".gif", ".png"):
        raise CocodiffError(f"{args.out}: the output must end in .gif or .png")
    if args.grid and kind != ".png":
        raise CocodiffError("--grid draws a PNG: give an --out ending in .png")
    if args.frames < 1 or args.stride < 1 or args.index < 0:
        raise CocodiffError("--frames and --stride must be at least 1, --index at least 0")
    rows, layout, info = args.clips(args)
    if args.grid:
        data = class_grid(rows, layout, frames=args.frames if args.frames != 8 else 6)
    else:
        label, sample = rows[0]
        title = f"{sample['frame_dir']}: {label}"
        if kind == ".gif":
            data = animation(sample, layout, title, fps=args.fps or info["fps"], side=args.side, stride=args.stride)
        else:
            data = contact_sheet(sample, layout, title, frames=args.frames, side=args.side)
    atomic_write_bytes(args.out, data)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
