"""Kinetics-Skeleton reader: the real samples, person ranking, class names, broken files, the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from cocodiff.data import prepare
from cocodiff.data.annotations import load_annotations
from cocodiff.data.convert import ConversionReport
from cocodiff.data.readers.kinetics import kinetics_annotations, read_kinetics_json
from cocodiff.errors import CocodiffError, DataError

VIDEOS = ["__NrybzYzUg", "__U_scuxNlQ", "__lt03EF4ao", "__vOysOPoCY"]
REAL_LABELS = {"__NrybzYzUg": (0, "abseiling"), "__U_scuxNlQ": (58, "clay pottery making"),
               "__lt03EF4ao": (208, "passing American football (in game)"), "__vOysOPoCY": (207, "parkour")}


@pytest.fixture(scope="module")
def real(kinetics_dir):
    skeleton = kinetics_dir / "skeleton"
    return skeleton, skeleton / "kinetics_val_label.json"


def _expected_persons(raw: dict, keep: int):
    """From the raw json, independently: slot i = i-th person listed in a frame; best total score first."""
    frames = max(entry["frame_index"] for entry in raw["data"])
    slots: dict[int, dict[int, dict]] = {}
    for entry in raw["data"]:
        for slot, person in enumerate(entry["skeleton"]):
            slots.setdefault(slot, {})[entry["frame_index"]] = person
    totals = {slot: sum(sum(person["score"]) for person in people.values()) for slot, people in slots.items()}
    ranked = sorted(totals, key=lambda slot: (-totals[slot], slot))[:keep]
    keypoint = np.zeros((keep, frames, 18, 2))
    score = np.zeros((keep, frames, 18))
    for rank, slot in enumerate(ranked):
        for frame_index, person in slots[slot].items():
            for joint in range(18):
                keypoint[rank, frame_index - 1, joint] = person["pose"][2 * joint], person["pose"][2 * joint + 1]
                score[rank, frame_index - 1, joint] = person["score"][joint]
    return keypoint, score, [totals[slot] for slot in ranked], totals


def test_real_samples_convert(real):
    folder, labels = real
    report = ConversionReport()
    content = kinetics_annotations({"val": (folder, labels)}, report)
    assert (report.converted, report.skipped, report.failed) == (4, [], [])  # the label json is not a video
    assert content["split"] == {"val": VIDEOS}
    classes = content["meta"]["classes"]
    assert len(classes) == 209
    assert classes[1] == "class 1" and classes[206] == "class 206"
    assert {k: v for k, v in content["meta"].items() if k != "classes"} == {
        "layout": "openpose18", "dataset": "kinetics", "source": "cocodiff.data.prepare kinetics", "fps": 30.0,
        "frame": {"x": "right", "y": "down", "z": None, "units": "normalised", "origin": "corner"}, "person_order": "confidence"}
    for sample in content["annotations"]:
        index, name = REAL_LABELS[sample["frame_dir"]]
        assert sample["label"] == index and classes[index] == name


@pytest.mark.parametrize("keep", [1, 2, 3])
def test_real_persons_are_the_most_confident_slots(real, keep):
    folder, _ = real
    for video in VIDEOS:
        raw = json.loads((folder / f"{video}.json").read_text())
        sample = read_kinetics_json(folder / f"{video}.json", max_persons=keep)
        keypoint, score, kept, totals = _expected_persons(raw, keep)
        assert sample["keypoint"].dtype == np.float32 and sample["keypoint_score"].dtype == np.float32
        assert sample["keypoint"].shape == (keep, len(raw["data"]), 18, 2)
        assert sample["total_frames"] == len(raw["data"]) and sample["label"] == raw["label_index"]
        np.testing.assert_allclose(sample["keypoint"], keypoint, atol=1e-6)
        np.testing.assert_allclose(sample["keypoint_score"], score, atol=1e-6)
        got = sample["keypoint_score"].sum(axis=(1, 2))
        assert list(got) == sorted(got, reverse=True)
        np.testing.assert_allclose(got[: len(kept)], kept, rtol=1e-5)
        dropped = sorted(totals.values(), reverse=True)[keep:]
        assert all(value <= got[-1] + 1e-4 for value in dropped)


def test_real_two_person_clip_keeps_both(real):
    folder, _ = real
    sample = read_kinetics_json(folder / "__lt03EF4ao.json")  # up to 9 persons a frame
    totals = sample["keypoint_score"].sum(axis=(1, 2))
    assert totals[0] > totals[1] > 0


def test_class_names_file(real, kinetics_dir, tmp_path):
    folder, labels = real
    label_map = kinetics_dir / "lists" / "label_map_k400.txt"
    content = kinetics_annotations({"val": (folder, labels)}, ConversionReport(), class_names=label_map)
    names = label_map.read_text().splitlines()
    assert len(names) == 400 and content["meta"]["classes"] == names
    for sample in content["annotations"]:
        assert names[sample["label"]] == REAL_LABELS[sample["frame_dir"]][1]

    wrong = tmp_path / "wrong.txt"
    wrong.write_text("\n".join(["abseiling!"] + names[1:]) + "\n")
    with pytest.raises(DataError, match=r"line 1 is 'abseiling!' but .* calls class 0 'abseiling'"):
        kinetics_annotations({"val": (folder, labels)}, ConversionReport(), class_names=wrong)
    short = tmp_path / "short.txt"
    short.write_text("\n".join(names[:100]))
    with pytest.raises(DataError, match=r"100 class names, but the label json uses label_index 208"):
        kinetics_annotations({"val": (folder, labels)}, ConversionReport(), class_names=short)
    gap = tmp_path / "gap.txt"
    gap.write_text("\n".join(names[:3] + [""] + names[4:]))
    with pytest.raises(DataError, match=r"line 4 is empty"):
        kinetics_annotations({"val": (folder, labels)}, ConversionReport(), class_names=gap)


# --- synthetic files -------------------------------------------------------------------------

def _person(level: float, joints: int = 18) -> dict:
    return {"pose": [round(0.1 + 0.01 * j, 3) for j in range(2 * joints)], "score": [level] * joints}


def _video(label_index: int = 3, frames: int = 3) -> dict:
    return {"data": [{"frame_index": t + 1, "skeleton": [_person(0.5)]} for t in range(frames)],
            "label": "x", "label_index": label_index}


def _write(path: Path, content) -> Path:
    path.write_bytes(content if isinstance(content, bytes) else json.dumps(content).encode())
    return path


def test_frames_slots_and_padding(tmp_path):
    content = {"data": [
        {"frame_index": 2, "skeleton": [_person(0.5), _person(0.9)]},
        {"frame_index": 5, "skeleton": [_person(0.5)]},
        {"frame_index": 3, "skeleton": []},
    ], "label_index": 4}
    sample = read_kinetics_json(_write(tmp_path / "v.json", content), max_persons=3)
    assert sample["total_frames"] == 5 and sample["label"] == 4
    totals = sample["keypoint_score"].sum(axis=(1, 2))
    np.testing.assert_allclose(totals, [0.5 * 18 * 2, 0.9 * 18, 0], rtol=1e-6)  # slot 0: two frames beat one
    assert sample["keypoint_score"][0, :, 0].tolist() == pytest.approx([0, 0.5, 0, 0, 0.5])
    assert sample["keypoint_score"][1, :, 0].tolist() == pytest.approx([0, 0.9, 0, 0, 0])
    assert not sample["keypoint"][:, [0, 2, 3]].any() and not sample["keypoint"][2].any()


def _frame0_person(**changes) -> dict:
    video = _video()
    video["data"][0]["skeleton"][0].update(changes)
    return video


def _frame0_without(key: str) -> dict:
    video = _video()
    del video["data"][0]["skeleton"][0][key]
    return video


BAD = {
    "binary": (b"\x89PNG\r\n\x1a\n\x00\x00", r"not a JSON file \(binary data"),
    "truncated": (json.dumps(_video()).encode()[:-40], r"truncated JSON"),
    "not an object": ([1, 2], r"expected a JSON object, got a list"),
    "missing data": ({"label": "x", "label_index": 1}, r"missing key 'data'"),
    "data not a list": ({"data": 7, "label_index": 1}, r"'data' must be a list of frames, got a number"),
    "zero frames": ({"data": [], "label_index": 1}, r"zero frames \('data' is empty\)"),
    "nobody in any frame": ({"data": [{"frame_index": 1, "skeleton": []}] * 1, "label_index": 1}, r"no person in any of the 1 frames"),
    "frame missing keys": ({"data": [{}], "label_index": 1}, r"data\[0\] is missing key\(s\) 'frame_index', 'skeleton'"),
    "person missing score": (_frame0_without("score"), r"skeleton\[0\] is missing key\(s\) 'score'"),
    "score is null": (_frame0_person(score=None), r"'score' must be a list of numbers, got null"),
    "frame_index zero": ({"data": [{"frame_index": 0, "skeleton": []}], "label_index": 1}, r"'frame_index' must be an integer from 1"),
    "frame_index repeated": ({"data": [{"frame_index": 1, "skeleton": []}] * 2, "label_index": 1}, r"frame_index 1 appears more than once"),
    "25 joints": (_frame0_person(**_person(0.5, joints=25)), r"skeleton\[0\]: 25 joints, but layout 'openpose18' has 18"),
    "pose too short": (_frame0_person(pose=[0.1] * 35), r"'pose' has 35 values, expected 36"),
    "score too long": (_frame0_person(score=[0.1] * 19), r"'score' has 19 values, expected 18"),
    "string coordinate": (_frame0_person(pose=[0.1] * 35 + ["a"]), r"data\[0\] \(frame_index 1\) skeleton\[0\]: non-numeric value 'a' in 'pose'"),
    "NaN coordinate": (_frame0_person(pose=[0.1] * 35 + [float("nan")]), r"skeleton\[0\]: NaN or infinite value in 'pose'"),
    "NaN score": (_frame0_person(score=[float("inf")] * 18), r"NaN or infinite value in 'score'"),
    "bad label_index": (_video(label_index=-1), r"'label_index' must be a non-negative integer, got -1"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_video_is_one_clear_error(tmp_path, case):
    content, message = BAD[case]
    path = _write(tmp_path / "video.json", content)
    with pytest.raises(DataError, match=message) as caught:
        read_kinetics_json(path)
    assert caught.value.source == str(path) and "\n" not in str(caught.value)


def test_label_from_the_label_json_must_agree(tmp_path):
    path = _write(tmp_path / "v.json", _video(label_index=3))
    assert read_kinetics_json(path, label=3)["label"] == 3
    with pytest.raises(DataError, match=r"'label_index' is 3 in the file but 5 in the label json"):
        read_kinetics_json(path, label=5)
    unlabelled = _write(tmp_path / "u.json", {"data": _video()["data"]})
    assert read_kinetics_json(unlabelled, label=2)["label"] == 2
    with pytest.raises(DataError, match=r"missing key 'label_index'"):
        read_kinetics_json(unlabelled)


def _labels(**entries) -> dict:
    return {video: {"has_skeleton": has, "label": f"name {index}", "label_index": index}
            for video, (has, index) in entries.items()}


def test_folder_skips_and_reports(tmp_path):
    videos = tmp_path / "videos"
    videos.mkdir()
    for name, index in [("good", 3), ("mismatch", 3), ("nolabel", 3), ("empty", 1)]:
        _write(videos / f"{name}.json", _video(label_index=index))
    _write(videos / "bad.json", b"{")
    labels = _write(videos / "labels.json", _labels(good=(True, 3), mismatch=(True, 4), empty=(False, 1), bad=(True, 2)))
    report = ConversionReport()
    content = kinetics_annotations({"train": (videos, labels)}, report, max_persons=1, workers=2)
    assert content["split"] == {"train": ["good"]}
    assert content["annotations"][0]["keypoint"].shape == (1, 3, 18, 2)
    assert content["meta"]["classes"] == ["class 0", "name 1", "name 2", "name 3", "name 4"]
    assert report.converted == 1
    assert sorted((Path(p).name, r) for p, r in report.skipped) == [
        ("empty.json", "has_skeleton is false in the label json"), ("nolabel.json", "no entry in the label json")]
    failed = {Path(p).name: r for p, r in report.failed}
    assert set(failed) == {"bad.json", "mismatch.json"}
    assert "'label_index' is 3 in the file but 4 in the label json" in failed["mismatch.json"]


def test_train_and_val_together(tmp_path):
    parts = {}
    for split, index in [("train", 0), ("val", 1)]:
        folder = tmp_path / split
        folder.mkdir()
        _write(folder / f"{split}_video.json", _video(label_index=index))
        parts[split] = (folder, _write(tmp_path / f"{split}_labels.json", _labels(**{f"{split}_video": (True, index)})))
    content = kinetics_annotations(parts, ConversionReport())
    assert content["split"] == {"train": ["train_video"], "val": ["val_video"]}
    assert content["meta"]["classes"] == ["name 0", "name 1"]


@pytest.mark.parametrize("labels, message", [
    (b"\x00\x01binary", r"not a JSON file"),
    (b'{"a": {"has_skeleton": true', r"truncated JSON"),
    ([["video", 1]], r"expected a JSON object, got a list"),
    ({"v": 3}, r"entry 'v' must be an object, got a number"),
    (_video(), r"this is a video file \(it has 'data'\), not a label json"),
    ({"v": {"has_skeleton": True, "label": "x"}}, r"entry 'v' is missing key\(s\) 'label_index'"),
    ({"v": {"has_skeleton": "yes", "label": "x", "label_index": 0}}, r"'has_skeleton' must be true or false"),
    ({"v": {"has_skeleton": True, "label": "x", "label_index": 0},
      "w": {"has_skeleton": True, "label": "y", "label_index": 0}}, r"label_index 0 is called both 'x' and 'y'"),
])
def test_bad_label_json_stops_with_one_error(tmp_path, labels, message):
    _write(tmp_path / "v.json", _video())
    label_path = _write(tmp_path / "labels.json", labels)
    with pytest.raises(DataError, match=message) as caught:
        kinetics_annotations({"val": (tmp_path, label_path)}, ConversionReport())
    assert caught.value.source == str(label_path) and "\n" not in str(caught.value)


def test_bad_max_persons(tmp_path):
    with pytest.raises(CocodiffError, match="max_persons must be a positive integer"):
        read_kinetics_json(_write(tmp_path / "v.json", _video()), max_persons=0)


# --- the command line ------------------------------------------------------------------------

def test_prepare_command_end_to_end(real, tmp_path, capsys):
    folder, labels = real
    out = tmp_path / "kinetics.pkl"
    argv = ["kinetics", "--val-dir", str(folder), "--val-labels", str(labels), "--out", str(out), "--max-persons", "3"]
    assert prepare.main(argv) == 0
    assert "converted 4, skipped 0, failed 0" in capsys.readouterr().err
    content = load_annotations(out)
    assert content["split"] == {"val": VIDEOS} and content["meta"]["layout"] == "openpose18"
    assert all(sample["keypoint"].shape[0] == 3 for sample in content["annotations"])
    assert sorted(sample["label"] for sample in content["annotations"]) == [0, 58, 207, 208]
