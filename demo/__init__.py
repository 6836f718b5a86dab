"""The live webcam demo: MediaPipe skeletons from a camera or a video, recognised as they come.

- `demo.pose_model`: the MediaPipe pose model file (given, cached, or downloaded and checked).
- `demo.pose_estimator`: MediaPipe Pose in VIDEO mode, frames in, `demo.landmarks.PoseFrame` out.
- `demo.landmark_files`: recorded landmark files, read and written, for replay without a camera.
- `demo.landmarks`: which of MediaPipe's outputs a model takes (world for 3D, image for 2D).
- `demo.session`: one viewer's stream: pose, the live recogniser, the timeline, fps and latency.
- `demo.drawing`: the skeleton, labels and timeline drawn over frames.
- `demo.clip`: a whole video annotated (the upload tab and the programmatic endpoint).
- `demo.app`: the Gradio app; `python -m demo` starts it.
- `demo.kinect_check`: MediaPipe against a Kinect filming the same take (Procrustes).

Like `serve`, it depends on `cocodiff.data`, the checkpoint contract and `serve`'s runtime only.
"""

from pathlib import Path

DEFAULT_MODEL = Path("runs/embedded/best.pt")  # what README's first command, `python -m cocodiff.train`, writes
