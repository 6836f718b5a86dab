"""Replay a recorded clip through the live recogniser and print the timeline of labels.

    python -m serve.replay runs/embedded/best.onnx --data embedded --split val --index 3
    python -m serve.replay runs/embedded/best.pt --data ../shared/data/utd_mhad/a3_s1_t1_skeleton.mat
    python -m serve.replay best.onnx --data data/ucla.pkl --split xview_val --index 10 --realtime

MODEL is a checkpoint (.pt), an ONNX export (.onnx) or a TensorRT engine (.engine). `--data` is a
recording: a dataset's raw file (NTU `.skeleton`, NW-UCLA or Kinetics `.json`, UTD-MHAD
`.mat`), or a clip of an annotation file or of the embedded dataset (with `--split` and
`--index`). A recording of another layout or coordinate frame than the model's is retargeted
as the live stream would be (kinect20 -> ntu25, say). Frames go in at the recording's frame
rate: as fast as possible by default, in real time with `--realtime`.

Each prediction prints one line: the stream time, then every tracked person's id, label and
smoothed confidence (or `warming up` / `unknown`). At the end come the label after the whole
clip and, for comparison, the offline evaluation's label for the same clip.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

import numpy as np

from cocodiff.cli import run_cli
from cocodiff.data.pipelines import InferencePipeline, SkeletonSource
from cocodiff.data.recordings import read_recording
from cocodiff.errors import CocodiffError
from serve.backends import open_backend
from serve.playback import play
from serve.recognizer import RECOGNISED, WARMING_UP, LiveConfig, LiveRecognizer, LiveUpdate, softmax


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m serve.replay", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", type=Path, help="a checkpoint (.pt), ONNX export (.onnx) or TensorRT engine (.engine)")
    parser.add_argument("--data", required=True, help="a recording (.skeleton, .json, .mat), an annotation .pkl, "
                                                      "or 'embedded'")
    parser.add_argument("--split", help="the split of an annotation file or of the embedded dataset")
    parser.add_argument("--index", type=int, default=0, help="the clip's index in the split (default 0)")
    parser.add_argument("--fps", type=float, help="the recording's frame rate, where its file does not say it")
    parser.add_argument("--layout", help="the recording's joint layout, where its file does not say it (PYSKL)")
    parser.add_argument("--realtime", action="store_true", help="wait between frames as the recording did")
    parser.add_argument("--speed", type=float, default=1.0, help="with --realtime: play this many times faster")
    parser.add_argument("--seconds", type=float, help="the past each prediction sees (default: the model's clip "
                                                      "duration)")
    parser.add_argument("--stride", type=float, default=0.2, help="seconds between predictions (default 0.2)")
    parser.add_argument("--smoothing", type=int, default=3, help="predictions averaged per label (default 3)")
    parser.add_argument("--threshold", type=float, default=0.4, help="below this confidence: unknown (default 0.4)")
    parser.add_argument("--max-persons", type=int, default=2, help="people tracked at once (default 2)")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads; 0 = the idle cores (default)")
    return parser


def person_line(update: LiveUpdate) -> str:
    if not update.persons:
        return "nobody in view"
    parts = []
    for person in update.persons:
        if person.status == WARMING_UP:
            parts.append(f"#{person.track} warming up ({person.seconds_seen:.1f}s seen)")
        elif person.status == RECOGNISED:
            parts.append(f"#{person.track} {person.label} {person.confidence:.2f}")
        else:
            parts.append(f"#{person.track} unknown (best {person.top[0][0]} {person.confidence:.2f})")
    return (" together: " if update.joint and len(parts) > 1 else "") + " | ".join(parts)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.speed <= 0 or args.index < 0 or args.threads < 0 or (args.fps is not None and not args.fps > 0):
        raise CocodiffError("--speed and --fps must be positive, --index and --threads at least 0")
    recording = read_recording(args.data, args.split, args.index, fps=args.fps, layout=args.layout)
    backend = open_backend(args.model, device=args.device, threads=args.threads)
    contract = backend.contract
    source = SkeletonSource(recording.layout, recording.frame)
    config = LiveConfig(seconds=args.seconds, stride_seconds=args.stride, smoothing=args.smoothing,
                        threshold=args.threshold, max_persons=args.max_persons)
    recognizer = LiveRecognizer(backend, source, config)
    frames = recording.sample["keypoint"].shape[1]
    adapted = "" if recording.layout == contract.layout else f", retargeted {recording.layout} -> {contract.layout}"
    print(f"model: {backend.describe()}; {contract.describe()}")
    for note in getattr(backend, "notes", []):
        print(f"note: {note}")
    print(f"replaying {recording.source}: {frames} frames at {recording.fps:g} fps ({frames / recording.fps:.2f} s)"
          f"{adapted}; each prediction sees the last {recognizer.seconds:.2f} s, first after "
          f"{recognizer.warmup_seconds:.2f} s")

    def show(update: LiveUpdate) -> None:
        if update.reset:
            print(f"{update.timestamp:7.2f}s  (a gap of over {config.gap_seconds:g} s: the stream was reset)")
        if update.predicted:
            print(f"{update.timestamp:7.2f}s  {person_line(update)}")

    updates = play(recognizer, recording.sample, recording.fps, realtime=args.realtime, speed=args.speed,
                   on_update=show)
    print(f"end ({updates[-1].timestamp:.2f}s): {person_line(updates[-1])}")
    probabilities = softmax(backend.predict(InferencePipeline(contract, source)(recording.sample)[None]))[0]
    best = int(np.argmax(probabilities))
    print(f"offline evaluation of the whole clip: {contract.classes[best]} {probabilities[best]:.2f}")
    label = recording.sample.get("label")
    if label is not None and recording.classes is not None and 0 <= label < len(recording.classes):
        print(f"recorded action: {recording.classes[label]}")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
