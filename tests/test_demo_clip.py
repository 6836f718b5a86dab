"""A whole video annotated: the clip written back playable with every frame, the labels, and the
clear answers for a file that is not a video and a video with nobody in it."""

from __future__ import annotations

import numpy as np
import pytest

from cocodiff.errors import CocodiffError
from demo.clip import annotate_clip
from demo.video import WebmWriter, read_video, video_info
from serve.backends import open_backend


@pytest.fixture(scope="module")
def backend(tiny_model):
    return open_backend(tiny_model[1])


def test_a_real_clip_is_annotated_frame_for_frame(backend, pose_model_file, videos_dir, tmp_path):
    calls = []
    result = annotate_clip(videos_dir / "correct10.mp4", backend, pose_model_file, out=tmp_path / "out.webm",
                           progress=lambda done, total: calls.append((done, total)))
    assert result.frames == 45 and result.fps == pytest.approx(25.0) and result.people_seen >= 44
    assert calls[0] == (1, 45) and calls[-1] == (45, 45)
    info = video_info(result.video)
    assert (info.width, info.height) == (640, 360)
    written = [rgb for _, rgb in read_video(result.video)]
    original = [rgb for _, rgb in read_video(videos_dir / "correct10.mp4")]
    assert len(written) == 45
    assert np.abs(written[30].astype(int) - original[30]).mean() > 1.0  # the skeleton is drawn on it
    summary = result.to_dict()
    assert summary["frames"] == 45 and summary["timeline"][0] == {"t": 0.0, "person": 1, "label": "warming up"}
    assert summary["final"] and summary["final"][0]["status"] in ("recognised", "unknown")
    assert result.timeline.shape[1] == 640


def test_a_file_that_is_not_a_video_is_one_line(backend, pose_model_file, tmp_path):
    fake = tmp_path / "holiday.mp4"
    fake.write_text("this is not a video")
    with pytest.raises(CocodiffError, match=r"holiday\.mp4: not a video file"):
        annotate_clip(fake, backend, pose_model_file, out=tmp_path / "out.webm")
    assert not (tmp_path / "out.webm").exists()
    with pytest.raises(CocodiffError, match=r"missing\.mp4: video file not found"):
        annotate_clip(tmp_path / "missing.mp4", backend, pose_model_file)


def test_a_video_with_nobody_in_it_says_so(backend, pose_model_file, tmp_path):
    writer = WebmWriter(tmp_path / "empty_room.webm", 10, (320, 240))
    for shade in range(15):
        writer.write(np.full((240, 320, 3), 60 + shade, np.uint8))
    result = annotate_clip(writer.close(), backend, pose_model_file)
    assert result.frames == 15 and result.people_seen == 0 and result.final == ()
    assert result.headline == "no person in view in this video"


def test_an_aborted_writer_leaves_nothing(tmp_path):
    writer = WebmWriter(tmp_path / "half.webm", 10, (64, 48))
    writer.write(np.zeros((48, 64, 3), np.uint8))
    writer.abort()
    assert list(tmp_path.iterdir()) == []


def test_a_y4m_for_a_fake_camera_holds_every_frame(videos_dir, tmp_path):
    from demo.video import write_y4m

    path = write_y4m(videos_dir / "ta_chi.mp4", tmp_path / "camera.y4m", frames=5)
    data = path.read_bytes()
    header, _, body = data.partition(b"\n")
    assert header == b"YUV4MPEG2 W640 H480 F30:1 Ip A1:1 C420jpeg"
    frame = len(b"FRAME\n") + 640 * 480 * 3 // 2  # I420: a full Y plane, quarter U and V planes
    assert len(body) == 5 * frame and body[:6] == b"FRAME\n" and body[frame:frame + 6] == b"FRAME\n"


@pytest.mark.slow
def test_ntus_mirrored_video_is_flipped_back_and_recognised_through(backend, pose_model_file, ntu_dir):
    video = ntu_dir / "video" / "S001C001P001R001A001_rgb.avi"
    result = annotate_clip(video, backend, pose_model_file, flip=True)
    assert result.frames == 103 and result.people_seen == 103 and len(result.final) == 1
    assert result.final[0].status in ("recognised", "unknown")
