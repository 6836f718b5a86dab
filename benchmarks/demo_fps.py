"""End-to-end frames per second of the demo's live path on this CPU, at 640x480.

    python benchmarks/demo_fps.py [--model runs/embedded/best.pt] [--frames 300] [--json out.json]

Real clips from ../shared/data (Tai Chi, clean and jerk, NTU RGB+D A001), each resized to 640x480,
go frame by frame through exactly what a webcam frame goes through in `demo.session.LiveSession`:
MediaPipe Pose (VIDEO mode), the live recogniser (a prediction every 0.2 s of stream time), the
skeleton, labels and timeline drawn. Decoding the file is timed too, so "fps" is decode + pose +
recognition + drawing, one frame after the other; "prefetch" decodes the next frames in a second
thread meanwhile (`demo.video.prefetch`), as a camera delivers them while the last is processed.
Per configuration: fps over all frames, and per stage the median and 90th percentile ms.

Latency from a frame to its label: a frame's label is drawn on the frame itself, so the
processing latency (pose + recognition + drawing) is the time from a frame's arrival to its
labelled picture; in the browser add the round trip of Gradio's stream (measured in
tests/test_demo_browser.py's run, reported in docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from machine import machine  # noqa: E402

CLIPS = {"ta_chi": "videos/ta_chi.mp4", "clean_and_jerk": "videos/clean_and_jerk.mp4",
         "ntu_A001": "ntu/video/S001C001P001R001A001_rgb.avi"}


def run(video: Path, model: str, pose_model: Path, num_poses: int, frames: int, prefetch: bool) -> dict:
    from demo.session import DemoConfig, LiveSession
    from demo.video import prefetch as prefetched
    from demo.video import read_video
    from serve.backends import open_backend

    session = LiveSession(open_backend(model), pose_model, DemoConfig(num_poses=num_poses))
    source = read_video(video, size=(640, 480), limit=frames)
    if prefetch:
        source = prefetched(source)
    stages: dict[str, list[float]] = {"decode": [], "pose": [], "recognition": [], "drawing": [], "frame": []}
    labels = 0
    try:
        start = last = time.perf_counter()
        for timestamp, rgb in source:
            decoded = time.perf_counter()
            view = session.process(rgb, timestamp)
            now = time.perf_counter()
            stages["decode"].append(1000 * (decoded - last))
            for name, value in view.stage_ms.items():
                stages[name].append(value)
            stages["frame"].append(1000 * (now - last))
            labels += any(person.status == "recognised" for person in view.people)
            last = now
        elapsed = time.perf_counter() - start
    finally:
        session.close()
    count = len(stages["frame"])
    return {"clip": video.name, "num_poses": num_poses, "prefetch": prefetch, "frames": count,
            "fps": round(count / elapsed, 2), "frames_labelled": labels,
            "ms": {name: {"p50": round(statistics.median(v), 2),
                          "p90": round(sorted(v)[int(0.9 * (len(v) - 1))], 2)} for name, v in stages.items() if v}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="runs/embedded/best.pt")
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    pose_model = args.shared / "models" / "pose_landmarker_full.task"
    if not pose_model.is_file():
        sys.exit(f"skipped: {pose_model} not found (the real clips and the pose model live in ../shared/data)")
    print(json.dumps(machine()))
    results = []
    for name, relative in CLIPS.items():
        for num_poses in (1, 2):
            for prefetch in (False, True):
                result = run(args.shared / relative, args.model, pose_model, num_poses, args.frames, prefetch)
                results.append(result)
                ms = result["ms"]
                print(f"{name:15s} poses {num_poses} prefetch {'yes' if prefetch else 'no ':3s} "
                      f"{result['fps']:5.1f} fps | " + "  ".join(f"{stage} {ms[stage]['p50']:.1f}/{ms[stage]['p90']:.1f}"
                                                        for stage in ms) + " ms (p50/p90)", flush=True)
    if args.json:
        args.json.write_text(json.dumps({"machine": machine(), "results": results}, indent=1))


if __name__ == "__main__":
    main()
