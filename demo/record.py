"""python -m demo.record VIDEO --out LANDMARKS.json: MediaPipe's landmarks of every frame, saved.

The file (see demo.landmark_files) keeps image and world landmarks of up to `--num-poses` people
per frame, with the video's timestamps, so the clip can be replayed through any model later
(`python -m demo.replay`) without a camera, a video decoder or the pose model. `--flip`
un-mirrors a video stored mirrored (NTU RGB+D's).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

from cocodiff.cli import run_cli


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m demo.record", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("video", type=Path)
    parser.add_argument("--out", type=Path, required=True, help="the landmark file to write (.json)")
    parser.add_argument("--pose-model", type=Path, help="MediaPipe's pose_landmarker_full.task (default: the cache)")
    parser.add_argument("--num-poses", type=int, default=2)
    parser.add_argument("--flip", action="store_true", help="mirror every frame first (a video stored mirrored)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from demo.landmark_files import write_recording
    from demo.pose_estimator import MediaPipePose
    from demo.pose_model import pose_model_path
    from demo.video import read_video, video_info

    info = video_info(args.video)
    with MediaPipePose(pose_model_path(args.pose_model), num_poses=args.num_poses) as pose:
        frames = [pose.detect(rgb, timestamp) for timestamp, rgb in read_video(args.video, flip=args.flip)]
    write_recording(args.out, frames, info.fps, (info.width, info.height))
    with_people = sum(frame.num_people > 0 for frame in frames)
    print(f"{args.out}: {len(frames)} frames at {info.fps:g} fps, somebody in {with_people} of them")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
