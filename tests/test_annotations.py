import os
import pickle
import subprocess
import sys

import numpy as np
import pytest

from cocodiff.atomic import atomic_open
from cocodiff.data.annotations import file_layout, load_annotations, save_annotations, split_samples
from cocodiff.data.layouts import get_layout
from cocodiff.data.safe_pickle import safe_loads
from cocodiff.data.sample import validate_sample
from cocodiff.errors import CocodiffError, DataError


def make_sample(name="clip0", persons=2, frames=8, joints=25, channels=3, label=3):
    rng = np.random.default_rng(0)
    return {
        "frame_dir": name,
        "label": label,
        "keypoint": rng.normal(size=(persons, frames, joints, channels)).astype(np.float32),
        "total_frames": frames,
    }


def make_file(tmp_path, samples=None, meta=None):
    samples = samples or [make_sample("a"), make_sample("b", label=1)]
    content = {"split": {"train": ["a"], "val": ["b"]}, "annotations": samples}
    if meta is not None:
        content["meta"] = meta
    path = tmp_path / "data.pkl"
    save_annotations(content, path)
    return path


def test_roundtrip_and_split(tmp_path):
    path = make_file(tmp_path, meta={"layout": "ntu25", "classes": [f"c{i}" for i in range(5)]})
    content = load_annotations(path)
    layout = file_layout(content, path)
    train = split_samples(content, "train", path, layout)
    assert [s["frame_dir"] for s in train] == ["a"]
    assert train[0]["keypoint"].dtype == np.float32 and train[0]["keypoint"].shape == (2, 8, 25, 3)


def test_pyskl_file_without_meta_and_protocol_2(tmp_path):
    """Files made by PYSKL / MMAction2 (no meta, older pickle protocols) load too."""
    content = {"split": {"xsub_train": ["a"]}, "annotations": [make_sample("a", persons=1, channels=2, joints=17)]}
    content["annotations"][0]["keypoint_score"] = np.ones((1, 8, 17), dtype=np.float32)
    for protocol in (2, 4, 5):
        path = tmp_path / f"pyskl{protocol}.pkl"
        path.write_bytes(pickle.dumps(content, protocol=protocol))
        loaded = load_annotations(path)
        with pytest.raises(DataError, match="does not say its joint layout"):
            file_layout(loaded, path)
        samples = split_samples(loaded, "xsub_train", path, file_layout(loaded, path, override="coco17"))
        assert samples[0]["keypoint_score"].shape == (1, 8, 17)


class Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned > /dev/null",))


def test_restricted_unpickler_refuses_code(tmp_path):
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps({"split": {}, "annotations": [Evil()]}))
    with pytest.raises(DataError, match=r"evil.pkl: not a safe annotation pickle \(refused to load posix.system"):
        load_annotations(path)


def test_restricted_unpickler_refuses_other_classes():
    from collections import Counter

    with pytest.raises(DataError, match="refused to load collections.Counter"):
        safe_loads(pickle.dumps(Counter("ab")), "x.pkl")
    arrays = {"a": np.arange(3, dtype=np.int16), "b": np.float64(2.5), "c": {1, 2}}
    loaded = safe_loads(pickle.dumps(arrays), "ok.pkl")
    assert loaded["a"].dtype == np.int16 and loaded["b"] == 2.5 and loaded["c"] == {1, 2}


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "not an annotation pickle"),
        (b'{"json": true}', "not an annotation pickle"),
        (pickle.dumps([1, 2, 3]), "expected a dict"),
        (pickle.dumps({"annotations": []}), "missing key\\(s\\) 'split'"),
        (pickle.dumps({"split": {}, "annotations": {}}), "'annotations' must be a list"),
        (pickle.dumps({"split": {"a": []}, "annotations": [make_sample()]})[:-40], "not a readable pickle"),
    ],
)
def test_bad_files_are_one_clear_error(tmp_path, content, message):
    path = tmp_path / "bad.pkl"
    path.write_bytes(content)
    with pytest.raises(DataError, match=message) as info:
        load_annotations(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_missing_path_and_directory(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        load_annotations(tmp_path / "nope.pkl")
    with pytest.raises(DataError, match="is a directory"):
        load_annotations(tmp_path)


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda s: s.update(keypoint=np.zeros((2, 0, 25, 3))), "zero frames"),
        (lambda s: s["keypoint"].__setitem__((0, 3, 4, 1), np.nan), "NaN or infinite coordinates in 1 of 8 frames"),
        (lambda s: s.update(keypoint=np.zeros((1, 8, 20, 3))), "20 joints per frame, but layout 'ntu25' has 25"),
        (lambda s: s.update(keypoint=np.zeros((8, 25, 3))), "must have 4 axes"),
        (lambda s: s.update(keypoint=np.zeros((1, 8, 25, 4))), "2 or 3 coordinates"),
        (lambda s: s.update(keypoint=np.zeros((0, 8, 25, 3))), "no person"),
        (lambda s: s.update(label=-1), "non-negative integer"),
        (lambda s: s.update(label="drink"), "non-negative integer"),
        (lambda s: s.update(keypoint_score=np.ones((2, 8, 24))), "'keypoint_score' shape"),
        (lambda s: s.pop("keypoint"), "no 'keypoint'"),
        (lambda s: s.update(keypoint="abc"), "not a numeric array"),
    ],
)
def test_bad_samples_name_file_and_sample(change, message):
    sample = make_sample("S001C001P001R001A001")
    change(sample)
    with pytest.raises(DataError, match=message) as info:
        validate_sample(sample, "train.pkl", get_layout("ntu25"))
    assert str(info.value).startswith("train.pkl [S001C001P001R001A001]: ")


def test_validate_does_not_modify_input():
    sample = make_sample()
    sample["keypoint"] = sample["keypoint"].astype(np.float64)
    checked = validate_sample(sample, "x")
    assert checked["keypoint"].dtype == np.float32 and sample["keypoint"].dtype == np.float64


def test_unknown_split_and_dangling_names(tmp_path):
    path = make_file(tmp_path)
    content = load_annotations(path)
    with pytest.raises(CocodiffError, match="no split 'test'; the file has train, val"):
        split_samples(content, "test", path)
    content["split"]["train"].append("ghost")
    with pytest.raises(DataError, match="1 sample\\(s\\) with no annotation, e.g. 'ghost'"):
        split_samples(content, "train", path)


def test_atomic_write_keeps_old_file_on_failure(tmp_path):
    path = tmp_path / "out.pkl"
    path.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with atomic_open(path) as handle:
            handle.write(b"half of the new")
            raise RuntimeError("crash while writing")
    assert path.read_bytes() == b"old"
    assert list(tmp_path.iterdir()) == [path], "no temporary file left behind"


def test_prepare_cli_errors_are_one_line(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "cocodiff.data.prepare", "ucla", str(tmp_path / "missing"), "--out", str(tmp_path / "o.pkl")],
        capture_output=True, text=True,
    )
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "missing: no such folder" in result.stderr
    assert not (tmp_path / "o.pkl").exists()
