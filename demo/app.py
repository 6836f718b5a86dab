"""The Gradio app: a webcam tab that names actions live, and a video tab that annotates a clip.

    app = build_app(DemoModel.load("runs/embedded/best.pt", pose_model_path()))
    app.launch(server_name="127.0.0.1")

- Webcam: the browser streams frames (never mirrored: the capture is unmirrored, and a
  checkbox mirrors only what is shown); each is posed, recognised and drawn by the viewer's own
  `LiveSession`, kept in `gr.State` (per browser session, closed when the session ends).
- Video: an uploaded clip is annotated frame by frame with a progress bar (`demo.clip`).
- API, for programs (`gradio_client`): `/classify_frame` (one image and, optionally, its
  timestamp in seconds; the caller's session continues its stream: labels as JSON) and
  `/classify_clip` (one video: the timeline and the labels at its end as JSON). `gradio_client` cannot call a streaming event, so these exist.

Bad input (a file that is not a video, a frame that is not an image, a video with nobody in it)
is one message in the page; the app keeps serving.
"""

from __future__ import annotations

import os

os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"  # before gradio is imported: no look-ups from here

import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cocodiff.errors import CocodiffError
from demo.clip import annotate_clip
from demo.session import DemoConfig, FrameView, LiveSession, check_session_model
from serve.backends import Backend, open_backend

# Gradio says nothing when there is no camera or the camera stops: the page checks every 2 s.
CAMERA_CHECK_JS = """
() => {
  const show = (text) => {
    const box = document.querySelector('#camera_status');
    if (box) { box.innerHTML = text ? `<p class="camera-warning">${text}</p>` : ''; }
  };
  const check = async () => {
    if (!navigator.mediaDevices || !navigator.mediaDevices.enumerateDevices) {
      show('This page cannot reach a camera: browsers allow it on https or on localhost only.'); return;
    }
    const devices = await navigator.mediaDevices.enumerateDevices();
    if (!devices.some((device) => device.kind === 'videoinput')) {
      show('No camera found: connect one and reload, or use the Video file tab.'); return;
    }
    const video = document.querySelector('#webcam video');
    const stream = video && video.srcObject;
    if (stream && stream.getVideoTracks().some((track) => track.readyState === 'ended')) {
      show('The camera stopped: check it, then start the webcam again.'); return;
    }
    show('');
  };
  check();
  setInterval(check, 2000);
}
"""
STREAM_EVERY_S = 0.04  # the browser sends a frame this often (25 fps), when the last one is done
SESSION_TTL_S = 15 * 60  # a viewer's state is dropped after this long without an event
IDLE_VIEWER_S = 30.0  # with every stream taken, one idle this long gives its place to a new viewer
OUTPUT_TTL_S = 15 * 60  # an annotated clip is deleted this long after it was made
MAX_UPLOAD = "200mb"


@dataclass
class DemoModel:
    """What every viewer shares: the model's backend and the pose model file."""

    backend: Backend
    pose_model: Path
    config: DemoConfig = DemoConfig()
    source: str = ""
    max_viewers: int = 8  # live streams at once; each holds a MediaPipe landmarker (53 MiB measured)
    _viewers: set = field(default_factory=set)  # the ViewerStates that hold a live session
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def open_session(self, viewer: ViewerState) -> LiveSession:
        """A stream for `viewer`. With every place taken, the viewer idle longest (at least
        IDLE_VIEWER_S: a closed tab, say, whose state Gradio keeps for an hour) gives its place."""
        with self._lock:
            if len(self._viewers) >= self.max_viewers:
                idle = sorted((v for v in self._viewers if v.idle_for() > IDLE_VIEWER_S), key=ViewerState.idle_for)
                if not idle or not idle[-1].release():
                    raise CocodiffError(f"the demo is serving {self.max_viewers} live streams already: try again later")
                self._viewers.discard(idle[-1])
            self._viewers.add(viewer)
        try:
            return LiveSession(self.backend, self.pose_model, self.config)
        except BaseException:
            self.forget(viewer)
            raise

    def forget(self, viewer: ViewerState) -> None:
        with self._lock:
            self._viewers.discard(viewer)

    @classmethod
    def load(cls, model: str | os.PathLike, pose_model: Path, config: DemoConfig = DemoConfig()) -> DemoModel:
        backend = open_backend(model, threads=0)
        check_session_model(backend)
        return cls(backend, pose_model, config, str(model))

    def describe(self) -> str:
        contract = self.backend.contract
        return (f"{Path(self.source).name}: {contract.num_classes} actions, {contract.layout}, "
                f"{contract.coordinates}D, {self.backend.describe()}")


