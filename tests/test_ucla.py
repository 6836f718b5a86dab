"""NW-UCLA reader: the real all_sqe folder, broken files, and the prepare command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cocodiff.data import prepare
from cocodiff.data.annotations import load_annotations
from cocodiff.data.convert import ConversionReport
from cocodiff.data.readers.ucla import read_ucla_json, ucla_annotations
from cocodiff.errors import CocodiffError, DataError

REPO = Path(__file__).resolve().parents[1]
CLASSES = [
    "pick up with one hand", "pick up with two hands", "drop trash", "walk around", "sit down",
    "stand up", "donning", "doffing", "throw", "carry",
]
ACTION_OF_LABEL = ["a01", "a02", "a03", "a04", "a05", "a06", "a08", "a09", "a11", "a12"]


@pytest.fixture(scope="module")
def ucla_all(ucla_dir):
    report = ConversionReport()
    return ucla_annotations(ucla_dir, report), report


def test_real_folder_converts_with_cross_view_splits(ucla_dir, ucla_all):
    content, report = ucla_all
    assert (report.converted, report.skipped, report.failed) == (1484, [], [])
    names = [sample["frame_dir"] for sample in content["annotations"]]
    assert names == sorted(path.stem for path in ucla_dir.glob("*.json"))
    train, val = content["split"]["xview_train"], content["split"]["xview_val"]
    assert (len(train), len(val)) == (1020, 464)
    assert set(train) | set(val) == set(names) and not set(train) & set(val)
    assert all(name.endswith(("_v01", "_v02")) for name in train)
    assert all(name.endswith("_v03") for name in val)
    # Development folds leave one training view out and never touch the test view.
    assert set(content["split"]["view1"]) | set(content["split"]["view2"]) == set(train)
    assert not set(content["split"]["view1"]) & set(content["split"]["view2"])
    assert content["split"]["view3"] == val
    assert content["meta"] == {"layout": "kinect20", "classes": CLASSES, "dataset": "nw_ucla",
                               "source": "cocodiff.data.prepare ucla", "fps": 30.0, "frame": {"x": "left", "y": "up", "z": "away", "units": "metres", "origin": "camera"},
                               "person_order": "recorded"}


def test_real_labels_follow_the_action_in_the_name(ucla_all):
    content, _ = ucla_all
    labels = set()
    for sample in content["annotations"]:
        assert sample["frame_dir"][:3] == ACTION_OF_LABEL[sample["label"]]
        labels.add(sample["label"])
        assert sample["keypoint"].dtype == np.float32
        assert sample["keypoint"].shape == (1, sample["total_frames"], 20, 3)
    assert labels == set(range(10))


def test_real_values_match_the_json(ucla_dir, ucla_all):
    content, _ = ucla_all
    by_name = {sample["frame_dir"]: sample for sample in content["annotations"]}
    for name in ("a01_s01_e00_v01", "a12_s10_e04_v03"):
        raw = json.loads((ucla_dir / f"{name}.json").read_text())
        sample = by_name[name]
        assert sample["label"] == raw["label"] - 1
        assert sample["total_frames"] == len(raw["skeletons"])
        frame = len(raw["skeletons"]) // 2
        for joint in (0, 7, 19):
            assert sample["keypoint"][0, frame, joint].tolist() == pytest.approx(raw["skeletons"][frame][joint], abs=1e-6)


# --- synthetic files -------------------------------------------------------------------------

_DROP = object()  # marks a key to leave out of the written json


def _sequence(frames: int = 4) -> list:
    rng = np.random.default_rng(0)
    return rng.normal(size=(frames, 20, 3)).round(4).tolist()


def _write(folder: Path, name: str = "a01_s01_e00_v01", **changes) -> Path:
    content = {"file_name": name, "skeletons": _sequence(), "label": 1}
    content.update(changes)
    for key in [key for key, value in content.items() if value is _DROP]:
        del content[key]
    path = folder / f"{name}.json"
    path.write_text(json.dumps(content))
    return path


def test_reads_one_good_file(tmp_path):
    skeletons = _sequence(6)
    path = _write(tmp_path, "a08_s02_e01_v03", skeletons=skeletons, label=7)
    sample = read_ucla_json(path)
    assert sample["frame_dir"] == "a08_s02_e01_v03"
    assert sample["label"] == 6 and sample["total_frames"] == 6
    assert sample["keypoint"].dtype == np.float32 and sample["keypoint"].shape == (1, 6, 20, 3)
    np.testing.assert_allclose(sample["keypoint"][0], np.array(skeletons), atol=1e-6)


def _bad_json(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _frames_with(change) -> list:
    frames = _sequence()
    change(frames)
    return frames


BAD_CONTENT = {
    "missing skeletons": (dict(skeletons=_DROP), r"missing key\(s\) 'skeletons'"),
    "missing two keys": (dict(file_name=_DROP, label=_DROP), r"missing key\(s\) 'file_name', 'label'"),
    "skeletons not a list": (dict(skeletons={"a": 1}), r"'skeletons' must be a list of frames, got an object"),
    "zero frames": (dict(skeletons=[]), r"zero frames"),
    "19 joints in one frame": (dict(skeletons=_frames_with(lambda f: f[2].pop())), r"skeletons\[2\] has 19 joints, but layout 'kinect20' has 20"),
    "25 joints everywhere": (dict(skeletons=np.zeros((3, 25, 3)).tolist()), r"skeletons\[0\] has 25 joints"),
    "2 coordinates": (dict(skeletons=np.zeros((3, 20, 2)).tolist()), r"skeletons\[0\]\[0\] must be 3 coordinates \(x, y, z\), got 2 values"),
    "string coordinate": (dict(skeletons=_frames_with(lambda f: f[1][4].__setitem__(2, "abc"))), r"non-numeric coordinate 'abc' at skeletons\[1\]\[4\]"),
    "null coordinate": (dict(skeletons=_frames_with(lambda f: f[3][0].__setitem__(0, None))), r"non-numeric coordinate None at skeletons\[3\]\[0\]"),
    "NaN": (dict(skeletons=_frames_with(lambda f: f[2][5].__setitem__(1, float("nan")))), r"NaN or infinite coordinate at skeletons\[2\]\[5\]"),
    "label mismatch": (dict(label=3), r"'label' is 3 but action a01 in the file name is label 1"),
    "label out of range": (dict(label=11), r"'label' must be an integer from 1 to 10, got 11"),
    "label not an integer": (dict(label="1"), r"'label' must be an integer from 1 to 10, got '1'"),
    "file_name differs": (dict(file_name="a01_s01_e00_v02"), r"'file_name' is 'a01_s01_e00_v02' but the file is called 'a01_s01_e00_v01'"),
}


@pytest.mark.parametrize("case", sorted(BAD_CONTENT))
def test_bad_content_is_one_clear_error(tmp_path, case):
    changes, message = BAD_CONTENT[case]
    path = _write(tmp_path, **changes)
    with pytest.raises(DataError, match=message) as caught:
        read_ucla_json(path)
    assert caught.value.source == str(path)
    assert "\n" not in str(caught.value)


BAD_BYTES = {
    "binary": (b"\x80\x04\x95\x00\xff\xfe binary", r"not a JSON file \(binary data"),
    "truncated": (b'{"file_name": "a01_s01_e00_v01", "skeletons": [[[0.1, 0.2', r"truncated JSON"),
    "garbage text": (b"file_name = a01", r"not valid JSON \(line 1 column 1"),
    "empty": (b"", r"empty file"),
    "a list": (b"[1, 2, 3]", r"expected a JSON object, got a list"),
}


@pytest.mark.parametrize("case", sorted(BAD_BYTES))
def test_unreadable_file_is_one_clear_error(tmp_path, case):
    data, message = BAD_BYTES[case]
    path = _bad_json(tmp_path / "a01_s01_e00_v01.json", data)
    with pytest.raises(DataError, match=message) as caught:
        read_ucla_json(path)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("name, message", [
    ("walk_01", r"does not follow the NW-UCLA pattern"),
    ("a07_s01_e00_v01", r"action a07 in the file name is not one of NW-UCLA's"),
    ("a01_s01_e00_v04", r"view v04 in the file name; NW-UCLA has views v01 to v03"),
])
def test_bad_file_name(tmp_path, name, message):
    with pytest.raises(DataError, match=message):
        read_ucla_json(_write(tmp_path, name))


def test_folder_reports_bad_files_and_keeps_the_rest(tmp_path):
    _write(tmp_path, "a01_s01_e00_v01")
    _write(tmp_path, "a02_s01_e00_v02", label=2)
    _write(tmp_path, "a12_s03_e01_v03", label=10)
    _write(tmp_path, "a03_s01_e00_v01", label=1)  # wrong label
    _bad_json(tmp_path / "a04_s01_e00_v01.json", b'{"skeletons": [')
    report = ConversionReport()
    content = ucla_annotations(tmp_path, report)
    assert content["split"] == {"xview_train": ["a01_s01_e00_v01", "a02_s01_e00_v02"], "xview_val": ["a12_s03_e01_v03"],
                                "view1": ["a01_s01_e00_v01"], "view2": ["a02_s01_e00_v02"], "view3": ["a12_s03_e01_v03"]}
    assert [sample["label"] for sample in content["annotations"]] == [0, 1, 9]
    assert report.converted == 3 and report.skipped == []
    assert sorted(Path(path).name for path, _ in report.failed) == ["a03_s01_e00_v01.json", "a04_s01_e00_v01.json"]


def test_missing_or_empty_folder(tmp_path):
    with pytest.raises(DataError, match="no such folder"):
        ucla_annotations(tmp_path / "absent", ConversionReport())
    with pytest.raises(CocodiffError, match=r"no files matching '\*\.json'"):
        ucla_annotations(tmp_path, ConversionReport())


# --- the command line ------------------------------------------------------------------------

def test_prepare_command_end_to_end(ucla_dir, tmp_path, capsys):
    out = tmp_path / "ucla.pkl"
    assert prepare.main(["ucla", str(ucla_dir), "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert "converted 1484, skipped 0, failed 0" in captured.err
    assert "split xview_train: 1020" in captured.out and "split xview_val: 464" in captured.out
    content = load_annotations(out)
    assert content["meta"]["layout"] == "kinect20" and content["meta"]["classes"] == CLASSES
    assert len(content["annotations"]) == 1484
    assert {name: len(members) for name, members in content["split"].items()} == {
        "xview_train": 1020, "xview_val": 464, "view1": 516, "view2": 504, "view3": 464}


def test_prepare_command_missing_folder_exits_2_with_one_line(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "cocodiff.data.prepare", "ucla", "/nonexistent", "--out", "x.pkl"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))},
    )
    assert result.returncode == 2
    assert result.stderr.splitlines() == ["error: /nonexistent: no such folder"]
    assert not (tmp_path / "x.pkl").exists()
