"""The Gradio app's programmatic endpoints through gradio_client, against a real running server:
frames of a real video, a whole clip, and bad input that gets one message while the app serves on."""

from __future__ import annotations

import numpy as np
import pytest

from tiny_runs import free_port

pytest.importorskip("gradio", reason="the demo extra is not installed (pip install -e '.[demo]')")

pytestmark = pytest.mark.slow  # a running Gradio app with MediaPipe: about 40 s to start


@pytest.fixture(scope="module")
def server(tiny_model, pose_model_file):
    from demo.app import DemoModel, build_app
    from demo.session import DemoConfig

    app = build_app(DemoModel.load(tiny_model[1], pose_model_file, DemoConfig(num_poses=1)))
    app.queue()
    port = free_port()
    app.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    yield f"http://127.0.0.1:{port}/"
    app.close()


@pytest.fixture()
def client(server):
    from gradio_client import Client

    return Client(server, verbose=False)


@pytest.fixture(scope="module")
def frames(videos_dir, tmp_path_factory):
    """The first 45 frames of a real clip as image files, with their timestamps."""
    from PIL import Image

    from demo.video import read_video

    folder = tmp_path_factory.mktemp("frames")
    paths = []
    for index, (timestamp, rgb) in enumerate(read_video(videos_dir / "ta_chi.mp4", limit=45)):
        Image.fromarray(rgb).save(folder / f"{index:03d}.png")
        paths.append((timestamp, folder / f"{index:03d}.png"))
    return paths


def test_frames_continue_the_callers_stream(client, frames):
    from gradio_client import handle_file

    results = [client.predict(handle_file(str(path)), timestamp, api_name="/classify_frame")
               for timestamp, path in frames]
    assert results[0]["detected"] == 1 and results[0]["people"][0]["status"] == "warming_up"
    last = results[-1]
    assert last["people"][0]["status"] in ("recognised", "unknown") and len(last["people"][0]["top"]) == 5
    assert last["timestamp"] == pytest.approx(frames[-1][0], abs=1e-3)  # the caller's own clock
    assert sum(r["predicted"] for r in results) >= 3


def test_each_client_has_its_own_session(server, frames):
    from gradio_client import Client, handle_file

    timestamp, path = frames[0]
    first, second = Client(server, verbose=False), Client(server, verbose=False)
    for client in (first, second):
        result = client.predict(handle_file(str(path)), timestamp, api_name="/classify_frame")
        assert result["people"][0]["status"] == "warming_up"  # a fresh stream each, same timestamp accepted


def test_a_whole_clip_gives_its_timeline(client, videos_dir):
    from gradio_client import handle_file

    result = client.predict(handle_file(str(videos_dir / "correct10.mp4")), api_name="/classify_clip")
    assert result["frames"] == 45 and result["timeline"][0]["label"] == "warming up"
    assert result["final"][0]["status"] in ("recognised", "unknown")


def test_bad_input_is_one_message_and_the_app_serves_on(client, tmp_path, videos_dir, frames):
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    fake = tmp_path / "notes.mp4"
    fake.write_text("not a video")
    with pytest.raises(AppError, match=r"notes\.mp4: not a video file"):
        client.predict(handle_file(str(fake)), api_name="/classify_clip")
    with pytest.raises(AppError):
        client.predict(handle_file(str(frames[0][1])), "noon", api_name="/classify_frame")  # not seconds
    with pytest.raises(AppError):
        client.predict(handle_file(str(fake)), 0.0, api_name="/classify_frame")  # not an image
    result = client.predict(handle_file(str(frames[0][1])), 0.0, api_name="/classify_frame")
    assert result["detected"] == 1


def test_a_frame_with_nobody_says_so(client, tmp_path):
    from gradio_client import handle_file
    from PIL import Image

    Image.fromarray(np.full((240, 320, 3), 80, np.uint8)).save(tmp_path / "wall.png")
    result = client.predict(handle_file(str(tmp_path / "wall.png")), 0.0, api_name="/classify_frame")
    assert result["headline"] == "no person in view" and result["people"] == []


def test_live_streams_are_capped_and_closing_one_frees_its_place(tiny_model, pose_model_file):
    from cocodiff.errors import CocodiffError
    from demo.app import DemoModel, ViewerState

    model = DemoModel.load(tiny_model[1], pose_model_file)
    model.max_viewers = 1
    first, second = ViewerState(model), ViewerState(model)
    frame = np.zeros((120, 160, 3), np.uint8)
    first.process(frame, False, 0.0)
    with pytest.raises(CocodiffError, match="serving 1 live streams already"):
        second.process(frame, False, 0.0)
    first.close()
    assert second.process(frame, False, 0.0).headline == "no person in view"
    second.close()


def test_an_idle_viewer_gives_its_place_and_a_failed_first_frame_keeps_none(tiny_model, pose_model_file,
                                                                             monkeypatch):
    import demo.app as app_module
    from cocodiff.errors import CocodiffError
    from demo.app import DemoModel, ViewerState

    model = DemoModel.load(tiny_model[1], pose_model_file)
    model.max_viewers = 1
    frame = np.zeros((120, 160, 3), np.uint8)
    gone, newcomer = ViewerState(model), ViewerState(model)
    gone.process(frame, False, 0.0)  # a tab that then closed: Gradio keeps its state for an hour
    monkeypatch.setattr(app_module, "IDLE_VIEWER_S", 0.0)
    assert newcomer.process(frame, False, 0.0).headline == "no person in view"
    assert gone.session is None  # its stream was closed to make room
    newcomer.close()
    failing = ViewerState(model)
    with pytest.raises(CocodiffError, match="finite"):
        failing.process(frame, False, float("nan"))
    failing.close()  # what the event handler does for a fresh state that failed
    assert not model._viewers


def test_the_demo_config_is_checked():
    from cocodiff.errors import CocodiffError
    from demo.session import DemoConfig

    for bad in ({"num_poses": 0}, {"num_poses": 5}, {"min_confidence": 1.0}, {"timeline_seconds": 0}):
        with pytest.raises(CocodiffError):
            DemoConfig(**bad)