class ViewerState:
    """One browser session's stream, created at its first frame; events of one session are
    serialised by its lock (MediaPipe's landmarker is not thread-safe)."""

    def __init__(self, model: DemoModel):
        self.model = model
        self.lock = threading.Lock()
        self.session: LiveSession | None = None
        self.last_used = time.monotonic()

    def process(self, rgb: np.ndarray, mirror: bool, timestamp: float | None = None) -> FrameView:
        with self.lock:
            self.last_used = time.monotonic()
            if self.session is None:
                self.session = self.model.open_session(self)
            return self.session.process(rgb, None if timestamp is None else float(timestamp), mirror=mirror)

    def idle_for(self) -> float:
        return time.monotonic() - self.last_used

    def release(self) -> bool:
        """Close the stream unless a frame is being processed now; True when it was closed."""
        if not self.lock.acquire(blocking=False):
            return False
        try:
            self._close_session()
            return True
        finally:
            self.lock.release()

    def close(self) -> None:
        with self.lock:
            self._close_session()
        self.model.forget(self)

    def _close_session(self) -> None:
        if self.session is not None:
            self.session.close()
            self.session = None


def _close(state: ViewerState | None) -> None:
    if state is not None:
        state.close()


def _frame(image: object) -> np.ndarray:
    """A webcam or API image as uint8 RGB (H, W, 3); a clear error for anything else."""
    import gradio as gr

    if image is None:
        raise gr.Error("no image: is the camera on?", print_exception=False)
    frame = np.asarray(image)
    if frame.ndim == 2:
        frame = np.repeat(frame[..., None], 3, axis=2)
    if frame.ndim != 3 or frame.shape[2] not in (3, 4) or min(frame.shape[:2]) < 16:
        raise gr.Error(f"not a video frame: an array of shape {list(frame.shape)}", print_exception=False)
    return np.ascontiguousarray(frame[..., :3].astype(np.uint8, copy=False))


def _page_error(error: CocodiffError, upload: str | None = None):
    """The one-line message shown in the page (an upload named by its own name, not the server's
    temporary path); no traceback on the console."""
    import gradio as gr

    message = str(error)
    if upload:
        message = message.replace(str(upload), Path(upload).name)
    return gr.Error(message, print_exception=False)


def _forget_old(folder: Path, seconds: float) -> None:
    """Remove what an earlier upload left in `folder` (Gradio serves its own copy)."""
    now = time.time()
    for entry in folder.iterdir():
        if now - entry.stat().st_mtime > seconds:
            shutil.rmtree(entry, ignore_errors=True)


def _stats(view: FrameView) -> str:
    return f"{view.fps:.1f} fps · {view.latency_ms:.0f} ms a frame (pose + recognition + drawing)"


