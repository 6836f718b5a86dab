"""The clip renderer: GIF and PNG output for embedded clips and annotation files, and bad input."""

import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from cocodiff.cli import run_cli
from cocodiff.data.annotations import save_annotations
from cocodiff.data.embedded import EmbeddedConfig, embedded_annotations
from cocodiff.data.layouts import COCO17, NTU25
from cocodiff.data.render import animation, contact_sheet, main, project


def render(*argv):
    return run_cli(main, [str(a) for a in argv])


@pytest.fixture(scope="module")
def ntu_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("render") / "small.pkl"
    save_annotations(embedded_annotations(EmbeddedConfig(train_per_class=1, test_per_class=2)), path)
    return path


@pytest.fixture(scope="module")
def coco_file(tmp_path_factory):
    """A 2D file in image coordinates (pixels, y down), with scores and one unseen joint."""
    rng = np.random.default_rng(0)
    base = np.array([[320, 100 + 20 * j] for j in range(17)], dtype=np.float32)
    keypoint = base[None, None] + rng.normal(0, 3, (1, 12, 17, 2)).astype(np.float32)
    score = np.ones((1, 12, 17), np.float32)
    score[0, :, 3] = 0
    samples = [{"frame_dir": f"c{i}", "label": i, "keypoint": keypoint, "keypoint_score": score, "total_frames": 12}
               for i in range(2)]
    path = tmp_path_factory.mktemp("render") / "coco.pkl"
    save_annotations({"split": {"test": ["c0", "c1"]}, "annotations": samples, "meta": {"layout": "coco17"}}, path)
    return path


def assert_gif(path, frames_at_least=2):
    with Image.open(path) as image:
        assert image.format == "GIF" and image.is_animated and image.n_frames >= frames_at_least


def assert_png(path):
    with Image.open(path) as image:
        image.load()
        assert image.format == "PNG" and image.width > 100 and image.height > 100


def test_embedded_clip_to_gif_and_png(tmp_path):
    assert render("embedded", "--class", "wave right hand", "--stride", "6", "--out", tmp_path / "w.gif") == 0
    assert_gif(tmp_path / "w.gif")
    assert render("embedded", "--class", "3", "--split", "val", "--index", "2", "--side", "--out", tmp_path / "s.png") == 0
    assert_png(tmp_path / "s.png")


def test_grid_of_every_class(tmp_path):
    assert render("embedded", "--grid", "--frames", "3", "--out", tmp_path / "grid.png") == 0
    assert_png(tmp_path / "grid.png")


def test_annotation_file_by_index_frame_dir_and_grid(tmp_path, ntu_file):
    assert render("file", ntu_file, "--split", "val", "--index", "1", "--side", "--out", tmp_path / "a.png") == 0
    assert_png(tmp_path / "a.png")
    assert render("file", ntu_file, "--split", "train", "--frame-dir", "emb_A02_P02_000", "--stride", "8",
                  "--out", tmp_path / "b.gif") == 0
    assert_gif(tmp_path / "b.gif")
    assert render("file", ntu_file, "--split", "val", "--grid", "--frames", "2", "--out", tmp_path / "g.png") == 0
    assert_png(tmp_path / "g.png")


def test_2d_layout_with_scores(tmp_path, coco_file):
    assert render("file", coco_file, "--out", tmp_path / "c.png") == 0
    assert_png(tmp_path / "c.png")
    assert render("file", coco_file, "--index", "1", "--out", tmp_path / "c.gif") == 0
    assert_gif(tmp_path / "c.gif")


# ---- what is drawn, pixel by pixel -----------------------------------------------------------------
# A person facing the camera in image coordinates (pixels, y down): their right side at small x.
FACING = {"nose": (300, 60), "eye": (20, 50), "ear": (40, 55), "shoulder": (70, 150), "elbow": (110, 230),
          "wrist": (130, 300), "hip": (50, 320), "knee": (55, 420), "ankle": (60, 520)}


def facing_pose() -> np.ndarray:
    """(17, 2) COCO-17 joints: right_* at 300 - dx, left_* at 300 + dx."""
    pose = np.zeros((17, 2), np.float32)
    for j, name in enumerate(COCO17.joints):
        side, _, part = name.partition("_")
        if name == "nose":
            pose[j] = FACING["nose"]
        else:
            dx, y = FACING[part]
            pose[j] = (300 - dx if side == "right" else 300 + dx, y)
    return pose


def pixels(png: bytes) -> np.ndarray:
    import io

    with Image.open(io.BytesIO(png)) as image:
        return np.asarray(image.convert("RGB")).astype(int)


def coloured(rgb: np.ndarray, hex_colour: str, tolerance: int = 40) -> np.ndarray:
    """(H, W) bool: pixels within `tolerance` of the colour on every channel."""
    target = np.array([int(hex_colour[i:i + 2], 16) for i in (1, 3, 5)])
    return (np.abs(rgb - target) <= tolerance).all(axis=-1)


