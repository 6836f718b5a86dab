"""The demo's live path driven by real recorded video, frame by frame: pose, the live recogniser,
the drawing; nobody in view, two people, an unknown action, models of other layouts."""

from __future__ import annotations

import numpy as np
import pytest

from demo.drawing import LEFT, RIGHT, draw_people
from demo.session import NO_PERSON, UNKNOWN_ACTION, DemoConfig, LiveSession
from demo.video import read_video
from serve.backends import open_backend
from tiny_runs import layout_checkpoint


@pytest.fixture(scope="module")
def backend(tiny_model):
    return open_backend(tiny_model[1])  # the tiny model's ONNX export: 18 embedded classes, clips of 2 s


@pytest.fixture(scope="module")
def ta_chi(videos_dir):
    return list(read_video(videos_dir / "ta_chi.mp4", size=(640, 480), limit=60))


def _colour_pixels(image: np.ndarray, colour) -> int:
    return int((np.abs(image.astype(int) - colour).sum(axis=-1) < 40).sum())


def test_a_real_video_goes_through_frame_by_frame(backend, pose_model_file, ta_chi):
    session = LiveSession(backend, pose_model_file, DemoConfig(num_poses=1))
    try:
        views = [session.process(rgb, timestamp) for timestamp, rgb in ta_chi]
    finally:
        session.close()
    assert all(view.detected == 1 for view in views)  # one person, found in every frame
    assert views[0].headline == "warming up" and views[0].people[0].status == "warming_up"
    later = views[-1]
    assert later.people[0].status in ("recognised", "unknown") and later.top and len(later.top) == 5
    assert sum(view.predicted for view in views) >= 4  # every 0.2 s once warmed up (1 s: half a clip)
    timestamp, frame = ta_chi[-1]
    assert later.image.shape == frame.shape and not np.array_equal(later.image, frame)
    # Bones are drawn in the subject's colours: right red, left blue, both on the picture.
    assert _colour_pixels(later.image, RIGHT) > 200 and _colour_pixels(later.image, LEFT) > 200
    assert _colour_pixels(frame, RIGHT) < 50  # ... and not in the clip itself
    assert later.timeline.shape[1] == 640 and (later.timeline != 245).any()
    assert later.fps > 0 and later.latency_ms > 0 and set(later.stage_ms) == {"pose", "recognition", "drawing"}


def test_nobody_in_view_says_so(backend, pose_model_file):
    session = LiveSession(backend, pose_model_file, DemoConfig(num_poses=1))
    try:
        blank = np.full((480, 640, 3), 90, np.uint8)
        views = [session.process(blank, t / 10) for t in range(3)]
    finally:
        session.close()
    assert all(view.headline == NO_PERSON and not view.people and view.top == {} for view in views)
    assert not np.array_equal(views[-1].image, blank)  # the message is written on the frame


def test_two_people_are_labelled_each(backend, pose_model_file, videos_dir):
    left = list(read_video(videos_dir / "ta_chi.mp4", limit=45))
    right = list(read_video(videos_dir / "clean_and_jerk.mp4", limit=45))
    session = LiveSession(backend, pose_model_file, DemoConfig(num_poses=2))
    try:
        views = [session.process(np.concatenate([a, b], axis=1), t) for (t, a), (_, b) in zip(left, right)]
    finally:
        session.close()
    last = views[-1]
    assert last.detected == 2 and [p.row for p in last.people] == [0, 1]
    assert "person 1:" in last.headline and "person 2:" in last.headline
    assert {p.track for p in last.people} == {p.track for p in views[-10].people}  # tracks hold


def test_below_the_threshold_it_is_an_unknown_action(backend, pose_model_file, ta_chi):
    session = LiveSession(backend, pose_model_file, DemoConfig(num_poses=1, threshold=1.0))
    try:
        views = [session.process(rgb, t) for t, rgb in ta_chi[:40]]
    finally:
        session.close()
    assert views[-1].people[0].status == "unknown" and views[-1].headline == UNKNOWN_ACTION


def test_mirroring_is_for_display_only(backend, pose_model_file, ta_chi):
    plain, mirrored = (LiveSession(backend, pose_model_file, DemoConfig(num_poses=1)) for _ in range(2))
    try:
        for t, rgb in ta_chi[:36]:
            a, b = plain.process(rgb, t), mirrored.process(rgb, t, mirror=True)
    finally:
        plain.close()
        mirrored.close()
    # The model saw the same, unmirrored frames either way.
    assert [name for name, _ in a.people[0].top] == [name for name, _ in b.people[0].top]
    assert [p for _, p in a.people[0].top] == pytest.approx([p for _, p in b.people[0].top], abs=1e-6)
    image, landmarks, visibility = ta_chi[0][1], np.array([[[0.2, 0.3]] * 33]), np.ones((1, 33))
    flipped = draw_people(image, landmarks, visibility, mirror=True)
    np.testing.assert_array_equal(flipped, draw_people(image[:, ::-1], landmarks * [-1, 1] + [1 - 1 / 640, 0],
                                                       visibility))


@pytest.mark.parametrize("layout", ["coco17", "openpose18", "kinect20"])
def test_models_of_other_layouts_are_fed_through_the_retargeting(tmp_path, pose_model_file, ta_chi, layout):
    backend = open_backend(layout_checkpoint(tmp_path / f"{layout}.pt", layout), device="cpu")
    session = LiveSession(backend, pose_model_file, DemoConfig(num_poses=1))
    try:
        views = [session.process(rgb, t) for t, rgb in ta_chi[:40]]
    finally:
        session.close()
    assert any(view.predicted for view in views) and views[-1].people[0].status in ("recognised", "unknown")