def build_app(model: DemoModel):
    import gradio as gr

    outputs = Path(tempfile.mkdtemp(prefix="cocodiff_demo_"))  # annotated clips, until Gradio has copied them

    def on_frame(image, mirror, state):
        fresh, state = state is None, state or ViewerState(model)
        try:
            view = state.process(_frame(image), bool(mirror))
        except BaseException as error:
            if fresh:  # Gradio keeps no state from a failed event: free its place now
                state.close()
            if isinstance(error, CocodiffError):
                raise _page_error(error) from None
            raise
        return view.image, view.headline, view.top, view.timeline, _stats(view), state

    def classify_frame(image, timestamp, state):
        fresh, state = state is None, state or ViewerState(model)
        try:
            view = state.process(_frame(image), False, timestamp)
        except BaseException as error:
            if fresh:
                state.close()
            if isinstance(error, CocodiffError):
                raise _page_error(error) from None
            raise
        return view.to_dict(), state

    def annotate(video, unmirror, progress=gr.Progress()):
        if not video:
            raise gr.Error("upload a video first", print_exception=False)
        _forget_old(outputs, OUTPUT_TTL_S)
        out = Path(tempfile.mkdtemp(dir=outputs)) / (Path(video).stem + ".annotated.webm")
        try:
            result = annotate_clip(video, model.backend, model.pose_model, out=out, flip=bool(unmirror),
                                   config=model.config,
                                   progress=lambda done, total: progress((done, total or None), unit="frames"))
        except CocodiffError as error:
            raise _page_error(error, video) from None
        return str(result.video), result.timeline, result.headline, {**result.to_dict(), "source": Path(video).name}

    def classify_clip(video):
        if not video:
            raise gr.Error("no video given", print_exception=False)
        try:
            result = annotate_clip(video, model.backend, model.pose_model, config=model.config)
        except CocodiffError as error:
            raise _page_error(error, video) from None
        return {**result.to_dict(), "source": Path(video).name}

    with gr.Blocks(title="cocodiff: live action recognition", analytics_enabled=False) as app:
        gr.Markdown(f"## Live action recognition\n{model.describe()}. Up to {model.config.num_poses} people; "
                    "stand back so that your whole body is in view.")
        with gr.Tab("Webcam"):
            state = gr.State(None, time_to_live=SESSION_TTL_S, delete_callback=_close)
            with gr.Row():
                with gr.Column():
                    gr.HTML("", elem_id="camera_status")  # CAMERA_CHECK_JS writes here
                    webcam = gr.Image(sources=["webcam"], streaming=True, type="numpy", label="camera",
                                      webcam_options=gr.WebcamOptions(mirror=False), elem_id="webcam")
                    mirror = gr.Checkbox(False, label="mirror the picture below (display only)")
                with gr.Column():
                    overlay = gr.Image(label="skeleton", type="numpy", interactive=False, elem_id="overlay",
                                       format="jpeg")  # a PNG of every frame costs more than the pose
                    headline = gr.Textbox(label="action", interactive=False, elem_id="headline")
                    bars = gr.Label(num_top_classes=model.config.top_k, label="top classes", elem_id="bars")
                    gr.Markdown(f"label timeline, the last {model.config.timeline_seconds:.0f} s (a row a person)")
                    timeline = gr.Image(show_label=False, type="numpy", interactive=False, elem_id="timeline",
                                        format="png", buttons=[])
                    stats = gr.Markdown(elem_id="stats")
            webcam.stream(on_frame, [webcam, mirror, state], [overlay, headline, bars, timeline, stats, state],
                          stream_every=STREAM_EVERY_S, time_limit=None, concurrency_limit=2, api_name="stream",
                          show_progress="hidden")
        with gr.Tab("Video file"):
            with gr.Row():
                with gr.Column():
                    upload = gr.Video(sources=["upload"], label="a video of people")
                    unmirror = gr.Checkbox(False, label="the video is stored mirrored (NTU RGB+D): flip it first")
                    go = gr.Button("Annotate", variant="primary")
                with gr.Column():
                    annotated = gr.Video(label="annotated", interactive=False, elem_id="annotated")
                    clip_headline = gr.Textbox(label="at the end of the clip", interactive=False,
                                               elem_id="clip_headline")
                    gr.Markdown("label timeline of the whole clip (a row a person)")
                    clip_timeline = gr.Image(show_label=False, type="numpy", interactive=False, buttons=[])
                    clip_labels = gr.JSON(label="labels")
            go.click(annotate, [upload, unmirror], [annotated, clip_timeline, clip_headline, clip_labels],
                     api_name="annotate", concurrency_limit=1)
        with gr.Row(visible=False):  # programmatic endpoints
            api_image = gr.Image(type="numpy")
            api_timestamp = gr.Number(None, label="seconds (empty: the server's clock)")
            api_video = gr.Video()
            api_json = gr.JSON()
            api_frame_button, api_clip_button = gr.Button(), gr.Button()
        api_frame_button.click(classify_frame, [api_image, api_timestamp, state], [api_json, state],
                               api_name="classify_frame")
        api_clip_button.click(classify_clip, [api_video], [api_json], api_name="classify_clip", concurrency_limit=1)
        app.load(None, None, None, js=CAMERA_CHECK_JS)
    return app