def test_the_subjects_right_is_red_on_the_images_left_and_the_head_is_on_top():
    keypoint = facing_pose()[None, None]  # one person, one frame
    rgb = pixels(contact_sheet({"keypoint": keypoint, "total_frames": 1}, COCO17, "facing", frames=1))
    red, blue, grey = coloured(rgb, "#d62728"), coloured(rgb, "#1f77b4"), coloured(rgb, "#555555", 20)
    assert red.sum() > 100 and blue.sum() > 100, "both sides drawn"
    red_rows, red_columns = np.nonzero(red)
    blue_rows, blue_columns = np.nonzero(blue)
    assert red_columns.max() < blue_columns.min(), "every red pixel left of every blue one"
    # mirror images of each other about the nose's column, to a few pixels
    nose_column = (red_columns.mean() + blue_columns.mean()) / 2
    assert abs((nose_column - red_columns.mean()) - (blue_columns.mean() - nose_column)) < 3
    assert abs(red_rows.mean() - blue_rows.mean()) < 3, "both sides at the same heights"
    # the nose (the only centre joint) is a grey dot above the shoulders' bones
    grey_rows, grey_columns = np.nonzero(grey & ~red & ~blue)
    near_nose = np.abs(grey_columns - nose_column) < 8
    assert near_nose.any() and grey_rows[near_nose].mean() < red_rows.min() + 15


def test_a_frame_with_nobody_draws_no_bones():
    keypoint = np.zeros((1, 2, 17, 2), np.float32)
    keypoint[0, 0] = facing_pose()  # frame 0 a person, frame 1 a dropped frame
    rgb = pixels(contact_sheet({"keypoint": keypoint, "total_frames": 2}, COCO17, "gap", frames=2))
    drawn = coloured(rgb, "#d62728") | coloured(rgb, "#1f77b4")
    _, columns = np.nonzero(drawn)
    middle = rgb.shape[1] / 2
    assert (columns < middle).all(), "only the first panel has a skeleton"


def test_the_animation_has_one_image_per_stride_and_the_motion_shows():
    keypoint = np.repeat(facing_pose()[None, None], 12, axis=1)
    keypoint[0, :, :, 0] += np.arange(12, dtype=np.float32)[:, None] * 20  # walks to the image's right
    gif = animation({"keypoint": keypoint, "total_frames": 12}, COCO17, "walk", stride=4)
    import io

    with Image.open(io.BytesIO(gif)) as image:
        assert image.n_frames == 3  # frames 0, 4, 8
        centres = []
        for index in range(image.n_frames):
            image.seek(index)
            _, columns = np.nonzero(coloured(np.asarray(image.convert("RGB")).astype(int), "#d62728", 50))
            centres.append(columns.mean())
    assert centres[0] < centres[1] < centres[2], "fixed axes: the person moves across them"


def test_front_view_is_what_the_camera_sees():
    # Kinect: a subject facing the camera has their right shoulder at larger x, drawn on the left.
    kinect = np.zeros((25, 3))
    kinect[NTU25.index("right_shoulder")] = [0.2, 0.5, 3.0]
    kinect[NTU25.index("left_shoulder")] = [-0.2, 0.5, 3.0]
    front = project(kinect, NTU25, "front")
    assert front[NTU25.index("right_shoulder"), 0] < front[NTU25.index("left_shoulder"), 0]
    # Image coordinates: y grows downwards, so a lower y is drawn higher.
    image = np.zeros((17, 2))
    image[COCO17.index("nose")] = [100, 50]
    image[COCO17.index("left_ankle")] = [100, 400]
    drawn = project(image, COCO17, "front")
    assert drawn[COCO17.index("nose"), 1] > drawn[COCO17.index("left_ankle"), 1]


@pytest.mark.parametrize("argv, message", [
    (["file", "MISSING.pkl"], "no such file"),
    (["embedded", "--class", "fly"], "unknown class 'fly'"),
    (["embedded", "--class", "99"], "out of range"),
    (["embedded", "--class", "0", "--index", "500"], "out of range"),
    (["embedded", "--class", "0", "--split", "test"], "unknown split"),
    (["embedded"], "--class"),
])
def test_bad_input_is_one_clear_line(tmp_path, capsys, argv, message):
    argv = [str(tmp_path / a) if a.endswith(".pkl") else a for a in argv]
    assert render(*argv, "--out", tmp_path / "x.png") == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("error:") and message in error and "\n" not in error
    assert not (tmp_path / "x.png").exists()


def test_file_errors(tmp_path, capsys, ntu_file):
    assert render("file", ntu_file, "--split", "val", "--index", "100", "--out", tmp_path / "x.png") == 2
    assert "out of range" in capsys.readouterr().err
    assert render("file", ntu_file, "--split", "nope", "--out", tmp_path / "x.png") == 2
    assert "no split 'nope'" in capsys.readouterr().err
    assert render("file", ntu_file, "--frame-dir", "nothing", "--out", tmp_path / "x.png") == 2
    assert "no sample 'nothing'" in capsys.readouterr().err
    assert render("embedded", "--class", "0", "--out", tmp_path / "x.jpg") == 2
    assert ".gif or .png" in capsys.readouterr().err
    assert render("embedded", "--grid", "--out", tmp_path / "x.gif") == 2
    assert "--grid" in capsys.readouterr().err


def test_module_entry_point(tmp_path):
    done = subprocess.run([sys.executable, "-m", "cocodiff.data.render", "embedded", "--class", "bogus",
                           "--out", str(tmp_path / "x.png")], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "unknown class" in done.stderr
