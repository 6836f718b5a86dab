"""`python -m serve.replay`: a recording through the live recogniser, with a .pt and an .onnx."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def replay(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "serve.replay", *map(str, args)], capture_output=True, text=True,
                          cwd=REPO, timeout=300)


def labels(out: str) -> tuple[str, str]:
    """(the live label after the whole clip, the offline evaluation's label)."""
    end = re.search(r"^end \([\d.]+s\): #\d+ (.+?) [\d.]+$", out, re.M)
    offline = re.search(r"^offline evaluation of the whole clip: (.+?) [\d.]+$", out, re.M)
    assert end and offline, out
    return end.group(1), offline.group(1)


@pytest.mark.parametrize("model", ["checkpoint", "onnx"])
def test_replay_a_real_recording_of_another_layout(model, tiny_model, ucla_dir):
    path = tiny_model[0] if model == "checkpoint" else tiny_model[1]
    result = replay(path, "--data", ucla_dir / "a06_s01_e00_v01.json", "--smoothing", "1", "--seconds", "30",
                    "--threshold", "0", "--threads", "1")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "retargeted kinect20 -> ntu25" in out and "recorded action: stand up" in out
    assert re.search(r"^\s+[\d.]+s  #0 ", out, re.M)  # a timeline of predictions
    live, offline = labels(out)
    assert live == offline


@pytest.mark.slow
def test_replay_a_clip_of_the_embedded_dataset_in_real_time(tiny_model):
    result = replay(tiny_model[1], "--data", "embedded", "--split", "val", "--index", "5", "--realtime",
                    "--speed", "20", "--threads", "1")
    assert result.returncode == 0, result.stderr
    assert "embedded dataset [val 5" in result.stdout and "warming up" not in result.stdout.splitlines()[-3]
    assert "recorded action: wave right hand" in result.stdout  # val clips 0-15 are class 0


@pytest.fixture(scope="module")
def pyskl_file(tmp_path_factory):
    """An annotation file as PYSKL writes them: no meta, so no layout and no frame rate."""
    from cocodiff.data.annotations import save_annotations
    from cocodiff.data.embedded import EmbeddedConfig, embedded_annotations

    content = embedded_annotations(EmbeddedConfig(train_per_class=1, test_per_class=1))
    path = tmp_path_factory.mktemp("pyskl") / "clips.pkl"
    save_annotations({"split": content["split"], "annotations": content["annotations"]}, path)
    return path


def test_replay_a_file_without_meta_given_its_layout_and_rate(tiny_model, pyskl_file):
    result = replay(tiny_model[1], "--data", pyskl_file, "--split", "val", "--index", "2", "--layout", "ntu25",
                    "--fps", "30", "--threads", "1")
    assert result.returncode == 0, result.stderr
    assert "clips.pkl [val 2" in result.stdout and "frames at 30 fps" in result.stdout


@pytest.mark.parametrize("case, message", [
    ("model of another kind", "not a model file cocodiff can run"),
    ("missing recording", "no such file"),
    ("split not named", "name the split"),
    ("index out of range", "no clip 999"),
    ("no layout", "does not say its joint layout"),
    ("no frame rate", "does not record its frame rate (meta 'fps'): pass it (--fps 30)"),
])
def test_replay_bad_input_is_one_line(case, message, tiny_model, pyskl_file, tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("not a model\n")
    args = {
        "model of another kind": [notes, "--data", "embedded", "--split", "val"],
        "missing recording": [tiny_model[1], "--data", tmp_path / "nope.skeleton"],
        "split not named": [tiny_model[1], "--data", "embedded"],
        "index out of range": [tiny_model[1], "--data", "embedded", "--split", "val", "--index", "999"],
        "no layout": [tiny_model[1], "--data", pyskl_file, "--split", "val"],
        "no frame rate": [tiny_model[1], "--data", pyskl_file, "--split", "val", "--layout", "ntu25"],
    }[case]
    result = replay(*args)
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and message in result.stderr, result.stderr
