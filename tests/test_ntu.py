"""The NTU RGB+D reader: parsing, actor selection, benchmarks and splits, bad files, the CLI."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cocodiff.data.annotations import load_annotations
from cocodiff.data.convert import ConversionReport
from cocodiff.data.layouts import NTU25
from cocodiff.data.prepare import main as prepare_main
from cocodiff.data.readers.ntu import (
    NO_BODY, ntu_annotations, parse_ntu_name, read_missing_list, read_ntu_skeleton,
)
from cocodiff.data.readers.ntu_classes import NTU60_CLASSES, NTU120_CLASSES
from cocodiff.data.sample import validate_sample
from cocodiff.errors import CocodiffError, DataError

REPO = Path(__file__).resolve().parents[1]
A001 = "S001C001P001R001A001"
A058 = "S001C003P008R002A058"


# --- synthetic files -------------------------------------------------------------------------------

def _person(frames: int, shift: float = 0.0, move: float = 0.05, wide: bool = False) -> np.ndarray:
    """(frames, 25, 3) joints of a body-shaped blob (tall, or wide when `wide`) swaying by `move`."""
    across = np.linspace(-0.2, 0.2, 25)
    up = np.linspace(-0.8, 0.8, 25)[::-1]
    x, y = (up, across) if wide else (across, up)
    pose = np.stack([x + shift, y, np.full(25, 3.0)], axis=-1)
    sway = move * np.sin(np.arange(frames) / 3.0)
    return pose[None] + sway[:, None, None] * np.array([1.0, 0.3, 0.0])


def _skeleton_text(frames: list[list[tuple[str, np.ndarray]]]) -> str:
    """A .skeleton file: per frame, a list of (tracking ID, (25, 3) joints)."""
    lines = [str(len(frames))]
    for bodies in frames:
        lines.append(str(len(bodies)))
        for body_id, joints in bodies:
            lines.append(f"{body_id} 0 1 1 1 1 0 0.01 0.02 2")
            lines.append("25")
            lines += [f"{x:.7g} {y:.7g} {z:.7g} 250 180 1000 500 0 0 0 0 2" for x, y, z in joints]
    return "\r\n".join(lines) + "\r\n"


def _tracks(num_frames: int, *tracks: tuple[str, int, np.ndarray]) -> list:
    """Frames from tracks of (ID, first frame, joints per frame)."""
    frames: list[list] = [[] for _ in range(num_frames)]
    for body_id, start, joints in tracks:
        for offset, pose in enumerate(joints):
            frames[start + offset].append((body_id, pose))
    return frames


def _write(folder: Path, name: str, text: str | bytes) -> Path:
    path = folder / name
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


# --- one file: real data ---------------------------------------------------------------------------

def test_golden_first_body_matches_reference_parse(ntu_dir):
    golden = np.load(ntu_dir / "skeleton" / f"{A001}.body0_xyz.npy")
    sample = read_ntu_skeleton(ntu_dir / "skeleton" / f"{A001}.skeleton")
    assert sample["keypoint"].dtype == np.float32 and sample["keypoint"].shape == (2, 103, 25, 3)
    np.testing.assert_allclose(sample["keypoint"][0], golden, atol=1e-6)
    assert not sample["keypoint"][1].any()
    assert (sample["label"], sample["frame_dir"], sample["total_frames"]) == (0, A001, 103)
    assert set(sample) == {"keypoint", "label", "frame_dir", "total_frames"}
    validate_sample(sample, "golden", NTU25)


def test_two_person_action_fills_both_slots(ntu_dir):
    sample = read_ntu_skeleton(ntu_dir / "skeleton" / f"{A058}.skeleton")
    assert sample["label"] == 57 and sample["keypoint"].shape == (2, 70, 25, 3)
    present = np.abs(sample["keypoint"]).sum(axis=(2, 3)) > 0
    assert present.all()  # both people in every frame
    assert not np.allclose(sample["keypoint"][0], sample["keypoint"][1])


def test_class_names_match_official_label_maps(ntu_dir):
    for classes, file in ((NTU60_CLASSES, "label_map_ntu60.txt"), (NTU120_CLASSES, "label_map_ntu120.txt")):
        text = (ntu_dir / "lists" / file).read_text(encoding="utf-8").replace("\u2019", "'")
        assert list(classes) == [line.strip() for line in text.splitlines() if line.strip()]


# --- benchmarks and splits on the real samples ----------------------------------------------------

# Real files copied under other names: (source action, new name).
RENAMED = {
    "S018C002P045R001A061": A001,  # NTU-120 only (setup and action); subject 45 trains in ntu120
    "S017C002P007R001A120": "S001C001P001R001A011",  # NTU-120 action in an NTU-60 setup
    "S018C003P007R001A010": "S002C001P003R001A003",  # NTU-60 action in an NTU-120 setup
}


@pytest.fixture(scope="module")
def samples_dir(ntu_dir, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("ntu_samples")
    for path in (ntu_dir / "skeleton").glob("*.skeleton"):
        shutil.copy(path, folder / path.name)
    for new, old in RENAMED.items():
        shutil.copy(ntu_dir / "skeleton" / f"{old}.skeleton", folder / f"{new}.skeleton")
    return folder


def test_ntu60_benchmark_skips_ntu120_samples_and_splits(samples_dir):
    report = ConversionReport()
    content = ntu_annotations(samples_dir, "ntu60", report)
    names = [sample["frame_dir"] for sample in content["annotations"]]
    assert names == ["S001C001P001R001A001", "S001C001P001R001A011", "S001C003P008R002A058", "S002C001P003R001A003"]
    assert sorted((Path(p).stem, reason) for p, reason in report.skipped) == [
        ("S017C002P007R001A120", "not in ntu60: action above A060"),
        ("S018C002P045R001A061", "not in ntu60: action above A060"),
        ("S018C003P007R001A010", "not in ntu60: setup above S017"),
    ]
    assert report.failed == [] and report.converted == 4
    assert content["split"] == {
        "xsub_train": names[:3], "xsub_val": names[3:],  # performers 1 and 8 train, 3 validates
        "xview_train": [names[2]], "xview_val": [names[0], names[1], names[3]],  # camera 3 vs 1
    }
    assert content["meta"] == {"layout": "ntu25", "classes": list(NTU60_CLASSES), "dataset": "ntu60",
                               "source": "cocodiff.data.prepare ntu", "fps": 30.0, "frame": {"x": "left", "y": "up", "z": "away", "units": "metres", "origin": "camera"},
                               "person_order": "motion"}
    assert [sample["label"] for sample in content["annotations"]] == [0, 10, 57, 2]


def test_ntu120_benchmark_keeps_everything_and_splits(samples_dir):
    report = ConversionReport()
    content = ntu_annotations(samples_dir, "ntu120", report)
    split = content["split"]
    assert sorted(split) == ["xset_train", "xset_val", "xsub_train", "xsub_val"]
    assert report.skipped == [] and report.converted == 7
    assert split["xsub_train"] == [A001, "S001C001P001R001A011", A058, "S018C002P045R001A061"]
    assert split["xsub_val"] == ["S002C001P003R001A003", "S017C002P007R001A120", "S018C003P007R001A010"]
    assert split["xset_train"] == ["S002C001P003R001A003", "S018C002P045R001A061", "S018C003P007R001A010"]
    assert split["xset_val"] == [A001, "S001C001P001R001A011", A058, "S017C002P007R001A120"]
    labels = {sample["frame_dir"]: sample["label"] for sample in content["annotations"]}
    assert labels["S017C002P007R001A120"] == 119 and labels["S018C002P045R001A061"] == 60
    assert len(content["meta"]["classes"]) == 120 and content["meta"]["dataset"] == "ntu120"


def test_official_missing_list_skips_listed_samples(ntu_dir, tmp_path):
    listed = "S001C002P005R002A008"  # the first name in both official lists
    shutil.copy(ntu_dir / "skeleton" / f"{A001}.skeleton", tmp_path / f"{A001}.skeleton")
    shutil.copy(ntu_dir / "skeleton" / f"{A001}.skeleton", tmp_path / f"{listed}.skeleton")
    for list_file, count in (("NTU_RGBD_samples_with_missing_skeletons.txt", 302),
                             ("NTU_RGBD120_samples_with_missing_skeletons.txt", 535)):
        names = read_missing_list(ntu_dir / "lists" / list_file)
        assert len(names) == count and listed in names
        report = ConversionReport()
        content = ntu_annotations(tmp_path, "ntu60", report, missing_list=ntu_dir / "lists" / list_file)
        assert [sample["frame_dir"] for sample in content["annotations"]] == [A001]
        assert report.skipped == [(str(tmp_path / f"{listed}.skeleton"), "listed as a sample with missing skeletons")]


def test_missing_list_without_names_or_absent_is_an_error(tmp_path):
    _write(tmp_path, "A001.skeleton", "1\r\n0\r\n")
    prose = _write(tmp_path, "list.txt", "302 of the captured samples in NTU RGB+D have missing skeletons.\n")
    for bad in (prose, tmp_path / "absent.txt"):
        with pytest.raises(DataError, match=re.escape(str(bad))):
            ntu_annotations(tmp_path, "ntu60", ConversionReport(), missing_list=bad)


def test_parallel_workers_give_the_same_result(samples_dir):
    serial = ntu_annotations(samples_dir, "ntu120", ConversionReport())
    parallel = ntu_annotations(samples_dir, "ntu120", ConversionReport(), workers=2)
    assert serial["split"] == parallel["split"]
    for one, two in zip(serial["annotations"], parallel["annotations"]):
        assert one["frame_dir"] == two["frame_dir"]
        np.testing.assert_array_equal(one["keypoint"], two["keypoint"])


# --- actor selection (synthetic) -------------------------------------------------------------------

def _read(tmp_path: Path, frames: list, name: str = A001) -> np.ndarray:
    return read_ntu_skeleton(_write(tmp_path, f"{name}.skeleton", _skeleton_text(frames)))["keypoint"]


def test_short_and_wide_bodies_are_noise(tmp_path):
    actor = _person(40)
    flicker = _person(11, shift=1.0, move=0.5)  # 11 frames: too short however much it moves
    lamp = _person(40, shift=-1.0, move=0.5, wide=True)  # wider than tall: not a person
    keypoint = _read(tmp_path, _tracks(40, ("1", 0, actor), ("2", 10, flicker), ("3", 0, lamp)))
    np.testing.assert_allclose(keypoint[0], actor, atol=1e-6)
    assert not keypoint[1].any()


def test_bodies_rank_by_motion_and_the_least_active_overlapping_one_is_dropped(tmp_path):
    calm, busy, middle = _person(30, move=0.01), _person(30, shift=1.0, move=0.2), _person(30, shift=2.0, move=0.1)
    keypoint = _read(tmp_path, _tracks(30, ("calm", 0, calm), ("busy", 0, busy), ("middle", 0, middle)))
    np.testing.assert_allclose(keypoint[0], busy, atol=1e-6)
    np.testing.assert_allclose(keypoint[1], middle, atol=1e-6)


def test_ids_tracked_in_turn_share_a_slot_and_empty_frames_go(tmp_path):
    first, second = _person(20, move=0.2), _person(15, shift=0.5, move=0.1)
    frames = _tracks(40, ("a", 0, first), ("b", 25, second))  # frames 20-24 have no body
    keypoint = _read(tmp_path, frames)
    assert keypoint.shape == (2, 35, 25, 3)
    np.testing.assert_allclose(keypoint[0], np.concatenate([first, second]), atol=1e-6)
    assert not keypoint[1].any()


def test_a_lone_noisy_body_is_kept_rather_than_failing(tmp_path):
    keypoint = _read(tmp_path, _tracks(12, ("only", 2, _person(5, wide=True))))
    assert keypoint.shape == (2, 5, 25, 3) and keypoint[0].any() and not keypoint[1].any()


def test_no_body_anywhere_fails_alone_and_is_skipped_in_a_dataset(tmp_path):
    empty = _write(tmp_path, "S001C001P002R001A002.skeleton", "3\r\n0\r\n0\r\n0\r\n")
    with pytest.raises(DataError, match=NO_BODY):
        read_ntu_skeleton(empty)
    _write(tmp_path, f"{A001}.skeleton", _skeleton_text(_tracks(20, ("1", 0, _person(20)))))
    report = ConversionReport()
    content = ntu_annotations(tmp_path, "ntu60", report)
    assert len(content["annotations"]) == 1
    assert report.skipped == [(str(empty), NO_BODY)] and report.failed == []


# --- bad input ------------------------------------------------------------------------------------

GOOD = _skeleton_text(_tracks(3, ("1", 0, _person(3))))
GOOD_LINES = GOOD.split("\r\n")
BAD_FILES = {  # case: (content, what the error says)
    "truncated": ("\r\n".join(GOOD_LINES[:40]),
                  "truncated: the header announces 3 frames, the file ends in frame 2"),
    "frame count too high": (GOOD.replace("3", "5", 1),
                             "truncated: the header announces 5 frames, the file ends in frame 4"),
    "short body line": (GOOD.replace("1 0 1 1 1 1 0 0.01 0.02 2", "1 0 1 1 1 1 0 0.01", 1),
                        "line 3: a body line has 10 values, found 8"),
    "non-numeric count": (GOOD.replace("\r\n1\r\n", "\r\none\r\n", 1),
                          "line 2: expected the number of bodies in frame 1, got 'one'"),
    "non-numeric joint": (GOOD.replace(" 250 ", " abc ", 1), "line 5: non-numeric value 'abc'"),
    "short joint line": (GOOD.replace(" 0 0 0 0 2", " 0 2", 1), "line 5: a joint line has 12 values, found 9"),
    "joint count": (GOOD.replace("\r\n25\r\n", "\r\n20\r\n", 1), "line 4: 20 joints per body, expected 25"),
    "extra data": (GOOD + "1\r\n", "more data after the 3 frames"),
    "zero frames": ("0\r\n", "zero frames"),
    "empty": ("", "empty file"),
    "nan": (GOOD.replace("\r\n-0.2 ", "\r\nnan ", 1), "NaN or infinite coordinates in frame 1"),
    "json": ('{"frames": []}',
             "line 1: expected the number of frames, got '{\"frames\": []}' (is this an NTU .skeleton text file?)"),
    "binary": (b"\x89PNG\r\n\x1a\n\x00\x00", "binary content"),
    "latin-1": ("103\r\n\xe9t\xe9\r\n".encode("latin-1"), "not ASCII text"),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_file_is_one_clear_error_naming_it(tmp_path, case):
    content, expected = BAD_FILES[case]
    path = _write(tmp_path, f"{A001}.skeleton", content)
    with pytest.raises(DataError) as caught:
        read_ntu_skeleton(path)
    assert str(caught.value).startswith(f"{path}: ") and "\n" not in str(caught.value)
    assert expected in caught.value.problem


@pytest.mark.parametrize("name, expected", [
    ("A001.skeleton", "does not follow the NTU pattern"),
    ("S001C001P001R001A001_extra.skeleton", "does not follow the NTU pattern"),
    ("S001C001P001R001A121.skeleton", "outside A001-A120"),
    ("S001C004P001R001A001.skeleton", "outside C001-C003"),
    ("S001C001P001R001A001.json", "not a .skeleton file"),
])
def test_bad_file_name(tmp_path, name, expected):
    path = _write(tmp_path, name, GOOD)
    with pytest.raises(DataError, match=expected):
        read_ntu_skeleton(path)


def test_bad_files_are_reported_and_the_rest_converts(tmp_path):
    _write(tmp_path, f"{A001}.skeleton", GOOD)
    _write(tmp_path, "S001C001P001R001A002.skeleton", BAD_FILES["truncated"][0])
    _write(tmp_path, "clip.skeleton", GOOD)
    report = ConversionReport()
    content = ntu_annotations(tmp_path, "ntu120", report)
    assert [sample["frame_dir"] for sample in content["annotations"]] == [A001]
    assert sorted(Path(path).name for path, _ in report.failed) == ["S001C001P001R001A002.skeleton", "clip.skeleton"]


def test_parse_name_and_unknown_benchmark(tmp_path):
    name = parse_ntu_name("S012C003P045R002A118.skeleton")
    assert (name.setup, name.camera, name.subject, name.replication, name.label) == (12, 3, 45, 2, 117)
    with pytest.raises(CocodiffError, match="unknown NTU benchmark"):
        ntu_annotations(tmp_path, "ntu90", ConversionReport())


# --- the command line ------------------------------------------------------------------------------

def test_prepare_cli_end_to_end(samples_dir, tmp_path, capsys):
    out = tmp_path / "ntu60.pkl"
    assert prepare_main(["ntu", str(samples_dir), "--benchmark", "ntu60", "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert "converted 4, skipped 3, failed 0" in captured.err
    assert "split xview_train: 1" in captured.out and f"wrote {out}" in captured.out
    content = load_annotations(out)
    assert len(content["annotations"]) == 4 and content["meta"]["layout"] == "ntu25"


def test_prepare_cli_missing_folder_exits_2_with_one_line(tmp_path):
    missing = tmp_path / "nowhere"
    result = subprocess.run(
        [sys.executable, "-m", "cocodiff.data.prepare", "ntu", str(missing), "--out", str(tmp_path / "x.pkl")],
        capture_output=True, text=True, cwd=REPO, timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.strip() == f"error: {missing}: no such folder"
    assert not (tmp_path / "x.pkl").exists()
