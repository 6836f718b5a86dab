"""Landmark recordings (a real MediaPipe dump and the demo's own format), and which of MediaPipe's
outputs a model is fed."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cocodiff.data.frames import IMAGE, MEDIAPIPE_WORLD
from cocodiff.errors import CocodiffError, DataError
from demo.landmark_files import FORMAT, read_landmark_file, write_recording
from demo.landmarks import PoseFrame, model_feed
from tiny_runs import contract_for


def test_a_real_mediapipe_dump_reads_as_image_landmarks(videos_dir):
    frames = read_landmark_file(videos_dir / "correct10.mediapipe.json", fps=25)
    assert len(frames) == 45  # the push-up clip has 45 frames
    assert [f.timestamp for f in frames[:3]] == pytest.approx([0.0, 0.04, 0.08])
    first = frames[0]
    assert first.num_people == 1 and first.world is None
    assert first.image.shape == (1, 33, 2) and first.visibility.shape == (1, 33)
    assert 0.0 <= first.image.min() and first.image.max() <= 1.0  # normalised image coordinates
    assert first.visibility[0, 0] == pytest.approx(0.98984, abs=1e-4)  # the nose, as recorded
    assert [f.num_people for f in frames].count(1) == 44 and frames[1].num_people == 0  # one frame found nobody


def _frame(t, people=1, world=True, rng=np.random.default_rng(0)):
    return PoseFrame(t, rng.uniform(0, 1, (people, 33, 2)).astype(np.float32),
                     rng.uniform(0, 1, (people, 33)).astype(np.float32),
                     rng.normal(0, 0.3, (people, 33, 3)).astype(np.float32) if world else None, (640, 480))


def test_a_recording_round_trips(tmp_path):
    frames = [_frame(0.0), _frame(1 / 30, people=2), _frame(2 / 30, people=0)]
    path = write_recording(tmp_path / "take.json", frames, 30.0, (640, 480))
    assert json.loads(path.read_text())["format"] == FORMAT
    back = read_landmark_file(path)
    assert [f.num_people for f in back] == [1, 2, 0]
    for mine, theirs in zip(frames, back):
        assert theirs.timestamp == pytest.approx(mine.timestamp, abs=1e-6)
        np.testing.assert_allclose(theirs.image, mine.image, atol=1e-5)
        np.testing.assert_allclose(theirs.visibility, mine.visibility, atol=1e-5)
        np.testing.assert_allclose(theirs.world, mine.world, atol=1e-5)
    assert back[0].size == (640, 480)
    slower = read_landmark_file(path, fps=15)  # recorded at 30, replayed as if at 15
    assert slower[1].timestamp == pytest.approx(2 / 30, abs=1e-5)


@pytest.mark.parametrize("content, problem", [
    ("{", "not a JSON landmark file"),
    ('{"format": "other"}', "neither a list of frames nor"),
    ('[{"keypoints": [{"x": 1, "y": 2}]}]', "frame 0: expected 33 keypoints, got 1"),
    ('[{"keypoints": []}, {"keypoints": [' + ",".join(['{"x": 0.5}'] * 33) + "]}]",
     "frame 1: a keypoint lacks a number for 'y'"),
    ('[7]', "frame 0: expected an object"),
    (json.dumps({"format": FORMAT, "version": 1, "fps": 30, "frames": [{"t": 0.1, "people": []},
                                                                         {"t": 0.1, "people": []}]}),
     "frame 1: timestamp 0.1 does not increase"),
    (json.dumps({"format": FORMAT, "version": 9, "frames": []}), "recording version 9"),
    (json.dumps({"format": FORMAT, "version": 1, "fps": "fast", "frames": []}), "fps must be a positive number"),
    (json.dumps({"format": FORMAT, "version": 1, "size": ["a", "b"], "frames": []}), "size must be [width, height]"),
    (json.dumps({"format": FORMAT, "version": 1, "frames": [{"t": 0, "people": [{"image": [[0.5, 0.5, 1]] * 66}]}]}),
     "frame 0: a person's 'image' must be 33 rows of 3 finite numbers"),
    (json.dumps({"format": FORMAT, "version": 1, "frames": [{"t": 0, "people": [
        {"image": [[0.5, 0.5, 1]] * 33, "world": [[0.1, float("nan"), 0.0]] * 33}]}]}), "'world' must be 33 rows"),
    (json.dumps({"format": FORMAT, "version": 1, "frames": [{"t": "soon", "people": []}]}),
     "frame 0: t must be a finite number"),
])
def test_bad_landmark_files_are_one_line_naming_the_file(tmp_path, content, problem):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(DataError) as caught:
        read_landmark_file(path)
    assert str(path) in str(caught.value) and problem in str(caught.value) and "\n" not in str(caught.value)


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(DataError, match="nothing.json: landmark file not found"):
        read_landmark_file(tmp_path / "nothing.json")


def test_a_3d_model_takes_world_landmarks_and_a_2d_model_image_landmarks_with_visibility():
    frame = _frame(0.0, people=2)
    feed = model_feed(contract_for(["a", "b"]))
    assert feed.source.frame == MEDIAPIPE_WORLD
    persons, scores = feed.persons(frame)
    assert persons is frame.world and scores is None
    flat = model_feed(contract_for(["a", "b"], "coco17", in_channels=3, score_channel=True))
    assert flat.source.frame == IMAGE
    persons, scores = flat.persons(frame)
    assert persons is frame.image and scores is frame.visibility


def test_image_landmarks_alone_cannot_feed_a_3d_model():
    with pytest.raises(CocodiffError, match="image landmarks only, but the model is 3D"):
        model_feed(contract_for(["a", "b"])).persons(_frame(0.0, world=False))
